package e2e

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
)

// Tiers and regions through the front door (docs/tiers-regions.md).

// withTargetFields adds fields to the main chain's target of each provider
// ("tier: 1, weight: 3"), and with providerFields to each provider.
func withTargetFields(targets, providers map[string]string, extra func(string) string) func(string) string {
	return func(cfg string) string {
		for n, f := range targets {
			old := "{provider: " + n + ", model: " + targetModel(n) + "}"
			cfg = strings.Replace(cfg, old, strings.TrimSuffix(old, "}")+", "+f+"}", 1)
		}
		for n, f := range providers {
			cfg = strings.Replace(cfg, "{name: "+n+", ", "{name: "+n+", "+f+", ", 1)
		}
		if extra != nil {
			cfg = extra(cfg)
		}
		return cfg
	}
}

// withRouting adds fields to the routing section.
func withRouting(fields string) func(string) string {
	return func(cfg string) string { return strings.Replace(cfg, "routing: {", "routing: {"+fields+", ", 1) }
}

// metricsText is the server's /metrics page.
func (s *stack) metricsText() string {
	s.t.Helper()
	var b strings.Builder
	if err := s.proc.WriteMetrics(&b); err != nil {
		s.t.Fatal(err)
	}
	return b.String()
}

// TestTiers_WeightSplitOver2000Requests verifies a tier weighted 3:1
// between primary and secondary leads 2000 requests on Envoy 1.40 within
// the binomial bound of 3:1, every request answered by the target that led
// it (tertiary, the next tier, never), the split counted in
// llm_failover_target_selected_total and the tier shown in the trace. The
// older topologies, which follow the same plans, and every topology under
// the race detector (several times slower per request: the e2e package
// must finish inside go test's 10 minutes on a loaded 2-core machine) take
// 400 requests, with the bound for 400.
func TestTiers_WeightSplitOver2000Requests(t *testing.T) {
	const workers = 8
	forVersions(t, func(t *testing.T, v string) {
		n := 2000
		if v != config.EnvoyV140 || raceEnabled {
			n = 400
		}
		s := newStack(t, v, stackOpts{slowMachine: true, edit: withTargetFields(
			map[string]string{"primary": "tier: 1, weight: 3", "secondary": "tier: 1, weight: 1", "tertiary": "tier: 2"}, nil, nil)})
		var mu sync.Mutex
		served := map[string]int{}
		traces := map[string]string{}
		var wg sync.WaitGroup
		next := make(chan struct{}, n)
		for range n {
			next <- struct{}{}
		}
		close(next)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					r := s.chat()
					mu.Lock()
					if r.err != nil {
						served["error: "+r.err.Error()]++
					} else {
						p := r.header("x-llm-failover-provider")
						served[p]++
						traces[p] = r.header("x-llm-failover-trace")
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		p := 0.75
		bound := 5 * math.Sqrt(float64(n)*p*(1-p)) // 5 standard deviations: a correct split exceeds it with probability < 1e-6
		if d := math.Abs(float64(served["primary"]) - p*float64(n)); d > bound || served["primary"]+served["secondary"] != n {
			t.Fatalf("served %v; want primary %.0f ± %.0f and secondary the rest of %d", served, p*float64(n), bound, n)
		}
		if c := s.fakes["tertiary"].Count(); c != 0 {
			t.Errorf("tertiary (tier 2) got %d requests, want 0 while tier 1 is healthy", c)
		}
		for name, want := range map[string]string{"primary": "tier=1;weight=3/4", "secondary": "tier=1;weight=1/4"} {
			if tr := traces[name]; !strings.Contains(tr, "provider="+name) || !strings.Contains(tr, want) {
				t.Errorf("%s's trace %q lacks %q", name, tr, want)
			}
			if c := s.fakes[name].Count(); c != served[name] {
				t.Errorf("%s received %d requests, answered %d: want one attempt per request", name, c, served[name])
			}
		}
		s.waitSettled()
		text := s.metricsText()
		for _, name := range []string{"primary", "secondary"} {
			w := `llm_failover_target_selected_total{chain="main",model="` + targetModel(name) + `",provider="` + name + `"} ` + strconv.Itoa(served[name])
			if !strings.Contains(text, w) {
				t.Errorf("metrics: got no %s", w)
			}
		}
		t.Logf("realised split over %d requests: primary %d (%.1f%%), secondary %d; bound ±%.0f", n, served["primary"],
			100*float64(served["primary"])/float64(n), served["secondary"], bound)
	})
}

// regional puts primary and secondary in region a and tertiary in b.
var regional = map[string]string{"primary": "region: a", "secondary": "region: a", "tertiary": "region: b"}

// TestRegions_RegionalOutageRoutesAroundTheRegionAndBack verifies that
// with both targets of region a failing, the outage is detected once
// (one region_outage start, when the first of them opens: the default
// share 0.5), later requests go straight to region b in one attempt, the outage shows in the metrics, each half-open target of a
// is still probed first after its cooldown, and once they answer the
// outage ends and traffic comes back to a.
func TestRegions_RegionalOutageRoutesAroundTheRegionAndBack(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{slowMachine: true, edit: withTargetFields(nil, regional, nil)})
		s.needLocal("the injected clock and the audit file")
		s.setFaults("primary", fakellm.Fault{Status: 500, Times: -1})
		s.setFaults("secondary", fakellm.Fault{Status: 500, Times: -1})
		for i := range 3 { // both targets of a fail three times and open
			r := s.chat()
			s.mustOK(r, "tertiary")
			if got := r.header("x-llm-failover-attempt"); got != "3" {
				t.Fatalf("request %d: attempt %q, want 3 (a's two targets failed first)", i+1, got)
			}
			s.waitSettled()
		}
		start := s.clock.Now()
		{
			tr := s.chat()
			s.mustOK(tr, "tertiary")
			if got, trace := tr.header("x-llm-failover-attempt"), tr.header("x-llm-failover-trace"); got != "1" || !strings.HasSuffix(trace, ";region=b") {
				t.Errorf("during the outage: attempt %q, trace %q; want attempt 1 on region b", got, trace)
			}
		}
		if c := s.fakes["primary"].Count() + s.fakes["secondary"].Count(); c != 6 {
			t.Errorf("region a got %d requests, want 6 (none during the outage)", c)
		}
		if text := s.metricsText(); !strings.Contains(text, `llm_failover_region_outage{region="a"} 1`) || !strings.Contains(text, `llm_failover_region_outage{region="b"} 0`) {
			t.Errorf("metrics lack region a's outage:\n%s", grepLines(text, "region"))
		}
		// a recovers; after the cooldown each half-open target leads once, to be probed.
		s.fakes["primary"].ClearFaults()
		s.fakes["secondary"].ClearFaults()
		s.clock.Advance(31 * time.Second)
		end := s.clock.Now()
		for _, want := range []string{"primary", "secondary"} {
			r := s.chat()
			s.mustOK(r, want)
			s.waitSettled()
		}
		// Recovering, a takes back its traffic by its stage shares, then all of it.
		back := map[string]int{}
		for range 6 {
			s.clock.Advance(10 * time.Second)
			r := s.chat()
			if r.err != nil {
				t.Fatalf("after the outage: %v", r.err)
			}
			back[r.header("x-llm-failover-provider")]++
			s.waitSettled()
		}
		s.mustOK(s.chat(), "primary")
		if back["primary"]+back["secondary"] < 3 {
			t.Errorf("after the outage: served %v, want region a back for at least half the requests while recovering", back)
		}
		if text := s.metricsText(); !strings.Contains(text, `llm_failover_region_outage{region="a"} 0`) || !strings.Contains(text, `llm_failover_region_outages_total{region="a"} 1`) {
			t.Errorf("metrics after the outage:\n%s", grepLines(text, "region"))
		}
		var got []events.Event
		for _, e := range s.auditLines() {
			if e.Kind == events.KindRegionOutage {
				got = append(got, e)
			}
		}
		if len(got) != 2 || got[0].Region != "a" || got[0].Reason != "start" || !got[0].Time.Equal(start) || got[0].Detail != "1 of 2 targets open" ||
			got[1].Region != "a" || got[1].Reason != "end" || !got[1].Since.Equal(start) || !got[1].Time.Equal(end) {
			t.Errorf("region_outage events %+v; want a's start at %v (1 of 2 open: the share 0.5 is reached) and its end at %v", got, start, end)
		}
	})
}

// TestRegions_StrictResidencyRefusesRatherThanLeave verifies a chain with
// residency strict in region a never sends a request to region b: while
// a's targets fail the client gets their error, and once they are open a
// 503 region_unavailable with no attempt, and a policy_denial.
func TestRegions_StrictResidencyRefusesRatherThanLeave(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		strict := func(cfg string) string {
			cfg = strings.Replace(cfg, "  - name: main\n", "  - name: main\n    residency: strict\n    region: a\n", 1)
			return withRouting("all_open: reject")(cfg)
		}
		s := newStack(t, v, stackOpts{slowMachine: true, edit: withTargetFields(nil, regional, strict)})
		s.setFaults("primary", fakellm.Fault{Status: 500, Times: -1})
		s.setFaults("secondary", fakellm.Fault{Status: 500, Times: -1})
		for i := range 3 {
			r := s.chat()
			if r.apiErr == nil || r.apiErr.StatusCode != 500 || r.apiErr.Code != "all_targets_failed" {
				t.Fatalf("request %d: got %v, want region a's 500 all_targets_failed\n%s", i+1, r.err, r.errBody)
			}
			s.waitSettled()
		}
		r := s.chat()
		if r.apiErr == nil || r.apiErr.StatusCode != 503 || r.apiErr.Code != "region_unavailable" || !strings.Contains(r.apiErr.Message, `"a"`) {
			t.Fatalf("with region a open: got %v, want 503 region_unavailable naming a\n%s", r.err, r.errBody)
		}
		if c := s.fakes["tertiary"].Count(); c != 0 {
			t.Errorf("tertiary (region b) got %d requests, want 0", c)
		}
		if c := s.fakes["primary"].Count() + s.fakes["secondary"].Count(); c != 6 {
			t.Errorf("region a got %d requests, want 6 (none once open)", c)
		}
		if s.local {
			denied := 0
			for _, e := range s.auditLines() {
				if e.Kind == events.KindPolicyDenial && e.Reason == "region_unavailable" && e.Status == 503 {
					denied++
				}
			}
			if denied != 1 {
				t.Errorf("policy_denial region_unavailable events: %d, want 1", denied)
			}
		}
	})
}

// TestRegions_PreferenceHeader verifies the x-llm-failover-region header
// (routing.region_header on) puts its region's target first, never reaches
// a provider, that an unknown region is answered 400 unknown_region, that
// with the setting off the header is ignored, and that a client policy's
// region wins over it.
func TestRegions_PreferenceHeader(t *testing.T) {
	three := map[string]string{"primary": "region: a", "secondary": "region: b", "tertiary": "region: c"}
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: withTargetFields(nil, three, withRouting("region_header: true"))})
		for _, tt := range []struct{ region, want, placement string }{
			{"c", "tertiary", "region=c:preferred"}, {"b", "secondary", "region=b:preferred"}, {"", "primary", "region=a"},
		} {
			var opts []option.RequestOption
			if tt.region != "" {
				opts = append(opts, option.WithHeader("x-llm-failover-region", tt.region))
			}
			r := s.chat(opts...)
			s.mustOK(r, tt.want)
			if tr := r.header("x-llm-failover-trace"); !strings.HasSuffix(tr, tt.placement) || r.header("x-llm-failover-attempt") != "1" {
				t.Errorf("region %q: trace %q, want one attempt ending %q", tt.region, tr, tt.placement)
			}
		}
		for _, n := range providerNames {
			for _, rec := range s.fakes[n].Requests() {
				if h := rec.Header.Get("x-llm-failover-region"); h != "" {
					t.Errorf("%s received x-llm-failover-region %q, want it removed", n, h)
				}
			}
		}
		s.resetFakes()
		s.mustRefuse(s.chat(option.WithHeader("x-llm-failover-region", "mars")), 400, "unknown_region")

		off := newStack(t, v, stackOpts{edit: withTargetFields(nil, three, nil)})
		off.mustOK(off.chat(option.WithHeader("x-llm-failover-region", "c")), "primary")

		// A client's region is the operator's word: the header cannot override it.
		policy := withClients(`  list:
    - {name: team-a, api_keys: ["` + clientKeyHash + `"], region: c}
`)
		pinned := newStack(t, v, stackOpts{edit: withTargetFields(nil, three, func(cfg string) string {
			return policy(withRouting("region_header: true")(cfg))
		})})
		pinned.mustOK(pinned.chat(option.WithHeader("x-llm-failover-region", "b")), "tertiary")
	})
}

// grepLines is the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestDashboard_ShowsTheTierSplitAndARegionalOutage drives the dashboard
// of a stack whose primary (weight 3) and secondary (weight 1) share tier 1
// in region a: after 40 requests the "led" column shows each one's share
// of the plans as the server counted them; when the primary fails and opens,
// the header shows region a in outage and the timeline its region_outage.
func TestDashboard_ShowsTheTierSplitAndARegionalOutage(t *testing.T) {
	s := newStack(t, config.EnvoyV140, stackOpts{edit: withTargetFields(
		map[string]string{"primary": "tier: 1, weight: 3", "secondary": "tier: 1, weight: 1"}, regional, nil)})
	pg := openDashboard(t, s)
	pg.wait("the timeline connects", `#conn[data-state="live"]`)
	for range 40 {
		if r := s.chat(); r.err != nil {
			t.Fatal(r.err)
		}
	}
	s.waitSettled()
	leads := s.proc.Leads("main")
	for _, n := range []string{"primary", "secondary"} {
		key := n + "/" + targetModel(n)
		want := fmt.Sprintf("%d%% (%d)", int(math.Round(100*float64(leads.ByTarget[key])/float64(leads.Plans))), leads.ByTarget[key])
		if got := pg.textOnceIt(`tr[data-target="`+key+`"] td.led`, func(s string) bool { return s == want }); got != want || leads.Plans != 40 {
			t.Errorf("%s led cell %q, want %q of %d plans", n, got, want, leads.Plans)
		}
		if got := pg.text(`tr[data-target="` + key + `"] td.tier`); !strings.HasPrefix(got, "1 · w") {
			t.Errorf("%s tier cell %q, want tier 1 with its weight", n, got)
		}
	}
	s.setFaults("primary", fakellm.Fault{Status: 500, Times: -1})
	for i := 0; s.breakerOf("primary").State != breaker.Open; i++ { // it is tried when it leads: 3 of 4 plans
		if i == 30 {
			t.Fatal("the primary did not open in 30 requests")
		}
		_ = s.chat()
		s.waitSettled()
	}
	pg.wait("the timeline shows the outage", `#events li[data-kind="region_outage"]`)
	if got := pg.textOnceIt(`#summary`, func(s string) bool { return strings.Contains(s, "a OUTAGE") }); !strings.Contains(got, "a OUTAGE") {
		t.Errorf("summary %q, want region a in outage", got)
	}
	pg.screenshot("dashboard-tiers-region-outage.png")
}
