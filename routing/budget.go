package routing

import (
	"errors"
	"fmt"
	"slices"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/cost"
)

// ErrOverBudget: a budget is exhausted and no target of the chain is under
// its price cap (429 budget_exceeded).
var ErrOverBudget = errors.New("budget exhausted: no target under its price cap")

// BudgetNeeds is what the budgets a request matches ask of its plan
// (budget.Decision, as the route phase reads it).
type BudgetNeeds struct {
	// Cheaper puts cheaper targets first: by cost_tier when the chain has
	// tiers, else by price (unpriced targets last).
	Cheaper bool
	// Cap, when set, plans only targets whose input and output prices are
	// each at most Cap's (cheapest first); unpriced targets never are.
	Cap *cost.Price
}

// targetPrice is a target's resolved price.
type targetPrice struct {
	price cost.Price
	known bool
}

// ResolvePrice is the price of target tg of cfg: its own price, else its
// provider's prices for its model, else the shipped table's (cost.Shipped);
// false when none knows it (its cost is unknown, not zero).
func ResolvePrice(cfg *config.Config, tg config.Target) (cost.Price, bool) {
	if tg.Price != nil {
		return cost.Price(*tg.Price), true
	}
	if p := cfg.Provider(tg.Provider); p != nil {
		if pr, ok := p.Prices[tg.Model]; ok {
			return cost.Price(pr), true
		}
	}
	return cost.Shipped().Lookup(tg.Model)
}

// chainPrices resolves the price of every target of every chain of cfg.
func chainPrices(cfg *config.Config) map[*config.Chain][]targetPrice {
	out := make(map[*config.Chain][]targetPrice, len(cfg.Chains))
	for i := range cfg.Chains {
		ch := &cfg.Chains[i]
		ps := make([]targetPrice, len(ch.Targets))
		for j, tg := range ch.Targets {
			ps[j].price, ps[j].known = ResolvePrice(cfg, tg)
		}
		out[ch] = ps
	}
	return out
}

// PriceFor is the price of the target provider/model of the chain named
// chain (the attempt phase's target), or false when it has none.
func (t *Table) PriceFor(chain, providerName, model string) (cost.Price, bool) {
	ch := t.byName[chain]
	if ch == nil {
		return cost.Price{}, false
	}
	for i, tg := range ch.Targets {
		if tg.Provider == providerName && tg.Model == model {
			p := t.prices[ch][i]
			return p.price, p.known
		}
	}
	return cost.Price{}, false
}

// UnderCap reports whether the target of ch at index i has a known price
// at most cap, input and output (one a capped plan may keep).
func (t *Table) UnderCap(ch *config.Chain, i int, cap cost.Price) bool {
	ps := t.prices[ch]
	return i >= 0 && i < len(ps) && underCap(ps[i], cap)
}

// underCap reports whether the price p is known and at most cap, input and output.
func underCap(p targetPrice, cap cost.Price) bool {
	return p.known && p.price.Input <= cap.Input && p.price.Output <= cap.Output
}

// applyBudget orders (and, under a cap, filters) the candidate targets of
// ch as the budgets ask: cheaper first, keeping chain order among equals.
// A cap that leaves no candidate is ErrOverBudget.
func (t *Table) applyBudget(ch *config.Chain, candidates []int, b BudgetNeeds) ([]int, error) {
	if !b.Cheaper && b.Cap == nil {
		return candidates, nil
	}
	prices := t.prices[ch]
	if b.Cap != nil {
		kept := candidates[:0]
		for _, i := range candidates {
			if underCap(prices[i], *b.Cap) {
				kept = append(kept, i)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("routing: chain %q: %w", ch.Name, ErrOverBudget)
		}
		candidates = kept
	}
	tiered := slices.ContainsFunc(ch.Targets, func(tg config.Target) bool { return tg.CostTier > 0 })
	rank := func(i int) float64 {
		if tiered && b.Cap == nil {
			if tier := ch.Targets[i].CostTier; tier > 0 {
				return float64(tier)
			}
			return 1e18 // untiered: after every tier
		}
		if p := prices[i]; p.known {
			return p.price.Rank()
		}
		return 1e18 // unpriced: last
	}
	// A stable insertion sort on ranks computed once: chains are short
	// (limits.max_targets <= 32) and this allocates nothing.
	var ranks [64]float64
	for k, i := range candidates {
		ranks[k] = rank(i)
	}
	for k := 1; k < len(candidates); k++ {
		for j := k; j > 0 && ranks[j] < ranks[j-1]; j-- {
			ranks[j], ranks[j-1] = ranks[j-1], ranks[j]
			candidates[j], candidates[j-1] = candidates[j-1], candidates[j]
		}
	}
	return candidates, nil
}
