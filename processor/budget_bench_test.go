package processor

import (
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/budget"
)

// BenchmarkRoutePhaseBudgets measures the route phase (headers and a 2 KB
// body: inspect, resolve, plan) with no budget, with three budgets that
// match and are under their warning share, and with three past it
// (cheaper targets first), in the same run: the ratio to "none" is what the
// budget policy costs a plan.
func BenchmarkRoutePhaseBudgets(b *testing.B) {
	const three = "budgets:\n  list:\n" +
		"    - {name: all, window: month, usd: 1000}\n" +
		"    - {name: premium, chain: premium, window: day, usd: 50}\n" +
		"    - {name: premium-tokens, chain: premium, window: hour, tokens: 1000000}\n"
	for _, bc := range []struct {
		name, yaml string
		warning    bool // every budget is charged 90 % of its limit first
	}{
		{"none", "", false},
		{"under", three, false},
		{"warning", three, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b, bc.yaml)
			st := h.srv.state.Load()
			if bc.warning {
				spendBudgets(h, 90)
				if d := st.budgets.Decide("premium", "", h.srv.clock.Now()); d.State != budget.Warning {
					b.Fatalf("decision: got %v, want warning", d.State)
				}
			}
			body := benchBody(2 << 10)
			rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "bench")
			rb := reqBody(body)
			b.ReportAllocs()
			for b.Loop() {
				r := newRouteStream(h.srv, st)
				mustHandle(b, r, rh)
				mustHandle(b, r, rb)
			}
		})
	}
}

// BenchmarkBudgetDecide measures the budgets' read alone: three matching
// budgets' counters (no lock) and the decision.
func BenchmarkBudgetDecide(b *testing.B) {
	h := newHarness(b, "budgets:\n  list:\n    - {name: all, window: month, usd: 1000}\n    - {name: p, chain: premium, window: day, usd: 50}\n    - {name: t, chain: premium, window: hour, tokens: 1000000}\n")
	set := h.srv.state.Load().budgets
	now := time.Date(2026, 5, 17, 10, 0, 0, 0, time.UTC)
	set.Charge(budget.Charge{Chain: "premium", Tokens: 10, NanoUSD: 10, Priced: true}, now)
	b.ReportAllocs()
	for b.Loop() {
		set.Decide("premium", "", now)
	}
}
