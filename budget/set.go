package budget

import (
	"math"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/cost"
)

// Unit is what a budget counts.
type Unit uint8

// The units.
const (
	UnitUSD    Unit = iota + 1 // counted in nano-dollars (cost.NanoUSD)
	UnitTokens                 // input plus output tokens
)

// String names the unit as the metrics and the state file keys do.
func (u Unit) String() string {
	switch u {
	case UnitUSD:
		return "usd"
	case UnitTokens:
		return "tokens"
	}
	return "unknown"
}

// State is where a request stands against the budgets it matches, from
// the mildest to the strictest.
type State uint8

// The states.
const (
	Under   State = iota // no budget is past its warning share
	Warning              // a budget is past its warning share: cheaper targets first
	Capped               // a budget with exhausted: cap is exhausted: targets under its cap only
	Refused              // a budget with exhausted: refuse is exhausted: 429
)

// String names the state as the trace and the metrics show it.
func (s State) String() string {
	switch s {
	case Under:
		return "under"
	case Warning:
		return "warning"
	case Capped:
		return "capped"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Budget is one configured budget, compiled.
type Budget struct {
	Name   string
	Chain  string // "" for every chain
	Client string // "" for every client
	Window config.BudgetWindow
	Unit   Unit
	Limit  int64 // nano-dollars or tokens
	Warn   int64 // the counter past which the warning holds (Limit × warn share)
	Action config.BudgetAction
	Cap    cost.Price // with Action cap
	key    string     // the Store key: name, window and unit
}

// Key is the budget's Store key: its name, window and unit, so a reload
// that changes the window or the unit starts a new counter.
func (b *Budget) Key() string { return b.key }

// matches reports whether a request of chain and client counts in b.
func (b *Budget) matches(chain, client string) bool {
	return (b.Chain == "" || b.Chain == chain) && (b.Client == "" || b.Client == client)
}

// Set is the budgets of one configuration over a Store; it is immutable
// and safe for concurrent use (the Store carries the counters across
// reloads).
type Set struct {
	list  []Budget
	store Store
}

// NewSet compiles cfg's budgets over store.
func NewSet(cfg *config.Budgets, store Store) *Set {
	s := &Set{store: store, list: make([]Budget, 0, len(cfg.List))}
	for _, l := range cfg.List {
		b := Budget{Name: l.Name, Chain: l.Chain, Client: l.Client, Window: l.Window, Action: l.Exhausted}
		if l.USD != 0 {
			b.Unit, b.Limit = UnitUSD, cost.NanoUSD(l.USD)
		} else {
			b.Unit, b.Limit = UnitTokens, l.Tokens
		}
		b.Warn = int64(math.Ceil(float64(b.Limit) * l.WarnShare()))
		if l.PriceCap != nil {
			b.Cap = cost.Price(*l.PriceCap)
		}
		b.key = l.Name + "|" + string(l.Window) + "|" + b.Unit.String()
		s.list = append(s.list, b)
	}
	return s
}

// Empty reports whether the set has no budget.
func (s *Set) Empty() bool { return s == nil || len(s.list) == 0 }

// Budgets returns the compiled budgets, in configuration order.
func (s *Set) Budgets() []Budget { return s.list }

// Decision is what the budgets a request matches ask of its plan.
type Decision struct {
	State State
	// Budget names the budget that decided (the first at the strictest state).
	Budget string
	// Cap is the price cap targets must be under (Capped): the lowest
	// input and output caps of the exhausted capping budgets.
	Cap cost.Price
	// RetryAt is when the refusal ends (Refused): the latest window end of
	// the exhausted refusing budgets.
	RetryAt time.Time
}

// Decide reads the counters of the budgets a request of chain and client
// matches at now: the strictest state among them. It takes no lock.
func (s *Set) Decide(chain, client string, now time.Time) Decision {
	var d Decision
	if s.Empty() {
		return d
	}
	var starts windowStarts
	for i := range s.list {
		b := &s.list[i]
		if !b.matches(chain, client) {
			continue
		}
		start := starts.of(b.Window, now)
		used := s.store.Get(b.key, start)
		switch {
		case used >= b.Limit && b.Action == config.BudgetRefuse:
			if d.State < Refused {
				d = Decision{State: Refused, Budget: b.Name}
			}
			d.RetryAt = later(d.RetryAt, WindowEnd(b.Window, start))
		case used >= b.Limit && d.State <= Capped:
			if d.State < Capped {
				d = Decision{State: Capped, Budget: b.Name, Cap: b.Cap}
			}
			d.Cap.Input, d.Cap.Output = min(d.Cap.Input, b.Cap.Input), min(d.Cap.Output, b.Cap.Output)
		case used >= b.Warn && d.State < Warning:
			d = Decision{State: Warning, Budget: b.Name}
		}
	}
	return d
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Charge is one answer's cost and tokens, charged to the budgets its
// request matches.
type Charge struct {
	Chain, Client string
	Tokens        int64 // input plus output
	// NanoUSD is the cost; Priced is unset when the target has no price
	// (dollar budgets are then not charged: an unknown cost is not 0).
	NanoUSD int64
	Priced  bool
}

// Crossing is a budget that a charge took past its warning share or its
// limit: each is reported once per window, by the charge that crossed.
type Crossing struct {
	Budget *Budget
	State  State // Warning, or Capped / Refused for the limit (the budget's action)
	Used   int64
}

// Charge adds c to every budget it matches at now and returns the
// crossings it caused.
func (s *Set) Charge(c Charge, now time.Time) []Crossing {
	if s.Empty() {
		return nil
	}
	var out []Crossing
	for i := range s.list {
		b := &s.list[i]
		if !b.matches(c.Chain, c.Client) {
			continue
		}
		amount := c.Tokens
		if b.Unit == UnitUSD {
			if !c.Priced {
				continue
			}
			amount = c.NanoUSD
		}
		if amount <= 0 {
			continue
		}
		used := s.store.Add(b.key, WindowStart(b.Window, now), amount)
		before := used - amount
		switch {
		case before < b.Limit && used >= b.Limit:
			st := Refused
			if b.Action == config.BudgetCap {
				st = Capped
			}
			out = append(out, Crossing{Budget: b, State: st, Used: used})
		case before < b.Warn && used >= b.Warn:
			out = append(out, Crossing{Budget: b, State: Warning, Used: used})
		}
	}
	return out
}

// Usage is one budget's counter in its current window.
type Usage struct {
	Budget *Budget
	Start  time.Time
	Used   int64
}

// Each calls fn with every budget's counter at now (metrics, status).
func (s *Set) Each(now time.Time, fn func(Usage)) {
	if s.Empty() {
		return
	}
	for i := range s.list {
		b := &s.list[i]
		start := WindowStart(b.Window, now)
		fn(Usage{Budget: b, Start: start, Used: s.store.Get(b.key, start)})
	}
}

// WindowEndOf is the end of the window starting at start of the budget
// whose Store key is key, or the zero time when no budget has that key or
// start begins none of its windows (for Persister.Load).
func (s *Set) WindowEndOf(key string, start time.Time) time.Time {
	if s.Empty() {
		return time.Time{}
	}
	for i := range s.list {
		if w := s.list[i].Window; s.list[i].key == key {
			if !WindowStart(w, start).Equal(start) {
				return time.Time{} // not the start of one of its windows
			}
			return WindowEnd(w, start)
		}
	}
	return time.Time{}
}

// windowStarts computes each window kind's start at most once per call.
type windowStarts struct {
	hour, day, month time.Time
}

func (w *windowStarts) of(win config.BudgetWindow, now time.Time) time.Time {
	p := &w.day
	switch win {
	case config.WindowHour:
		p = &w.hour
	case config.WindowMonth:
		p = &w.month
	}
	if p.IsZero() {
		*p = WindowStart(win, now)
	}
	return *p
}
