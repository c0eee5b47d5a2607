package config

import (
	"fmt"
	"math"
	"time"
)

// Price is what a model costs, in US dollars per million tokens. It
// overrides the price table llm-failover ships (cost/prices.yaml).
type Price struct {
	// Input is the price of a million prompt tokens not read from a cache.
	// Required, 0..1000000.
	Input float64 `json:"input"`
	// CachedInput is the price of a million prompt tokens read from the
	// provider's prompt cache. Default 0: cached tokens cost Input. 0..1000000.
	CachedInput float64 `json:"cached_input,omitempty"`
	// Output is the price of a million completion tokens (reasoning
	// included). Required, 0..1000000.
	Output float64 `json:"output"`
}

// BudgetWindow is the period a budget counts over.
type BudgetWindow string

// The budget windows: calendar periods in UTC.
const (
	WindowHour  BudgetWindow = "hour"
	WindowDay   BudgetWindow = "day"
	WindowMonth BudgetWindow = "month"
)

// BudgetAction is what happens to a request once a budget is exhausted.
type BudgetAction string

// The budget actions.
const (
	// BudgetRefuse answers 429 budget_exceeded with a Retry-After at the
	// window's end.
	BudgetRefuse BudgetAction = "refuse"
	// BudgetCap plans only the targets whose price is under price_cap.
	BudgetCap BudgetAction = "cap"
)

// Budgets are spending limits over calendar windows (docs/configuration.md,
// "Cost and budgets"; docs/design.md, "Cost and budgets").
type Budgets struct {
	// StateFile keeps the budget counters across restarts: read at start,
	// written atomically (a temporary file renamed into place) at most every
	// save_interval while answers are charged, and at shutdown. Default
	// empty: counters start at 0 on every start.
	StateFile string `json:"state_file,omitempty"`
	// SaveInterval is the most time between two writes of state_file while
	// answers are charged. Default 30s, 1s..1h.
	SaveInterval Duration `json:"save_interval,omitempty"`
	// List are the budgets. Default none; at most 1000, names unique.
	List []Budget `json:"list,omitempty"`
}

// Budget is one spending limit: in dollars or tokens, over one window, for
// the requests of one chain, one client, both, or all.
type Budget struct {
	// Name identifies the budget in metrics, events, errors and the state
	// file. Required, a name, unique.
	Name string `json:"name"`
	// Chain limits the budget to the requests of this chain. Default empty:
	// every chain.
	Chain string `json:"chain,omitempty"`
	// Client limits the budget to the requests of this client of the
	// clients policy ("(unknown)" for the callers no client matches).
	// Default empty: every client.
	Client string `json:"client,omitempty"`
	// Window is the calendar period counted, in UTC: hour, day or month.
	// Default day.
	Window BudgetWindow `json:"window,omitempty"`
	// USD is the limit in US dollars of the answers' cost. Exactly one of
	// usd and tokens; 0.000001..1000000000.
	USD float64 `json:"usd,omitempty"`
	// Tokens is the limit in tokens (input plus output) of the answers.
	// Exactly one of usd and tokens; 1..1000000000000000.
	Tokens int64 `json:"tokens,omitempty"`
	// Warn is the share of the limit past which plans put cheaper targets
	// first. Default 0.8, (0,1]; 1 turns the warning off.
	Warn *float64 `json:"warn,omitempty"`
	// Exhausted is what happens once the limit is reached: refuse (429
	// budget_exceeded with Retry-After at the window's end) or cap (plan
	// only targets under price_cap). Default refuse.
	Exhausted BudgetAction `json:"exhausted,omitempty"`
	// PriceCap is the most a target may cost to be planned once the
	// budget is exhausted with exhausted: cap: its input and its output
	// price must each be at most this (cached_input is not compared). A
	// target with no known price is never under the cap. Required with cap.
	PriceCap *Price `json:"price_cap,omitempty"`
}

// DefaultBudgetWarn is a budget's default warning share.
const DefaultBudgetWarn = 0.8

// DefaultBudgetSaveInterval is budgets.save_interval's default.
const DefaultBudgetSaveInterval = 30 * time.Second

// MaxBudgets bounds budgets.list.
const MaxBudgets = 1000

// WarnShare is the budget's warning share (its default applied).
func (b *Budget) WarnShare() float64 {
	if b.Warn == nil {
		return DefaultBudgetWarn
	}
	return *b.Warn
}

func (b *Budgets) applyDefaults() {
	setDur(&b.SaveInterval, DefaultBudgetSaveInterval)
	for i := range b.List {
		l := &b.List[i]
		if l.Window == "" {
			l.Window = WindowDay
		}
		if l.Exhausted == "" {
			l.Exhausted = BudgetRefuse
		}
		if l.Warn == nil {
			w := DefaultBudgetWarn
			l.Warn = &w
		}
	}
}

// price checks a price; path names it.
func (p *problems) price(path string, pr Price) {
	for _, f := range []struct {
		name string
		v    float64
	}{{"input", pr.Input}, {"cached_input", pr.CachedInput}, {"output", pr.Output}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 1e6 {
			p.bad(path+"."+f.name, "%v is outside 0..1000000 (US dollars per million tokens)", f.v)
		}
	}
}

// validateBudgets checks the budgets section and the prices of providers
// and targets.
func (c *Config) validateBudgets(p *problems) {
	for i := range c.Providers {
		for m, pr := range c.Providers[i].Prices {
			if m == "" {
				p.bad(fmt.Sprintf("providers[%d].prices", i), "empty model name")
			}
			p.price(fmt.Sprintf("providers[%d].prices[%q]", i, m), pr)
		}
	}
	for i, ch := range c.Chains {
		for j, t := range ch.Targets {
			path := fmt.Sprintf("chains[%d].targets[%d]", i, j)
			if t.Price != nil {
				p.price(path+".price", *t.Price)
			}
			p.intIn(path+".cost_tier", t.CostTier, 0, 100)
		}
	}
	b := &c.Budgets
	p.durIn("budgets.save_interval", b.SaveInterval, time.Second, time.Hour)
	if len(b.List) > MaxBudgets {
		p.bad("budgets.list", "%d budgets exceed %d", len(b.List), MaxBudgets)
	}
	names := map[string]bool{}
	for i := range b.List {
		l := &b.List[i]
		path := fmt.Sprintf("budgets.list[%d]", i)
		p.uniqueName(path+".name", l.Name, names)
		if l.Chain != "" && c.Chain(l.Chain) == nil {
			p.bad(path+".chain", "%q is not a configured chain", l.Chain)
		}
		if l.Client != "" && l.Client != UnknownClient && !c.hasClient(l.Client) {
			p.bad(path+".client", "%q is not a client of clients.list (or %q)", l.Client, UnknownClient)
		}
		switch l.Window {
		case WindowHour, WindowDay, WindowMonth:
		default:
			p.bad(path+".window", "%q is not hour, day or month", l.Window)
		}
		switch {
		case (l.USD != 0) == (l.Tokens != 0):
			p.bad(path, "set exactly one of usd and tokens")
		case l.USD != 0 && (math.IsNaN(l.USD) || l.USD < 1e-6 || l.USD > 1e9):
			p.bad(path+".usd", "%v is outside 0.000001..1000000000", l.USD)
		case l.Tokens != 0 && (l.Tokens < 1 || l.Tokens > 1e15):
			p.bad(path+".tokens", "%d is outside 1..1000000000000000", l.Tokens)
		}
		if w := l.WarnShare(); math.IsNaN(w) || w <= 0 || w > 1 {
			p.bad(path+".warn", "%v is outside (0,1]", w)
		}
		switch l.Exhausted {
		case BudgetRefuse:
			if l.PriceCap != nil {
				p.bad(path+".price_cap", "only with exhausted: cap")
			}
		case BudgetCap:
			if l.PriceCap == nil {
				p.bad(path+".price_cap", "required with exhausted: cap")
			} else {
				p.price(path+".price_cap", *l.PriceCap)
			}
		default:
			p.bad(path+".exhausted", "%q is not refuse or cap", l.Exhausted)
		}
	}
}

// UnknownClient names, in a budget's client, the callers no listed client
// matches (access.Unknown).
const UnknownClient = "(unknown)"

// hasClient reports whether clients.list has a client called name.
func (c *Config) hasClient(name string) bool {
	for _, cl := range c.Clients.List {
		if cl.Name == name {
			return true
		}
	}
	return false
}

// ApplyBudgetDefaults applies the budgets section's defaults to b alone
// (for code that builds a section without a whole configuration).
func ApplyBudgetDefaults(b *Budgets) { b.applyDefaults() }
