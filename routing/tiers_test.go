package routing_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/routing"
)

// tierYAML has a chain whose first tier shares traffic 3:1 between two
// regions' targets, a second tier of one, and a strict chain.
const tierYAML = `
providers:
  - {name: east1, api: openai, host: e1.example, region: us-east}
  - {name: east2, api: openai, host: e2.example, region: us-east}
  - {name: west, api: openai, host: w.example, region: eu-west}
  - {name: local, api: openai, host: l.example}
chains:
  - name: main
    match: {models: [m]}
    targets:
      - {provider: east1, model: m, tier: 1, weight: 3}
      - {provider: west, model: m, tier: 1, weight: 1}
      - {provider: east2, model: m, tier: 2}
      - {provider: local, model: m}
  - name: eu
    match: {models: [eu]}
    residency: strict
    targets:
      - {provider: west, model: m}
      - {provider: east1, model: m}
breaker:
  consecutive_failures: 3
  open_for: 30s
  jitter: 0
  half_open_probes: 1
  recovery_stages: [0.5, 1.0]
`

// tierTable builds a table of tierYAML+extra with rnd on a fresh registry
// whose region changes go to the returned log.
func tierTable(t testing.TB, extra string, rnd func() float64) (*routing.Table, *routing.Registry, *regionLog) {
	t.Helper()
	c, err := config.Parse([]byte(tierYAML + extra))
	if err != nil {
		t.Fatalf("config.Parse error = %v, want nil", err)
	}
	reg := routing.NewRegistry(&fakeClock{t: t0}, nil)
	log := &regionLog{}
	reg.OnRegionChange(log.add)
	return routing.NewTable(c, reg, rnd), reg, log
}

// regionLog records region changes.
type regionLog struct {
	mu  sync.Mutex
	got []routing.RegionChange
}

func (l *regionLog) add(c routing.RegionChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, c)
}

func (l *regionLog) changes() []routing.RegionChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// order is the plan's targets as provider names.
func order(p routing.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Provider)
	}
	return out
}

// seeded is a deterministic uniform source for the split tests.
func seeded() func() float64 { return rand.New(rand.NewPCG(16, 14)).Float64 }

// binomialBound is the largest deviation of a count of n draws of
// probability p from n*p that the test accepts: 5 standard deviations,
// which a correct split exceeds with a probability below 1e-6.
func binomialBound(n int, p float64) float64 { return 5 * math.Sqrt(float64(n)*p*(1-p)) }

// TestPlan_TierLeadSplitFollowsWeights verifies the realised share of
// plans each tier target leads stays within the binomial bound of its
// weight's share, among the targets whose breakers admit traffic.
func TestPlan_TierLeadSplitFollowsWeights(t *testing.T) {
	const n = 20000
	tests := []struct {
		name  string
		setup func(tbl *routing.Table, ch *config.Chain)
		want  map[string]float64 // lead share by provider
	}{
		{"weights 3:1", func(*routing.Table, *config.Chain) {}, map[string]float64{"east1": 0.75, "west": 0.25}},
		{"heavier target open: all to the other", func(tbl *routing.Table, ch *config.Chain) { open(tbl.Breaker(ch, 0), t0) },
			map[string]float64{"west": 1}},
		{"lighter target recovering at share 0.5: 3 : 0.5", func(tbl *routing.Table, ch *config.Chain) { recovering(tbl.Breaker(ch, 1)) },
			map[string]float64{"east1": 0.75 + 0.25*0.5, "west": 0.25 * 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, _, _ := tierTable(t, "", seeded())
			ch := tbl.Config().Chain("main")
			tt.setup(tbl, ch)
			now := t0.Add(openFor + time.Second) // past the recovering target's probe, inside its first stage
			if tt.name == "heavier target open: all to the other" {
				now = t0
			}
			leads := map[string]int{}
			for range n {
				p, err := tbl.Plan(ch, now)
				if err != nil {
					t.Fatalf("Plan error = %v", err)
				}
				leads[p.Steps[0].Provider]++
			}
			for prov, share := range tt.want {
				if d := math.Abs(float64(leads[prov]) - share*n); d > binomialBound(n, share)+1e-9 {
					t.Errorf("%s led %d of %d plans, want %.0f ± %.0f", prov, leads[prov], n, share*n, binomialBound(n, share))
				}
			}
			if sum := leads["east1"] + leads["west"]; sum != n {
				t.Errorf("tier 1 led %d of %d plans, want all", sum, n)
			}
		})
	}
}

// TestPlan_TiersFallBackInOrder verifies a plan lists the drawn tier, then
// the next tier, then the untiered target, and each step's placement.
func TestPlan_TiersFallBackInOrder(t *testing.T) {
	tests := []struct {
		u         float64
		want      []string
		placement string
	}{
		{0.1, []string{"east1", "west", "east2", "local"}, "tier=1;weight=3/4;region=us-east"},
		{0.9, []string{"west", "east1", "east2", "local"}, "tier=1;weight=1/4;region=eu-west"},
	}
	for _, tt := range tests {
		tbl, _, _ := tierTable(t, "", fixedRand(tt.u))
		p, err := tbl.Plan(tbl.Config().Chain("main"), t0)
		if err != nil {
			t.Fatalf("Plan error = %v", err)
		}
		if got := order(p); !slices.Equal(got, tt.want) {
			t.Errorf("draw %v: plan %v, want %v", tt.u, got, tt.want)
		}
		if got := p.Steps[0].Placement; got != tt.placement {
			t.Errorf("draw %v: first placement %q, want %q", tt.u, got, tt.placement)
		}
		if got := p.Steps[3].Placement; got != "" {
			t.Errorf("untiered target without region: placement %q, want empty", got)
		}
	}
}

// TestPlan_RegionPreferenceAndResidency verifies a preferred region's
// targets come first, a strict chain keeps to its region and says why
// when it cannot, and an unknown region is refused.
func TestPlan_RegionPreferenceAndResidency(t *testing.T) {
	tbl, _, _ := tierTable(t, "", fixedRand(0.1))
	main, eu := tbl.Config().Chain("main"), tbl.Config().Chain("eu")
	tests := []struct {
		name    string
		ch      *config.Chain
		region  string
		setup   func()
		want    []string
		wantErr error
	}{
		{"prefer eu-west", main, "eu-west", nil, []string{"west", "east1", "east2", "local"}, nil},
		{"prefer us-east", main, "us-east", nil, []string{"east1", "east2", "west", "local"}, nil},
		{"unknown region", main, "mars", nil, nil, routing.ErrUnknownRegion},
		{"strict without region", eu, "", nil, nil, routing.ErrRegionRequired},
		{"strict eu-west", eu, "eu-west", nil, []string{"west"}, nil},
		{"strict eu-west, its target open", eu, "eu-west", func() { open(tbl.Breaker(eu, 0), t0) }, []string{"west"}, nil}, // try-soonest stays in the region
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			p, err := tbl.PlanFor(tt.ch, t0, routing.Needs{Region: tt.region})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PlanFor error = %v, want %v", err, tt.wantErr)
			}
			if got := order(p); tt.wantErr == nil && !slices.Equal(got, tt.want) {
				t.Errorf("plan %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPlan_StrictRegionAllOpenRejects verifies a strict chain whose
// region's targets are all open answers ErrRegionUnavailable (matching
// ErrAllOpen too) under routing.all_open reject, never another region.
func TestPlan_StrictRegionAllOpenRejects(t *testing.T) {
	tbl, _, _ := tierTable(t, "routing: {all_open: reject}\n", fixedRand(0.1))
	eu := tbl.Config().Chain("eu")
	open(tbl.Breaker(eu, 0), t0)
	_, err := tbl.PlanFor(eu, t0, routing.Needs{Region: "eu-west"})
	if !errors.Is(err, routing.ErrRegionUnavailable) || !errors.Is(err, routing.ErrAllOpen) {
		t.Fatalf("PlanFor error = %v, want ErrRegionUnavailable and ErrAllOpen", err)
	}
	if !strings.Contains(err.Error(), `"eu-west"`) {
		t.Errorf("error %q does not name the region", err)
	}
}

// TestPlan_RegionalOutageMovesTheRegionBehind verifies a region whose
// open share reaches regional_outage_share starts an outage (one change),
// its admitting targets move behind the other regions', its half-open
// target still leads to be probed, and the outage ends when it recovers.
func TestPlan_RegionalOutageMovesTheRegionBehind(t *testing.T) {
	tbl, reg, log := tierTable(t, "", fixedRand(0.1))
	ch := tbl.Config().Chain("main")
	open(tbl.Breaker(ch, 0), t0) // east1: one of us-east's two targets: 0.5 >= 0.5
	got := log.changes()
	if len(got) != 1 || got[0].Region != "us-east" || !got[0].Outage || got[0].Open != 1 || got[0].Targets != 2 {
		t.Fatalf("region changes = %+v, want one us-east outage start with 1 of 2 open", got)
	}
	p, err := tbl.Plan(ch, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"west", "local", "east2"}; !slices.Equal(order(p), want) {
		t.Errorf("plan during the outage %v, want %v (east2 behind every other region)", order(p), want)
	}
	if got := p.Steps[2].Placement; got != "tier=2;weight=1/1;region=us-east:outage" {
		t.Errorf("east2 placement %q, want the outage named", got)
	}
	if st := reg.Regions(t0); len(st) != 2 || st[1].Region != "us-east" || !st[1].Outage {
		t.Errorf("Regions = %+v, want us-east in outage", st)
	}
	// The cooldown ends: the half-open east1 leads to be probed.
	now := t0.Add(openFor)
	p, err = tbl.Plan(ch, now)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Steps[0].Probe() || p.Steps[0].Provider != "east1" {
		t.Fatalf("plan after the cooldown %v, want east1's probe first", order(p))
	}
	tbl.Breaker(ch, 0).Record(now, breaker.Outcome{Kind: breaker.Success})
	got = log.changes()
	if len(got) != 2 || got[1].Outage || got[1].Region != "us-east" || !got[1].Since.Equal(t0) || !got[1].At.Equal(now) {
		t.Fatalf("region changes = %+v, want the us-east outage to end at %v, started %v", got, now, t0)
	}
	p, _ = tbl.Plan(ch, now) // east1 recovering at share 0.5, admitted by the draw 0.1
	if want := []string{"east1", "west", "east2", "local"}; !slices.Equal(order(p), want) {
		t.Errorf("plan after the outage %v, want %v", order(p), want)
	}
	for _, s := range p.Steps {
		if strings.Contains(s.Placement, "outage") {
			t.Errorf("step %s placement %q after the outage ended", s.Provider, s.Placement)
		}
	}
}

// TestPlan_RegionalOutageSettings verifies share 0 turns detection off and
// min_targets keeps a small region out of outage.
func TestPlan_RegionalOutageSettings(t *testing.T) {
	for _, extra := range []string{"routing: {regional_outage_share: 0}\n", "routing: {regional_outage_min_targets: 3}\n"} {
		tbl, _, log := tierTable(t, extra, fixedRand(0.1))
		ch := tbl.Config().Chain("main")
		open(tbl.Breaker(ch, 0), t0)
		open(tbl.Breaker(ch, 2), t0)
		if got := log.changes(); len(got) != 0 {
			t.Errorf("%s: region changes %+v, want none", strings.TrimSpace(extra), got)
		}
	}
}

// TestExplain_TiersAndRegions verifies the explanation shows each tier
// target heaviest first with the share of plans it leads, and the region
// placement.
func TestExplain_TiersAndRegions(t *testing.T) {
	tbl, _, _ := tierTable(t, "", fixedRand(0.1))
	ch := tbl.Config().Chain("main")
	ex := tbl.Explain(ch, t0, routing.Needs{Region: "eu-west"})
	if ex.Err != nil {
		t.Fatal(ex.Err)
	}
	if got, want := order(ex.Plan), []string{"west", "east1", "east2", "local"}; !slices.Equal(got, want) {
		t.Errorf("explained plan %v, want %v", got, want)
	}
	v := ex.Targets[0]
	if v.Tier != 1 || v.Weight != 3 || v.Region != "us-east" || v.Lead != 0.75 || v.Placement != "tier=1;weight=3/4;region=us-east:other" {
		t.Errorf("east1 verdict = %+v, want tier 1, weight 3, us-east, lead 0.75, placement other", v)
	}
	ex = tbl.Explain(ch, t0, routing.Needs{})
	if got, want := order(ex.Plan), []string{"east1", "west", "east2", "local"}; !slices.Equal(got, want) {
		t.Errorf("explained plan without a region %v, want heaviest first %v", got, want)
	}
}

// BenchmarkPlan_TiersRegions measures planning with tiers and regions
// against a plain chain of the same length, in the same run.
func BenchmarkPlan_TiersRegions(b *testing.B) {
	plainYAML := strings.NewReplacer(", tier: 1, weight: 3", "", ", tier: 1, weight: 1", "", ", tier: 2", "").Replace(tierYAML)
	c, err := config.Parse([]byte(plainYAML))
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		cfg   *config.Config
		needs routing.Needs
	}{
		{"plain", c, routing.Needs{}},
		{"plain+regions-preferred", c, routing.Needs{Region: "eu-west"}},
		{"tiers", nil, routing.Needs{}},
		{"tiers+regions-preferred", nil, routing.Needs{Region: "eu-west"}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			reg := routing.NewRegistry(&fakeClock{t: t0}, nil)
			cfg := tt.cfg
			if cfg == nil {
				cfg, _ = config.Parse([]byte(tierYAML))
			}
			tbl := routing.NewTable(cfg, reg, seeded())
			ch := tbl.Config().Chain("main")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tbl.PlanFor(ch, t0, tt.needs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
