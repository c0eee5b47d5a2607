package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/probe"
)

// probesOn is a probes section for the e2e config: every target probed
// every 30s without jitter, two failed probes open a target.
const probesOn = "probes: {enabled: true, interval: 30s, min_interval: 5s, jitter: 0, failures_to_open: 2, max_per_second: %s}\n"

// newProbeStack starts a stack whose config ends with probes (a probes
// section, or "" for none) and a prober sending through its front door on
// the stack's clock: the test runs each round with probeRound.
func newProbeStack(t *testing.T, v, probes string) (*stack, *probe.Prober) {
	t.Helper()
	s := newStack(t, v, stackOpts{edit: func(cfg string) string { return cfg + probes }})
	s.needLocal("the server's prober")
	return s, probe.New(probe.Options{Host: s.proc, Clock: s.clock, FrontDoor: s.url, Client: s.http})
}

// probeRound runs one round of p at the stack's time and waits until every
// outcome is recorded.
func (s *stack) probeRound(p *probe.Prober) []probe.Result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	rs := p.Round(ctx, s.clock.Now())
	s.waitSettled()
	return rs
}

// probed names the targets of rs with their outcomes: "primary:ok".
func probed(rs []probe.Result) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Target.Provider+":"+r.Outcome)
	}
	return strings.Join(out, " ")
}

// noProviderAsked checks that no fake provider received a request.
func (s *stack) noProviderAsked() {
	s.t.Helper()
	for _, n := range providerNames {
		if got := s.fakes[n].Count(); got != 0 {
			s.t.Errorf("%s got %d requests, want 0", n, got)
		}
	}
}

// userRequestSkipsPrimary sends a user request and checks that the
// secondary answers it at its first attempt and the primary sees nothing
// of it, because of why.
func (s *stack) userRequestSkipsPrimary(why string) {
	s.t.Helper()
	before := s.fakes["primary"].Count()
	r := s.chat()
	s.mustOK(r, "secondary")
	if got := r.header("x-llm-failover-attempt"); got != "1" {
		s.t.Errorf("user request when %s: attempt %q, want 1 (trace %q)", why, got, r.header("x-llm-failover-trace"))
	}
	if got := s.fakes["primary"].Count(); got != before {
		s.t.Errorf("user request when %s: the primary got %d requests, want none", why, got-before)
	}
}

// TestProbes_OpenATargetBeforeAnyUserRequestFails verifies that with the
// primary failing, two rounds of probes (through Envoy, with the primary's
// own key and path and without the probe header) open its breaker with
// reason "probe" before any user request, and that the first user request
// then goes to the secondary at its first attempt: no user pays for the
// outage. The probes' tokens show in the metrics and the audit trail.
func TestProbes_OpenATargetBeforeAnyUserRequestFails(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, p := newProbeStack(t, v, fmt.Sprintf(probesOn, "100"))
		s.setFaults("primary", fakellm.Fault{Status: 503, Times: -1})
		if got := probed(s.probeRound(p)); got != "primary:failed secondary:ok tertiary:ok" {
			t.Fatalf("round 1: got %q, want primary failed and the others ok", got)
		}
		if sn := s.breakerOf("primary"); sn.State != breaker.Closed {
			t.Fatalf("after one failed probe: primary %v, want closed", sn.State)
		}
		s.clock.Advance(30 * time.Second)
		if got := probed(s.probeRound(p)); got != "primary:failed secondary:ok tertiary:ok" {
			t.Fatalf("round 2: got %q, want primary failed and the others ok", got)
		}
		if sn := s.breakerOf("primary"); sn.State != breaker.Open || sn.Opened.Reason != breaker.ReasonProbe || sn.Opened.Failures != 2 {
			t.Fatalf("after two failed probes: primary %v opened by %q (%d), want open by %q (2)", sn.State, sn.Opened.Reason, sn.Opened.Failures, breaker.ReasonProbe)
		}
		for _, rec := range s.fakes["primary"].Requests() {
			if rec.Path != "/v1/chat/completions" || rec.KeySHA256["authorization"] != fakellm.KeyHash(providerKey("primary")) ||
				rec.Header.Get(contract.HeaderProbe) != "" || rec.Model != targetModel("primary") {
				t.Errorf("probe at the primary: path %q model %q key %v probe header %q, want the chat path, its model and key and no probe header",
					rec.Path, rec.Model, rec.KeySHA256, rec.Header.Get(contract.HeaderProbe))
			}
		}
		s.userRequestSkipsPrimary("the probes opened it")
		var b strings.Builder
		if err := s.proc.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`llm_failover_probe_sent_total{model="primary-model",provider="primary",result="failed"} 2`,
			`llm_failover_probe_sent_total{model="secondary-model",provider="secondary",result="ok"} 2`,
			`llm_failover_probe_tokens_total{model="secondary-model",provider="secondary",type="input"}`,
		} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("metrics: got no %s", want)
			}
		}
		var active, opened int
		for _, e := range s.auditLines() {
			switch {
			case e.Kind == events.KindProbe && e.Reason == "active":
				active++
				if e.From.Provider == "secondary" && (e.ProbeInputTokens <= 0 || e.Status != http.StatusOK || e.Detail != probe.OutcomeOK) {
					t.Errorf("secondary's probe event: %+v, want status 200, detail ok and its input tokens", e)
				}
			case e.Kind == events.KindBreakerTransition && e.BreakerTo == "open":
				opened++
				if e.From.Provider != "primary" || e.Reason != breaker.ReasonProbe {
					t.Errorf("breaker opened: %+v, want the primary's, reason probe", e)
				}
			}
		}
		if active != 6 || opened != 1 {
			t.Errorf("audit: %d active probe events and %d openings, want 6 and 1", active, opened)
		}
	})
}

// TestProbes_HalfOpenTargetRecoversWithoutAUserRequest verifies
// synthetic half-open probing: once the primary's cooldown ends, a user's
// request is not handed its half-open slot (it goes to the secondary at
// its first attempt and the primary sees nothing), and the next probe
// round probes the primary synthetically and starts its recovery.
func TestProbes_HalfOpenTargetRecoversWithoutAUserRequest(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, p := newProbeStack(t, v, fmt.Sprintf(probesOn, "100"))
		s.setFaults("primary", fakellm.Fault{Status: 503, Times: -1})
		s.probeRound(p)
		s.clock.Advance(30 * time.Second)
		s.probeRound(p)
		if sn := s.breakerOf("primary"); sn.State != breaker.Open {
			t.Fatalf("primary %v, want open", sn.State)
		}
		s.fakes["primary"].ClearFaults()
		s.clock.Advance(31 * time.Second) // open_for 30s, no jitter
		if sn := s.breakerOf("primary"); sn.State != breaker.HalfOpen {
			t.Fatalf("primary %v after its cooldown, want half-open", sn.State)
		}
		s.userRequestSkipsPrimary("it is half-open, probed synthetically")
		before := s.fakes["primary"].Count()
		rs := s.probeRound(p)
		var half *probe.Result
		for i := range rs {
			if rs[i].Target.Provider == "primary" {
				half = &rs[i]
			}
		}
		if half == nil || !half.HalfOpen || half.Outcome != probe.OutcomeOK {
			t.Fatalf("round after the cooldown: got %q, want a half-open probe of the primary that succeeded", probed(rs))
		}
		if sn := s.breakerOf("primary"); sn.State != breaker.Recovering || sn.Opened.Reason != breaker.ReasonProbe {
			t.Errorf("primary %v after the synthetic probe, want recovering", sn.State)
		}
		if got := s.fakes["primary"].Count() - before; got != 1 {
			t.Errorf("primary got %d requests, want exactly the one probe", got)
		}
	})
}

// TestProbes_RateLimited verifies the global rate limit and the per-target
// minimum interval: at one probe per second, three due targets are probed
// one per round, a second apart, the others counted as skipped; none is
// probed again within min_interval.
func TestProbes_RateLimited(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, p := newProbeStack(t, v, "probes: {enabled: true, interval: 5s, min_interval: 5s, jitter: 0, max_per_second: 1}\n")
		var rounds []string
		for range 4 {
			rounds = append(rounds, probed(s.probeRound(p)))
			s.clock.Advance(time.Second)
		}
		want := []string{"primary:ok", "secondary:ok", "tertiary:ok", ""}
		if fmt.Sprint(rounds) != fmt.Sprint(want) {
			t.Errorf("rounds a second apart: got %q, want %q", rounds, want)
		}
		for _, n := range providerNames {
			if got := s.fakes[n].Count(); got != 1 {
				t.Errorf("%s got %d probes, want 1", n, got)
			}
		}
		var b strings.Builder
		if err := s.proc.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		if want := `llm_failover_probe_skipped_total{reason="rate_limited"} 3`; !strings.Contains(b.String(), want) {
			t.Errorf("metrics: got no %s", want)
		}
	})
}

// TestProbes_OffByDefault verifies that without a probes section no probe
// is sent, however much time passes, and a half-open target is probed by
// a user's request as before.
func TestProbes_OffByDefault(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, p := newProbeStack(t, v, "")
		for range 3 {
			if rs := s.probeRound(p); len(rs) != 0 {
				t.Fatalf("probes off: got %q, want none", probed(rs))
			}
			s.clock.Advance(time.Hour)
		}
		s.noProviderAsked()
	})
}

// TestProbes_ForgedHeaderIsRefused verifies that a client cannot use the
// probe header: a made-up value, or a real probe's header replayed with
// another body, is answered 403 invalid_probe and reaches no provider.
func TestProbes_ForgedHeaderIsRefused(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newProbeStack(t, v, fmt.Sprintf(probesOn, "100"))
		body := []byte(`{"model":"primary-model","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
		signed := s.proc.SignProbe("primary/primary-model", body, s.clock.Now().Add(time.Minute))
		for _, h := range []string{"1.2.primary/primary-model", signed, "9999999999999." + strings.Repeat("A", 43) + ".primary/primary-model"} {
			r := s.chat(option.WithHeader(contract.HeaderProbe, h))
			if r.status() != http.StatusForbidden || r.apiErr == nil || r.apiErr.Code != "invalid_probe" {
				t.Errorf("probe header %q: got status %d (%v), want 403 invalid_probe", h, r.status(), r.err)
			}
		}
		// The model list is answered before any body: the header must not
		// stand in for a client's identity there either.
		_, err := s.client.Models.List(context.Background(), option.WithHeader(contract.HeaderProbe, signed))
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || ae.Code != "invalid_probe" {
			t.Errorf("GET /v1/models with a probe header: got %v, want 403 invalid_probe", err)
		}
		s.noProviderAsked()
	})
}

// TestProbes_PassAClientsPolicyThatRefusesTheCaller verifies that under a
// clients policy the server's probes (no client key) still reach every
// target, while a caller without a key is refused, with or without a
// made-up probe header.
func TestProbes_PassAClientsPolicyThatRefusesTheCaller(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		clients := withClients(`  list:
    - {name: team-a, api_keys: ["` + clientKeyHash + `"], chains: [main]}
`)
		s := newStack(t, v, stackOpts{edit: func(cfg string) string { return clients(cfg) + fmt.Sprintf(probesOn, "100") }})
		s.needLocal("the server's prober")
		p := probe.New(probe.Options{Host: s.proc, Clock: s.clock, FrontDoor: s.url, Client: s.http})
		// The side chain (secondary) comes first in the configuration.
		if got := probed(s.probeRound(p)); got != "secondary:ok primary:ok tertiary:ok" {
			t.Fatalf("probes under a clients policy: got %q, want every target ok", got)
		}
		s.resetFakes()
		noKey := option.WithAPIKey("")
		s.mustRefuse(s.chat(noKey), http.StatusForbidden, "permission_denied")
		s.mustRefuse(s.chat(noKey, option.WithHeader(contract.HeaderProbe, "1.2.primary/primary-model")), http.StatusForbidden, "invalid_probe")
	})
}

// TestProbes_UnreachableTargetOpensWithReasonProbe verifies that probes of
// a primary nobody listens for (connect failures, which Envoy answers
// itself and the server settles later) count as failed probes: two open
// it with reason "probe".
func TestProbes_UnreachableTargetOpensWithReasonProbe(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{deadPrimary: true, edit: func(cfg string) string { return cfg + fmt.Sprintf(probesOn, "100") }})
		s.needLocal("the server's prober")
		p := probe.New(probe.Options{Host: s.proc, Clock: s.clock, FrontDoor: s.url, Client: s.http})
		for i := range 2 {
			s.clock.Advance(time.Duration(i) * 30 * time.Second)
			if got := probed(s.probeRound(p)); got != "primary:failed secondary:ok tertiary:ok" {
				t.Fatalf("round %d: got %q, want the primary failed", i+1, got)
			}
		}
		if sn := s.breakerOf("primary"); sn.State != breaker.Open || sn.Opened.Reason != breaker.ReasonProbe {
			t.Errorf("primary %v opened by %q, want open by %q", sn.State, sn.Opened.Reason, breaker.ReasonProbe)
		}
	})
}

// TestProbes_CostIsCounted verifies that what a probe of a priced target
// cost, at the target's price, is counted in the probe cost metric and on
// its probe event (probes are never charged to a budget).
func TestProbes_CostIsCounted(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: func(cfg string) string { return priced("", "")(cfg) + fmt.Sprintf(probesOn, "100") }})
		s.needLocal("the server's prober")
		p := probe.New(probe.Options{Host: s.proc, Clock: s.clock, FrontDoor: s.url, Client: s.http})
		setUsage(t, s, fakellm.Usage{Prompt: 1000, Completion: 500})
		s.probeRound(p)
		// secondary's price {input: 1, output: 2} per million: 1000×1 + 500×2.
		want := `llm_failover_probe_cost_usd_total{model="secondary-model",provider="secondary"} 0.002`
		if m := s.metricsText(); !strings.Contains(m, want) {
			t.Errorf("metrics: got no %s in\n%s", want, grepLines(m, "probe_cost"))
		}
		found := false
		for _, e := range s.auditLines() {
			if e.Kind == events.KindProbe && e.Reason == "active" && e.From.Provider == "secondary" {
				found = true
				if e.CostUSD == nil || math.Abs(*e.CostUSD-0.002) > 1e-12 {
					t.Errorf("secondary's probe event cost_usd = %v, want 0.002", e.CostUSD)
				}
			}
		}
		if !found {
			t.Error("no probe event for the secondary")
		}
	})
}
