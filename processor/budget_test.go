package processor

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/budget"
	"github.com/llm-failover/llm-failover/telemetry"
)

// spendBudgets charges every budget of h percent of its limit in its
// current window.
func spendBudgets(h *harness, percent int64) {
	now := h.srv.clock.Now()
	for _, b := range h.srv.state.Load().budgets.Budgets() {
		h.srv.budgetStore.Add(b.Key(), budget.WindowStart(b.Window, now), b.Limit*percent/100)
	}
}

// TestBudget_RouteDecisions verifies the route phase's answer for each
// budget state: planned as usual under or past the warning share, planned
// on the targets under a cap, refused 429 budget_exceeded (Retry-After to
// the day's end) when a refusing budget is exhausted or when no target is
// under the cap.
func TestBudget_RouteDecisions(t *testing.T) {
	for _, tc := range []struct {
		name, budgets string
		share         int64 // of the limit charged first, in percent
		want          decision
	}{
		{"under", "{name: b, usd: 1}", 50, decision{status: 200}},
		{"warning", "{name: b, usd: 1}", 90, decision{status: 200}},
		{"exhausted, refuse", "{name: b, usd: 1}", 100, decision{status: 429, code: "budget_exceeded", retryAfter: "86400"}},
		{"exhausted, cap with a target under it", "{name: b, usd: 1, exhausted: cap, price_cap: {input: 3, output: 10}}", 100, decision{status: 200}},
		{"exhausted, cap with none under it", "{name: b, usd: 1, exhausted: cap, price_cap: {input: 0.1, output: 0.1}}", 100, decision{status: 429, code: "budget_exceeded", retryAfter: "86400"}},
		{"another chain's budget", "{name: b, chain: other, usd: 1}", 100, decision{status: 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessYAML(t, strings.Replace(testConfig, "chains:\n", "chains:\n  - {name: other, match: {models: [o]}, targets: [{provider: openai, model: gpt-4o-mini}]}\n", 1)+
				"limits: {max_body_bytes: 4KiB}\nbudgets:\n  list: ["+tc.budgets+"]\n")
			spendBudgets(h, tc.share)
			got := h.decide(who{}, premiumBody)
			got.plan = nil
			if got != tc.want {
				t.Fatalf("decision: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestTrace_BudgetCapShowsOnTheRequestSpan verifies a plan an exhausted
// budget capped carries a budget event and names the target without a
// price (groq's llama) as skipped for budget_cap.
func TestTrace_BudgetCapShowsOnTheRequestSpan(t *testing.T) {
	h, exp := newTracedHarness(t, "budgets: {list: [{name: b, usd: 1, exhausted: cap, price_cap: {input: 3, output: 10}}]}\n"+
		"limits: {max_body_bytes: 4KiB}\n")
	spendBudgets(h, 100)
	if d := h.decide(who{}, premiumBody); d.status != 200 {
		t.Fatalf("decision: got %+v, want a plan (gpt-4o is under the cap)", d)
	}
	h.waitStreams()
	sp := spanNamed(t, exp.GetSpans(), "llm_failover.request")
	if ev := eventNamed(sp, telemetry.EventBudget); ev["llm_failover.budget"] != "b" || ev["llm_failover.budget.state"] != "capped" {
		t.Fatalf("budget event: got %v, want budget b capped", ev)
	}
	if ev := eventNamed(sp, telemetry.EventTargetSkipped); ev["llm_failover.model"] != "llama-3.3-70b-versatile" || ev["llm_failover.reason"] != "budget_cap" {
		t.Fatalf("skipped event: got %v, want llama skipped for budget_cap", ev)
	}
}

// TestBudget_RefusalCountsInNoClientWindow verifies a request a budget
// refuses is not counted in its client's rate window, and a client the
// policy forbids the chain gets its 403, not the budget's 429.
func TestBudget_RefusalCountsInNoClientWindow(t *testing.T) {
	h := newHarnessYAML(t, strings.Replace(testConfig, "chains:\n", "chains:\n  - {name: other, match: {models: [o]}, targets: [{provider: openai, model: gpt-4o-mini}]}\n", 1)+
		"budgets: {list: [{name: b, tokens: 10}]}\nclients:\n  default: {action: allow, rate: {limit: 5}}\n"+
		"  list: [{name: team, sources: [10.0.0.0/8], chains: [other]}]\nlimits: {max_body_bytes: 4KiB}\n")
	spendBudgets(h, 100)
	if d := h.decide(who{}, premiumBody); d.status != 429 || d.code != "budget_exceeded" {
		t.Fatalf("unknown caller: got %+v, want 429 budget_exceeded", d)
	}
	if reqs, _ := h.srv.ClientUsage("(unknown)"); reqs != 0 {
		t.Fatalf("rate window: got %d requests counted, want 0 (refused by the budget)", reqs)
	}
	if d := h.decide(who{source: "10.1.2.3"}, premiumBody); d.status != 403 {
		t.Fatalf("client not allowed the chain: got %+v, want 403", d)
	}
}
