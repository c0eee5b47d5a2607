package routing_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/routing"
)

// fakeClock is a breaker.Clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

var _ breaker.Clock = (*fakeClock)(nil)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// openFor is breaker.open_for in testYAML; jitter is 0 so cooldowns are exact.
const openFor = 30 * time.Second

// testYAML has a three-target chain, a one-target chain and a default chain.
const testYAML = `
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: groq, api: openai-compatible, host: api.groq.com, cluster: groq_cluster}
  - {name: claude, api: anthropic, host: api.anthropic.com}
chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o, context_window: 128000}
      - {provider: groq, model: llama-3.3-70b-versatile}
      - {provider: claude, model: claude-sonnet}
  - name: cheap
    match: {models: [gpt-4o-mini]}
    targets:
      - {provider: openai, model: gpt-4o-mini}
breaker:
  consecutive_failures: 3
  open_for: 30s
  jitter: 0
  half_open_probes: 1
  recovery_stages: [0.1, 0.5, 1.0]
`

// parse parses testYAML plus extra (later keys must not repeat earlier ones).
func parse(t testing.TB, extra string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(testYAML + extra))
	if err != nil {
		t.Fatalf("config.Parse error = %v, want nil", err)
	}
	return c
}

// fixedRand returns a rand source that always draws u.
func fixedRand(u float64) func() float64 { return func() float64 { return u } }

// newTable builds a table of testYAML+extra on a fresh registry and fake clock.
func newTable(t testing.TB, extra string, u float64) (*routing.Table, *config.Chain) {
	t.Helper()
	reg := routing.NewRegistry(&fakeClock{t: t0}, nil)
	tbl := routing.NewTable(parse(t, extra), reg, fixedRand(u))
	return tbl, tbl.Config().Chain("premium")
}

// open records consecutive_failures failures at now, opening the breaker
// until now+openFor.
func open(b *breaker.Breaker, now time.Time) {
	for range 3 {
		b.Record(now, breaker.Outcome{Kind: breaker.Failure})
	}
}

// step is the short form of a routing.Step used in the plan tables.
type step struct {
	Provider, Model, Reason string
	Probe                   bool
}

func steps(p routing.Plan) []step {
	var s []step
	for _, st := range p.Steps {
		s = append(s, step{st.Provider, st.Model, st.Reason, st.Probe()})
	}
	return s
}

var (
	openaiClosed = step{"openai", "gpt-4o", "closed", false}
	groqClosed   = step{"groq", "llama-3.3-70b-versatile", "closed", false}
	claudeClosed = step{"claude", "claude-sonnet", "closed", false}
)

// TestTable_Resolve verifies how a request's model and chain header select a chain.
func TestTable_Resolve(t *testing.T) {
	tests := []struct {
		name        string
		extra       string
		model       string
		chainHeader string
		want        string
		wantErr     error
	}{
		{"model selects its chain", "", "gpt-4o", "", "premium", nil},
		{"alias selects its chain", "", "premium", "", "premium", nil},
		{"other model selects other chain", "", "gpt-4o-mini", "", "cheap", nil},
		{"chain header wins over the model", "", "gpt-4o", "cheap", "cheap", nil},
		{"unknown model goes to the default chain", "default_chain: cheap\n", "mistral", "", "cheap", nil},
		{"unknown model without default chain", "", "mistral", "", "", routing.ErrModelNotFound},
		{"empty model without default chain", "", "", "", "", routing.ErrModelNotFound},
		{"unknown chain header", "", "gpt-4o", "nope", "", routing.ErrUnknownChain},
		{"unknown chain header even with a default chain", "default_chain: cheap\n", "gpt-4o", "nope", "", routing.ErrUnknownChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, _ := newTable(t, tt.extra, 0)
			ch, err := tbl.Resolve(tt.model, tt.chainHeader)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Resolve(%q, %q) error = %v, want %v", tt.model, tt.chainHeader, err, tt.wantErr)
			}
			got := ""
			if ch != nil {
				got = ch.Name
			}
			if got != tt.want {
				t.Errorf("Resolve(%q, %q): got chain %q, want %q", tt.model, tt.chainHeader, got, tt.want)
			}
		})
	}
}

// TestTable_Plan verifies the order of a plan for each mix of breaker states.
func TestTable_Plan(t *testing.T) {
	tests := []struct {
		name string
		// setup drives the breakers of the premium chain; it returns when to plan.
		setup func(tbl *routing.Table, ch *config.Chain) time.Time
		u     float64 // the rand draw for recovering targets
		want  []step
	}{
		{
			name:  "all closed: chain order",
			setup: func(*routing.Table, *config.Chain) time.Time { return t0 },
			want:  []step{openaiClosed, groqClosed, claudeClosed},
		},
		{
			name: "two failures do not open the primary",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				b := tbl.Breaker(ch, 0)
				b.Record(t0, breaker.Outcome{Kind: breaker.Failure})
				b.Record(t0, breaker.Outcome{Kind: breaker.Failure})
				return t0
			},
			want: []step{openaiClosed, groqClosed, claudeClosed},
		},
		{
			name: "primary open: left out",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				open(tbl.Breaker(ch, 0), t0)
				return t0.Add(openFor - time.Millisecond)
			},
			want: []step{groqClosed, claudeClosed},
		},
		{
			name: "middle open: left out, order kept",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				open(tbl.Breaker(ch, 1), t0)
				return t0.Add(time.Second)
			},
			want: []step{openaiClosed, claudeClosed},
		},
		{
			name: "auth failure opens the primary at once",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				tbl.Breaker(ch, 0).Record(t0, breaker.Outcome{Kind: breaker.AuthFailure})
				return t0.Add(time.Minute) // past open_for, within auth_open_for
			},
			want: []step{groqClosed, claudeClosed},
		},
		{
			name: "primary half-open after cooldown: probed in place",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				open(tbl.Breaker(ch, 0), t0)
				return t0.Add(openFor)
			},
			want: []step{{"openai", "gpt-4o", "probe", true}, groqClosed, claudeClosed},
		},
		{
			name: "recovering primary admitted by share: keeps its position",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				recovering(tbl.Breaker(ch, 0))
				return t0.Add(openFor + time.Second)
			},
			u:    0.05, // below the first stage's 0.1
			want: []step{{"openai", "gpt-4o", "recovering", false}, groqClosed, claudeClosed},
		},
		{
			name: "recovering primary not admitted: moved to the end",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				recovering(tbl.Breaker(ch, 0))
				return t0.Add(openFor + time.Second)
			},
			u:    0.1, // not below the first stage's 0.1
			want: []step{groqClosed, claudeClosed, {"openai", "gpt-4o", "recovering-deferred", false}},
		},
		{
			name: "deferred recovering target comes after closed ones, open ones left out",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				recovering(tbl.Breaker(ch, 0))
				open(tbl.Breaker(ch, 1), t0.Add(openFor))
				return t0.Add(openFor + time.Second)
			},
			u:    0.9,
			want: []step{claudeClosed, {"openai", "gpt-4o", "recovering-deferred", false}},
		},
		{
			name: "every target open: the one whose cooldown ends first",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				open(tbl.Breaker(ch, 0), t0.Add(2*time.Second))
				open(tbl.Breaker(ch, 1), t0)
				open(tbl.Breaker(ch, 2), t0.Add(time.Second))
				return t0.Add(10 * time.Second)
			},
			want: []step{{"groq", "llama-3.3-70b-versatile", "soonest-open", false}},
		},
		{
			name: "every target open, equal cooldowns: the first in chain order",
			setup: func(tbl *routing.Table, ch *config.Chain) time.Time {
				for i := range 3 {
					open(tbl.Breaker(ch, i), t0)
				}
				return t0.Add(10 * time.Second)
			},
			want: []step{{"openai", "gpt-4o", "soonest-open", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, ch := newTable(t, "", tt.u)
			now := tt.setup(tbl, ch)
			p, err := tbl.Plan(ch, now)
			if err != nil {
				t.Fatalf("Plan error = %v, want nil", err)
			}
			if got := steps(p); !slices.Equal(got, tt.want) {
				t.Errorf("Plan steps:\n got  %+v\n want %+v", got, tt.want)
			}
			if p.Chain != "premium" {
				t.Errorf("Plan chain: got %q, want %q", p.Chain, "premium")
			}
		})
	}
}

// recovering opens b at t0 and lets a probe succeed at the end of the
// cooldown, so b is Recovering in its first stage (share 0.1) from t0+openFor.
func recovering(b *breaker.Breaker) {
	open(b, t0)
	now := t0.Add(openFor)
	if d := b.Allow(now, 0); d != breaker.Probe {
		panic("recovering: want a probe, got " + d.String())
	}
	b.Record(now, breaker.Outcome{Kind: breaker.Success})
}

// TestTable_PlanStepDetails verifies a step carries the provider's cluster and
// the target's model and context window.
func TestTable_PlanStepDetails(t *testing.T) {
	tbl, ch := newTable(t, "", 0)
	p, err := tbl.Plan(ch, t0)
	if err != nil {
		t.Fatalf("Plan error = %v, want nil", err)
	}
	want := []routing.Step{
		{Provider: "openai", Cluster: "openai", Model: "gpt-4o", ContextWindow: 128000, Reason: "closed"},
		{Provider: "groq", Cluster: "groq_cluster", Model: "llama-3.3-70b-versatile", Reason: "closed"},
		{Provider: "claude", Cluster: "claude", Model: "claude-sonnet", Reason: "closed"},
	}
	if !slices.Equal(p.Steps, want) {
		t.Errorf("Plan steps:\n got  %+v\n want %+v", p.Steps, want)
	}
}

// TestTable_PlanHalfOpenProbesOnce verifies that with one probe slot, only
// the first of many concurrent plans probes a half-open primary; the others
// leave it out.
func TestTable_PlanHalfOpenProbesOnce(t *testing.T) {
	tbl, ch := newTable(t, "", 0)
	open(tbl.Breaker(ch, 0), t0)
	now := t0.Add(openFor)

	const n = 16
	plans := make([]routing.Plan, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := tbl.Plan(ch, now)
			if err != nil {
				t.Errorf("Plan error = %v, want nil", err)
			}
			plans[i] = p
		}()
	}
	wg.Wait()

	probes := 0
	for _, p := range plans {
		got := steps(p)
		switch {
		case slices.Equal(got, []step{{"openai", "gpt-4o", "probe", true}, groqClosed, claudeClosed}):
			probes++
		case slices.Equal(got, []step{groqClosed, claudeClosed}):
		default:
			t.Errorf("Plan steps: got %+v, want a probe plan or one without the primary", got)
		}
	}
	if probes != 1 {
		t.Errorf("probe plans: got %d, want 1", probes)
	}
}

// TestStep_ReleaseFreesTheProbeSlot verifies that a probe step released by
// its request (dropped after planning) lets the next plan probe at once,
// and that releasing a non-probe step does nothing.
func TestStep_ReleaseFreesTheProbeSlot(t *testing.T) {
	tbl, ch := newTable(t, "", 0)
	open(tbl.Breaker(ch, 0), t0)
	now := t0.Add(openFor)
	first, err := tbl.Plan(ch, now)
	if err != nil || !first.Steps[0].Probe() {
		t.Fatalf("first plan: got %+v, %v; want a probe first", steps(first), err)
	}
	first.Steps[1].Release(now) // a closed step: nothing to give back
	if p, _ := tbl.Plan(ch, now); p.Steps[0].Probe() {
		t.Fatalf("second plan while the slot is held: got %+v, want no probe", steps(p))
	}
	first.Steps[0].Release(now)
	if p, _ := tbl.Plan(ch, now); !p.Steps[0].Probe() {
		t.Fatalf("plan after the release: got %+v, want the primary probed", steps(p))
	}
}

// TestTable_PlanAllOpen verifies the all-open policy: try-soonest plans the
// target whose cooldown ends first, reject returns ErrAllOpen.
func TestTable_PlanAllOpen(t *testing.T) {
	tests := []struct {
		name    string
		extra   string
		want    []step
		wantErr error
	}{
		{"try-soonest by default", "", []step{{"groq", "llama-3.3-70b-versatile", "soonest-open", false}}, nil},
		{"try-soonest when set", "routing: {all_open: try-soonest}\n", []step{{"groq", "llama-3.3-70b-versatile", "soonest-open", false}}, nil},
		{"reject", "routing: {all_open: reject}\n", nil, routing.ErrAllOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, ch := newTable(t, tt.extra, 0)
			open(tbl.Breaker(ch, 0), t0.Add(time.Second))
			open(tbl.Breaker(ch, 1), t0)
			open(tbl.Breaker(ch, 2), t0.Add(time.Second))
			p, err := tbl.Plan(ch, t0.Add(5*time.Second))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Plan error = %v, want %v", err, tt.wantErr)
			}
			if got := steps(p); !slices.Equal(got, tt.want) {
				t.Errorf("Plan steps: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestTable_PlanSameTargetRetries verifies routing.same_target_retries is
// copied to every plan.
func TestTable_PlanSameTargetRetries(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  int
	}{
		{"default 0", "", 0},
		{"set to 2", "routing: {same_target_retries: 2}\n", 2},
		{"set to 5", "routing: {same_target_retries: 5}\n", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, ch := newTable(t, tt.extra, 0)
			p, err := tbl.Plan(ch, t0)
			if err != nil {
				t.Fatalf("Plan error = %v, want nil", err)
			}
			if p.SameTargetRetries != tt.want {
				t.Errorf("SameTargetRetries: got %d, want %d", p.SameTargetRetries, tt.want)
			}
		})
	}
}

// BenchmarkPlan measures planning a three-target chain with every breaker closed.
func BenchmarkPlan(b *testing.B) {
	tbl, ch := newTable(b, "", 0.5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tbl.Plan(ch, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTable_PlanSkipsProbeBehindHealthyTarget verifies a half-open target
// behind a closed one is left out without taking its probe slot, and is
// probed once it leads the plan.
func TestTable_PlanSkipsProbeBehindHealthyTarget(t *testing.T) {
	tbl, ch := newTable(t, "", 0)
	open(tbl.Breaker(ch, 1), t0)
	now := t0.Add(openFor)
	p, err := tbl.Plan(ch, now)
	if got, want := steps(p), []step{openaiClosed, claudeClosed}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Plan steps: got %+v (%v), want %+v", got, err, want)
	}
	if got := tbl.Breaker(ch, 1).Snapshot(now).ProbesInFlight; got != 0 {
		t.Fatalf("probes in flight: got %d, want 0 (no slot taken)", got)
	}
	open(tbl.Breaker(ch, 0), now)
	p, _ = tbl.Plan(ch, now)
	if got, want := steps(p), []step{{"groq", "llama-3.3-70b-versatile", "probe", true}, claudeClosed}; !slices.Equal(got, want) {
		t.Fatalf("Plan steps with the primary open: got %+v, want %+v", got, want)
	}
}

// TestTable_PlanForHonoursCapabilities verifies targets lacking a needed
// capability are skipped, none left is ErrNoCapableTarget, and the context
// window estimate skips small windows unless nothing would be left.
func TestTable_PlanForHonoursCapabilities(t *testing.T) {
	const caps = `
providers:
  - {name: a, api: openai, host: a.example}
  - {name: b, api: openai, host: b.example}
  - {name: c, api: openai, host: c.example}
chains:
  - name: x
    match: {models: [x]}
    targets:
      - {provider: a, model: small, context_window: 8000, supports: [json]}
      - {provider: b, model: mid, context_window: 32000, supports: [tools, json]}
      - {provider: c, model: big, context_window: 128000, supports: [tools, json, vision]}
breaker: {jitter: 0}
`
	cfg, err := config.Parse([]byte(caps))
	if err != nil {
		t.Fatal(err)
	}
	tbl := routing.NewTable(cfg, routing.NewRegistry(&fakeClock{t: t0}, nil), fixedRand(0))
	ch := cfg.Chain("x")
	tests := []struct {
		name  string
		needs routing.Needs
		want  []string
		err   error
	}{
		{"nothing needed", routing.Needs{}, []string{"small", "mid", "big"}, nil},
		{"tools", routing.Needs{Tools: true}, []string{"mid", "big"}, nil},
		{"vision", routing.Needs{Vision: true}, []string{"big"}, nil},
		{"long prompt", routing.Needs{PromptTokens: 20000}, []string{"mid", "big"}, nil},
		{"too long for all keeps the largest", routing.Needs{PromptTokens: 500000}, []string{"big"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tbl.PlanFor(ch, t0, tc.needs)
			var got []string
			for _, s := range p.Steps {
				got = append(got, s.Model)
			}
			if !errors.Is(err, tc.err) || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v (%v), want %v (%v)", got, err, tc.want, tc.err)
			}
		})
	}
	cfg2, _ := config.Parse([]byte(strings.Replace(caps, "supports: [tools, json, vision]", "supports: [tools]", 1)))
	tbl2 := routing.NewTable(cfg2, routing.NewRegistry(&fakeClock{t: t0}, nil), fixedRand(0))
	if _, err := tbl2.PlanFor(cfg2.Chain("x"), t0, routing.Needs{Vision: true}); !errors.Is(err, routing.ErrNoCapableTarget) {
		t.Fatalf("vision with no vision target: got %v, want ErrNoCapableTarget", err)
	}
}
