package routing_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/routing"
)

// TestRegistry_KeepsBreakerStateAcrossReload verifies a new table built from a
// reloaded config on the same registry reuses the breaker of every target key
// that still exists, so an open target stays open, and a new target starts closed.
func TestRegistry_KeepsBreakerStateAcrossReload(t *testing.T) {
	reg := routing.NewRegistry(&fakeClock{t: t0}, nil)
	before := routing.NewTable(parse(t, ""), reg, fixedRand(0))
	ch := before.Config().Chain("premium")
	open(before.Breaker(ch, 0), t0)

	// The reload reorders the chain and adds a target.
	reloaded, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: groq, api: openai-compatible, host: api.groq.com}
chains:
  - name: premium
    match: {models: [gpt-4o]}
    targets:
      - {provider: groq, model: llama-3.3-70b-versatile}
      - {provider: openai, model: gpt-4o}
      - {provider: openai, model: gpt-4.1}
breaker: {jitter: 0}
`))
	if err != nil {
		t.Fatalf("config.Parse error = %v, want nil", err)
	}
	after := routing.NewTable(reloaded, reg, fixedRand(0))
	ch2 := after.Config().Chain("premium")

	if got, want := after.Breaker(ch2, 1), before.Breaker(ch, 0); got != want {
		t.Errorf("breaker of openai/gpt-4o after reload: got %p, want the same breaker %p", got, want)
	}
	if got := after.Breaker(ch2, 1).Snapshot(t0.Add(time.Second)).State; got != breaker.Open {
		t.Errorf("openai/gpt-4o state after reload: got %v, want %v", got, breaker.Open)
	}
	if got := after.Breaker(ch2, 2).Snapshot(t0).State; got != breaker.Closed {
		t.Errorf("new target openai/gpt-4.1 state: got %v, want %v", got, breaker.Closed)
	}
	p, err := after.Plan(ch2, t0.Add(time.Second))
	if err != nil {
		t.Fatalf("Plan error = %v, want nil", err)
	}
	want := []step{groqClosed, {"openai", "gpt-4.1", "closed", false}}
	if got := steps(p); !slices.Equal(got, want) {
		t.Errorf("Plan steps after reload: got %+v, want %+v", got, want)
	}
}

// TestRegistry_SharesBreakerAcrossChains verifies a target key used in two
// chains has one breaker, so failures seen through one chain open it in both.
func TestRegistry_SharesBreakerAcrossChains(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: groq, api: openai-compatible, host: api.groq.com}
chains:
  - {name: a, match: {models: [a]}, targets: [{provider: openai, model: gpt-4o}, {provider: groq, model: llama}]}
  - {name: b, match: {models: [b]}, targets: [{provider: groq, model: llama}]}
breaker: {jitter: 0}
`))
	if err != nil {
		t.Fatalf("config.Parse error = %v, want nil", err)
	}
	reg := routing.NewRegistry(&fakeClock{t: t0}, nil)
	tb := routing.NewTable(c, reg, fixedRand(0))
	a, b := c.Chain("a"), c.Chain("b")
	if tb.Breaker(a, 1) != tb.Breaker(b, 0) {
		t.Fatalf("groq/llama: got two breakers, want one shared")
	}
	open(tb.Breaker(a, 1), t0)
	if got := reg.Lookup("groq/llama"); got != tb.Breaker(b, 0) {
		t.Errorf("Lookup(groq/llama): got %p, want %p", got, tb.Breaker(b, 0))
	}
	if got := tb.BreakerFor("groq", "llama").Snapshot(t0).State; got != breaker.Open {
		t.Errorf("BreakerFor(groq, llama) state: got %v, want %v", got, breaker.Open)
	}
	if got := tb.BreakerFor("groq", "unknown"); got != nil {
		t.Errorf("BreakerFor(groq, unknown): got %v, want nil", got)
	}
	if got := reg.Lookup("nope/nope"); got != nil {
		t.Errorf("Lookup(nope/nope): got %v, want nil", got)
	}
}

// TestRegistry_EachAndStateChanges verifies Each visits every breaker once,
// and that transitions reach the registry's callback with the target key.
func TestRegistry_EachAndStateChanges(t *testing.T) {
	var mu sync.Mutex
	var got []breaker.Transition
	reg := routing.NewRegistry(&fakeClock{t: t0}, func(tr breaker.Transition) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, tr)
	})
	tbl := routing.NewTable(parse(t, ""), reg, fixedRand(0))

	var names []string
	reg.Each(func(b *breaker.Breaker) { names = append(names, b.Name()) })
	slices.Sort(names)
	wantNames := []string{"claude/claude-sonnet", "groq/llama-3.3-70b-versatile", "openai/gpt-4o", "openai/gpt-4o-mini"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("Each names: got %q, want %q", names, wantNames)
	}

	open(tbl.Breaker(tbl.Config().Chain("premium"), 0), t0)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Name != "openai/gpt-4o" || got[0].To != breaker.Open || !got[0].Until.Equal(t0.Add(openFor)) {
		t.Errorf("transitions: got %+v, want one openai/gpt-4o -> open until %v", got, t0.Add(openFor))
	}
}

// TestRegistry_UsesItsClock verifies a zero time given to a breaker reads the
// registry's clock.
func TestRegistry_UsesItsClock(t *testing.T) {
	clk := &fakeClock{t: t0}
	reg := routing.NewRegistry(clk, nil)
	tbl := routing.NewTable(parse(t, ""), reg, fixedRand(0))
	b := tbl.Breaker(tbl.Config().Chain("premium"), 0)
	open(b, time.Time{})
	if got, want := b.Snapshot(time.Time{}).OpenUntil, t0.Add(openFor); !got.Equal(want) {
		t.Errorf("OpenUntil: got %v, want %v", got, want)
	}
}

// TestSettings_MapsConfig verifies the breaker section and a chain's trigger
// overrides become the breaker settings.
func TestSettings_MapsConfig(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - name: a
    targets: [{provider: openai, model: gpt-4o}]
    triggers: {latency: {threshold: 5s}}
  - name: b
    targets: [{provider: openai, model: gpt-4o-mini}]
breaker:
  consecutive_failures: 4
  open_for: 10s
  max_open_for: 2m
  auth_open_for: 20m
  quota_open_for: 2h
  jitter: 0.2
  half_open_probes: 2
  probe_timeout: 90s
  recovery_stages: [0.25, 1.0]
  recovery_stage_duration: 5s
  triggers: {error_rate: {threshold: 0.5, window: 30s, min_requests: 10}}
`))
	if err != nil {
		t.Fatalf("config.Parse error = %v, want nil", err)
	}
	a := routing.Settings(c, c.Chain("a"))
	b := routing.Settings(c, c.Chain("b"))
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"consecutive failures", a.ConsecutiveFailures, 4},
		{"open for", a.OpenFor, 10 * time.Second},
		{"max open for", a.MaxOpenFor, 2 * time.Minute},
		{"auth open for", a.AuthOpenFor, 20 * time.Minute},
		{"quota open for", a.QuotaOpenFor, 2 * time.Hour},
		{"jitter", a.Jitter, 0.2},
		{"half-open probes", a.HalfOpenProbes, 2},
		{"probe timeout", a.ProbeTimeout, 90 * time.Second},
		{"recovery stages", slices.Equal(a.RecoveryStages, []float64{0.25, 1.0}), true},
		{"recovery stage duration", a.RecoveryStageDuration, 5 * time.Second},
		{"chain latency override", a.Latency, breaker.Latency{Threshold: 5 * time.Second, MinRequests: 5}},
		{"default error rate kept beside the override", a.ErrorRate, breaker.ErrorRate{Threshold: 0.5, Window: 30 * time.Second, MinRequests: 10}},
		{"no latency trigger without override", b.Latency, breaker.Latency{}},
		{"default error rate", b.ErrorRate, breaker.ErrorRate{Threshold: 0.5, Window: 30 * time.Second, MinRequests: 10}},
		{"settings validate", a.Validate() == nil && b.Validate() == nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	a.RecoveryStages[0] = 0.9
	if c.Breaker.RecoveryStages[0] != 0.25 {
		t.Errorf("config recovery stage after editing the settings: got %v, want 0.25 (Settings must copy)", c.Breaker.RecoveryStages[0])
	}
}
