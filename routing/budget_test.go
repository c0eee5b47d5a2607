package routing_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/cost"
	"github.com/llm-failover/llm-failover/routing"
)

// budgetYAML has a chain priced three ways: the shipped table (gpt-4o,
// gpt-4o-mini), a provider's prices (llama) and none (mystery).
const budgetYAML = `
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: groq, api: openai-compatible, host: api.groq.com, prices: {llama: {input: 0.5, output: 0.8}}}
chains:
  - name: main
    match: {models: [m]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: groq, model: mystery}
      - {provider: groq, model: llama}
      - {provider: openai, model: gpt-4o-mini}
  - name: tiers
    match: {models: [t]}
    targets:
      - {provider: openai, model: gpt-4o, cost_tier: 3}
      - {provider: groq, model: mystery}
      - {provider: groq, model: llama, cost_tier: 2}
      - {provider: openai, model: gpt-4o-mini, cost_tier: 2, price: {input: 9, output: 9}}
`

func budgetTable(t testing.TB) (*routing.Table, *config.Config) {
	t.Helper()
	cfg, err := config.Parse([]byte(budgetYAML))
	if err != nil {
		t.Fatal(err)
	}
	return routing.NewTable(cfg, routing.NewRegistry(&fakeClock{t: t0}, nil), func() float64 { return 0 }), cfg
}

func models(p routing.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Model)
	}
	return out
}

// TestPlanFor_BudgetOrdersCheaperFirstOrCaps verifies the plans the
// budgets ask for: chain order without budget pressure, cheaper first by
// price (unpriced last) or by cost_tier (untiered last, ties in chain
// order), and only targets under a cap, cheapest first.
func TestPlanFor_BudgetOrdersCheaperFirstOrCaps(t *testing.T) {
	tbl, cfg := budgetTable(t)
	for _, tc := range []struct {
		name, chain string
		b           routing.BudgetNeeds
		want        []string
	}{
		{"no pressure: chain order", "main", routing.BudgetNeeds{}, []string{"gpt-4o", "mystery", "llama", "gpt-4o-mini"}},
		{"warning: by price, unpriced last", "main", routing.BudgetNeeds{Cheaper: true}, []string{"gpt-4o-mini", "llama", "gpt-4o", "mystery"}},
		{"warning: by tier, ties in chain order", "tiers", routing.BudgetNeeds{Cheaper: true}, []string{"llama", "gpt-4o-mini", "gpt-4o", "mystery"}},
		{"cap: only targets under it, cheapest first", "main", routing.BudgetNeeds{Cap: &cost.Price{Input: 1, Output: 1}}, []string{"gpt-4o-mini", "llama"}},
		{"cap at a price exactly: kept", "main", routing.BudgetNeeds{Cap: &cost.Price{Input: 0.5, Output: 0.8}}, []string{"gpt-4o-mini", "llama"}},
		{"cap ranks by price, not tier", "tiers", routing.BudgetNeeds{Cap: &cost.Price{Input: 9, Output: 9}}, []string{"llama", "gpt-4o-mini"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tbl.PlanFor(cfg.Chain(tc.chain), t0, routing.Needs{Budget: tc.b})
			if err != nil || !slices.Equal(models(p), tc.want) {
				t.Fatalf("plan: got %v (%v), want %v", models(p), err, tc.want)
			}
		})
	}
}

// TestPlanFor_CapWithNoTargetUnderItIsOverBudget verifies a cap no target
// meets is ErrOverBudget, not a plan of targets over it.
func TestPlanFor_CapWithNoTargetUnderItIsOverBudget(t *testing.T) {
	tbl, cfg := budgetTable(t)
	_, err := tbl.PlanFor(cfg.Chain("main"), t0, routing.Needs{Budget: routing.BudgetNeeds{Cap: &cost.Price{Input: 0.1, Output: 0.1}}})
	if !errors.Is(err, routing.ErrOverBudget) {
		t.Fatalf("PlanFor: got %v, want ErrOverBudget", err)
	}
}

// TestPriceFor_TargetOverProviderOverShippedTable verifies the price
// precedence and that an unknown model has no price.
func TestPriceFor_TargetOverProviderOverShippedTable(t *testing.T) {
	tbl, _ := budgetTable(t)
	shipped, _ := cost.Shipped().Lookup("gpt-4o")
	for _, tc := range []struct {
		chain, provider, model string
		want                   cost.Price
		known                  bool
	}{
		{"main", "openai", "gpt-4o", shipped, true},
		{"main", "groq", "llama", cost.Price{Input: 0.5, Output: 0.8}, true},
		{"tiers", "openai", "gpt-4o-mini", cost.Price{Input: 9, Output: 9}, true},
		{"main", "groq", "mystery", cost.Price{}, false},
		{"nope", "openai", "gpt-4o", cost.Price{}, false},
	} {
		got, ok := tbl.PriceFor(tc.chain, tc.provider, tc.model)
		if got != tc.want || ok != tc.known {
			t.Errorf("PriceFor(%s, %s/%s) = %+v, %v; want %+v, %v", tc.chain, tc.provider, tc.model, got, ok, tc.want, tc.known)
		}
	}
}

// BenchmarkPlanFor_Budget measures a plan without budget pressure, past a
// warning (cheaper first) and under a cap, on the same four-target chain.
func BenchmarkPlanFor_Budget(b *testing.B) {
	tbl, cfg := budgetTable(b)
	ch := cfg.Chain("main")
	for _, bc := range []struct {
		name string
		b    routing.BudgetNeeds
	}{
		{"none", routing.BudgetNeeds{}},
		{"cheaper", routing.BudgetNeeds{Cheaper: true}},
		{"cap", routing.BudgetNeeds{Cap: &cost.Price{Input: 1, Output: 1}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tbl.PlanFor(ch, t0, routing.Needs{Budget: bc.b}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
