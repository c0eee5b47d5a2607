package config_test

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestBudgets_Defaults verifies a budget's window, warning share and
// action default to day, 0.8 and refuse, and save_interval to 30s.
func TestBudgets_Defaults(t *testing.T) {
	c, err := config.Parse([]byte(minimal + "budgets:\n  list:\n    - {name: all, usd: 10}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Budgets.List[0]
	if b.Window != config.WindowDay || b.WarnShare() != 0.8 || b.Exhausted != config.BudgetRefuse || b.PriceCap != nil {
		t.Errorf("budget defaults: got %+v (warn %v), want day, 0.8, refuse", b, b.WarnShare())
	}
	if got := c.Budgets.SaveInterval.D(); got != config.DefaultBudgetSaveInterval {
		t.Errorf("save_interval: got %s, want %s", got, config.DefaultBudgetSaveInterval)
	}
}

// TestBudgets_AcceptsPricesAndALimitExactlyAtItsBounds verifies prices per
// provider and target, cost tiers and budgets at their bounds load.
func TestBudgets_AcceptsPricesAndALimitExactlyAtItsBounds(t *testing.T) {
	y := `
providers:
  - {name: openai, api: openai, host: api.openai.com, prices: {my-model: {input: 1000000, output: 0}}}
chains:
  - name: main
    match: {models: [gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o, cost_tier: 100, price: {input: 0, cached_input: 0, output: 0}}
      - {provider: openai, model: my-model, cost_tier: 0}
budgets:
  save_interval: 1s
  list:
    - {name: a, usd: 0.000001, warn: 1, window: hour}
    - {name: b, tokens: 1000000000000000, chain: main, window: month, exhausted: cap, price_cap: {input: 1, output: 2}}
`
	c, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers[0].Prices["my-model"]; got.Input != 1e6 {
		t.Errorf("provider prices: got %+v", got)
	}
	if got := c.Chains[0].Targets[0]; got.CostTier != 100 || got.Price == nil {
		t.Errorf("target: got %+v", got)
	}
}

// TestBudgets_ValidateReportsEveryProblem verifies each bad budget and
// price field is reported with its path.
func TestBudgets_ValidateReportsEveryProblem(t *testing.T) {
	y := `
providers:
  - {name: openai, api: openai, host: api.openai.com, prices: {m: {input: -1, output: 1}}}
chains:
  - name: main
    match: {models: [gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o, cost_tier: 101, price: {input: 1, output: 1000001}}
budgets:
  save_interval: 0.5
  list:
    - {name: a, usd: 1, tokens: 5}
    - {name: a, chain: nope, client: nobody, window: week, usd: 1}
    - {name: c, tokens: 1, warn: 0, exhausted: drop}
    - {name: d, tokens: 1, exhausted: cap}
    - {name: e, usd: 0.0000001, price_cap: {input: 1, output: 1}}
    - {name: f}
`
	_, err := config.Parse([]byte(y))
	if err == nil {
		t.Fatal("Parse: no error")
	}
	for _, want := range []string{
		`providers[0].prices["m"].input:`,
		"chains[0].targets[0].price.output:",
		"chains[0].targets[0].cost_tier:",
		"budgets.save_interval:",
		"budgets.list[0]: set exactly one of usd and tokens",
		`budgets.list[1].name: "a" is used twice`,
		"budgets.list[1].chain:",
		"budgets.list[1].client:",
		"budgets.list[1].window:",
		"budgets.list[2].warn:",
		"budgets.list[2].exhausted:",
		"budgets.list[3].price_cap: required with exhausted: cap",
		"budgets.list[4].usd:",
		"budgets.list[4].price_cap: only with exhausted: cap",
		"budgets.list[5]: set exactly one of usd and tokens",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}
