package routing_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/routing"
)

// TestTable_ExplainMatchesPlan verifies Explain's steps are PlanFor's for
// the same breakers (recovering targets admitted), that it says why every
// target is in or out, and that explaining changes no breaker.
func TestTable_ExplainMatchesPlan(t *testing.T) {
	at := t0.Add(openFor + time.Second)
	tests := []struct {
		name    string
		extra   string
		setup   func(tbl *routing.Table, ch *routingChain)
		needs   routing.Needs
		reasons []string // per target in configuration order
		wantErr error
	}{
		{name: "all closed", reasons: []string{"closed", "closed", "closed"}},
		{name: "first open", setup: func(tbl *routing.Table, ch *routingChain) { open(ch.b(tbl, 0), at) },
			reasons: []string{"open until 2026-01-01T12:01:01Z", "closed", "closed"}},
		{name: "first half-open leads and is probed", setup: func(tbl *routing.Table, ch *routingChain) { open(ch.b(tbl, 0), t0) },
			reasons: []string{"probe", "closed", "closed"}},
		{name: "half-open left to the active prober", extra: "probes: {enabled: true}\n", setup: func(tbl *routing.Table, ch *routingChain) { open(ch.b(tbl, 0), t0) },
			reasons: []string{"half-open: left to the active prober", "closed", "closed"}},
		{name: "half-open left to the active prober, nothing else left", extra: "probes: {enabled: true}\n", setup: func(tbl *routing.Table, ch *routingChain) {
			open(ch.b(tbl, 0), t0)
			open(ch.b(tbl, 1), at)
			open(ch.b(tbl, 2), at)
		}, reasons: []string{"soonest-open", "open until 2026-01-01T12:01:01Z", "open until 2026-01-01T12:01:01Z"}},
		{name: "half-open behind a closed target is left out", setup: func(tbl *routing.Table, ch *routingChain) { open(ch.b(tbl, 1), t0) },
			reasons: []string{"closed", "half-open: probed only when no target precedes it", "closed"}},
		{name: "recovering counts as admitted", setup: func(tbl *routing.Table, ch *routingChain) { recovering(ch.b(tbl, 0)) },
			reasons: []string{"recovering", "closed", "closed"}},
		{name: "a target its API cannot serve is left out", needs: routing.Needs{Unserved: func(api config.API) string {
			if api == config.APIAnthropic {
				return "n > 1"
			}
			return ""
		}}, reasons: []string{"closed", "closed", "its API (anthropic) cannot serve n > 1"}},
		{name: "no capable target", needs: routing.Needs{Unserved: func(config.API) string { return "n > 1" }},
			reasons: []string{"its API (openai) cannot serve n > 1", "its API (openai-compatible) cannot serve n > 1", "its API (anthropic) cannot serve n > 1"},
			wantErr: routing.ErrNoCapableTarget},
		{name: "prompt beyond a context window", needs: routing.Needs{PromptTokens: 200000},
			reasons: []string{"context window 128000 below the prompt estimate 200000", "closed", "closed"}},
		{name: "all open tries the soonest", setup: func(tbl *routing.Table, ch *routingChain) {
			open(ch.b(tbl, 0), at.Add(2*time.Second))
			open(ch.b(tbl, 1), at)
			open(ch.b(tbl, 2), at.Add(time.Second))
		}, reasons: []string{"open until 2026-01-01T12:01:03Z", "soonest-open", "open until 2026-01-01T12:01:02Z"}},
		{name: "all open rejected", extra: "routing: {all_open: reject}\n", setup: func(tbl *routing.Table, ch *routingChain) {
			for i := range 3 {
				open(ch.b(tbl, i), at)
			}
		}, reasons: []string{"open until 2026-01-01T12:01:01Z", "open until 2026-01-01T12:01:01Z", "open until 2026-01-01T12:01:01Z"}, wantErr: routing.ErrAllOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, chain := newTable(t, tt.extra, 0)
			if tt.setup != nil {
				tt.setup(tbl, &routingChain{chain})
			}
			ex := tbl.Explain(chain, at, tt.needs)
			var got []string
			for _, v := range ex.Targets {
				got = append(got, v.Reason)
			}
			if !slices.Equal(got, tt.reasons) {
				t.Errorf("Explain reasons = %q, want %q", got, tt.reasons)
			}
			if !errors.Is(ex.Err, tt.wantErr) {
				t.Fatalf("Explain error = %v, want %v", ex.Err, tt.wantErr)
			}
			plan, err := tbl.PlanFor(chain, at, tt.needs)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PlanFor error = %v, want %v", err, tt.wantErr)
			}
			if g, w := steps(ex.Plan), steps(plan); !slices.EqualFunc(g, w, func(a, b step) bool {
				return a.Provider == b.Provider && a.Model == b.Model && a.Reason == b.Reason
			}) {
				t.Errorf("Explain steps = %v, PlanFor steps = %v", g, w)
			}
		})
	}
}

// TestTable_ExplainTakesNoProbeSlot verifies explaining a half-open target
// leaves its probe slot to the next real request.
func TestTable_ExplainTakesNoProbeSlot(t *testing.T) {
	tbl, chain := newTable(t, "", 0)
	b := tbl.Breaker(chain, 0)
	open(b, t0)
	at := t0.Add(openFor)
	for range 3 {
		if ex := tbl.Explain(chain, at, routing.Needs{}); ex.Targets[0].Reason != "probe" {
			t.Fatalf("Explain reason = %q, want probe", ex.Targets[0].Reason)
		}
	}
	if got := b.Snapshot(at).ProbesInFlight; got != 0 {
		t.Fatalf("probes in flight after Explain = %d, want 0", got)
	}
	p, err := tbl.Plan(chain, at)
	if err != nil || !p.Steps[0].Probe() {
		t.Fatalf("Plan after Explain = %v, %v; want a probe first", steps(p), err)
	}
	if ex := tbl.Explain(chain, at, routing.Needs{}); !strings.HasPrefix(ex.Targets[0].Reason, "half-open: every probe slot") {
		t.Errorf("Explain with the slot taken = %q, want the slot in use", ex.Targets[0].Reason)
	}
}

// routingChain gives the tables short access to a chain's breakers.
type routingChain struct{ ch *config.Chain }

func (c *routingChain) b(tbl *routing.Table, i int) *breaker.Breaker { return tbl.Breaker(c.ch, i) }
