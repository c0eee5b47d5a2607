package processor

import (
	"errors"
	"fmt"
	"math"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/budget"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/cost"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file is the budgets' side of the server: the counters across
// reloads and restarts, the route phase's decision (refuse, cap, cheaper
// first) and its visibility. The attempt phase charges answers in cost.go.

// budgetCodeExceeded is the error code (and metric code) of a request a
// budget refuses.
const budgetCodeExceeded = "budget_exceeded"

// startBudgets loads the state file of cfg's budgets (budgets.state_file,
// read at start only) into the counters. A file that cannot be read is
// logged and the counters start at 0.
func (s *Server) startBudgets(cfg *config.Config) {
	if cfg.Budgets.StateFile == "" {
		return
	}
	s.budgetFile = budget.NewPersister(cfg.Budgets.StateFile, cfg.Budgets.SaveInterval.D(), s.budgetStore, func(err error) {
		s.log.Warn("budget state file not written", "error", err.Error())
	})
	n, err := s.budgetFile.Load(s.clock.Now(), s.state.Load().budgets.WindowEndOf)
	if err != nil {
		s.log.Warn("budget state file not loaded: the budgets start at 0", "error", err.Error())
		return
	}
	s.log.Info("budget state file loaded", "file", cfg.Budgets.StateFile, "counters", n)
}

// SaveBudgets writes the budget counters to budgets.state_file now (at
// shutdown), after any write under way; nothing without a state file.
func (s *Server) SaveBudgets() error {
	if s.budgetFile == nil {
		return nil
	}
	return s.budgetFile.Close(s.clock.Now())
}

// observeBudgets registers each budget's used share as a gauge.
func (s *Server) observeBudgets() error {
	_, err := s.tel.ObserveBudgets(func(yield func(telemetry.BudgetGauge)) {
		s.state.Load().budgets.Each(s.clock.Now(), func(u budget.Usage) {
			yield(telemetry.BudgetGauge{Budget: u.Budget.Name, Unit: u.Budget.Unit.String(), Share: float64(u.Used) / float64(u.Budget.Limit)})
		})
	})
	return err
}

// budgetGate reads the budgets a request of ch for model matches: it
// refuses the request (429 budget_exceeded) when a budget that refuses is
// exhausted, and otherwise sets what its plan must do in needs (a cap, or
// cheaper targets first). Nothing without budgets. It runs before the
// client's admission, so a request it refuses counts in no client window,
// and leaves a client the policy does not allow the route to admitClient
// (403, which says nothing of budgets).
func (r *routeStream) budgetGate(ch *config.Chain, model string, needs *routing.Needs) []*extprocv3.ProcessingResponse {
	set := r.st.budgets
	if set.Empty() {
		return nil
	}
	if c := r.client.id.Client; r.st.access.Active() && c != nil &&
		c.Authorize(access.Route{Chain: ch.Name, Model: model, ChainHeader: r.chainHeader != ""}) != access.Allowed {
		return nil
	}
	now := r.s.clock.Now()
	d := set.Decide(ch.Name, r.budgetClient(), now)
	if d.State == budget.Under {
		return nil
	}
	r.budget = d
	r.s.tel.CountBudgetDecision(d.Budget, d.State.String())
	if sp := r.obs.span; sp != nil {
		sp.AddEvent(telemetry.EventBudget, trace.WithTimestamp(now), trace.WithAttributes(
			attribute.String("llm_failover.budget", d.Budget), attribute.String("llm_failover.budget.state", d.State.String())))
	}
	switch d.State {
	case budget.Refused:
		return r.refuseBudget(ch.Name, d.Budget, d.RetryAt, now)
	case budget.Capped:
		c := d.Cap
		needs.Budget.Cap = &c
	case budget.Warning:
		needs.Budget.Cheaper = true
	}
	return nil
}

// budgetClient is the name budgets know the request's client by: the
// admitted client's, access.Unknown for an unknown caller; "" without a
// clients policy.
func (r *routeStream) budgetClient() string {
	if c := r.client.id.Client; c != nil && r.st.access.Active() {
		return c.Name
	}
	return ""
}

// overBudget answers a plan a budget's price cap left without a target:
// refused like an exhausted budget that refuses, until that window ends.
func (r *routeStream) overBudget(ch *config.Chain, err error) []*extprocv3.ProcessingResponse {
	if !errors.Is(err, routing.ErrOverBudget) {
		return nil
	}
	now := r.s.clock.Now()
	end := now
	for _, b := range r.st.budgets.Budgets() {
		if b.Name == r.budget.Budget {
			end = budget.WindowEnd(b.Window, budget.WindowStart(b.Window, now))
		}
	}
	r.budget.State = budget.Refused
	return r.refuseBudget(ch.Name, r.budget.Budget, end, now)
}

// refuseBudget answers 429 budget_exceeded with Retry-After in whole
// seconds until retryAt.
func (r *routeStream) refuseBudget(chain, name string, retryAt, now time.Time) []*extprocv3.ProcessingResponse {
	secs := max(int64(math.Ceil(retryAt.Sub(now).Seconds())), 1)
	e := provider.ErrorObject{Type: "insufficient_quota", Code: budgetCodeExceeded,
		Message: fmt.Sprintf("budget %q is exhausted until %s; retry after %d s", name, retryAt.UTC().Format(time.RFC3339), secs)}
	extra := &mutation{}
	extra.setHeader("retry-after", fmt.Sprint(secs))
	extra.setHeader(contract.HeaderBudget, budgetHeaderValue(budget.Refused, name))
	r.step = routeDone
	r.rejected(429, budgetCodeExceeded)
	if r.s.events != nil {
		ev := events.Event{Kind: events.KindPolicyDenial, Time: now, RequestID: r.reqID, Chain: chain, Client: r.budgetClient(),
			Reason: budgetCodeExceeded, Status: 429, Budget: name, Detail: e.Message}
		r.s.events.Publish(ev)
	}
	r.logger().Info("request refused by a budget", "budget", name, "chain", chain, "retry_after_s", secs)
	return one(immediate(429, provider.ErrorJSON(e), budgetCodeExceeded, extra))
}

// budgetHeaderValue is the x-llm-failover-budget header: the budget state
// that shaped the plan and the budget that decided it.
func budgetHeaderValue(st budget.State, name string) string {
	return "state=" + st.String() + ";budget=" + name
}

// noteBudget keeps the plan's budget decision in its trace, for the
// answer's x-llm-failover-budget header (budgetHeader).
func (r *routeStream) noteBudget() {
	if r.budget.State == budget.Under {
		return
	}
	if t := r.s.traces.trace(r.planID, r.s.clock.Now(), true); t != nil {
		t.mu.Lock()
		t.budget = budgetHeaderValue(r.budget.State, r.budget.Budget)
		t.mu.Unlock()
	}
}

// budgetHeader sets x-llm-failover-budget on an answer whose plan a budget
// shaped (as this replica planned it).
func (a *attemptStream) budgetHeader(m *mutation) {
	t := a.s.traces.trace(a.traceID, a.s.clock.Now(), false)
	if t == nil {
		return
	}
	t.mu.Lock()
	v := t.budget
	t.mu.Unlock()
	if v != "" {
		m.setHeader(contract.HeaderBudget, v)
	}
}

// chargeBudgets charges an answer's cost to the budgets its request
// matches, and reports the budgets it took past a threshold.
func (a *attemptStream) chargeBudgets(c *answerCost) {
	set := a.st.budgets
	if set.Empty() {
		return
	}
	now := a.s.clock.Now()
	crossings := set.Charge(budget.Charge{Chain: a.plan.Chain, Client: a.plan.Client, Tokens: c.usage.Tokens(),
		NanoUSD: cost.NanoUSD(c.usd), Priced: c.priced}, now)
	if a.s.budgetFile != nil {
		a.s.budgetFile.MaybeSave(now)
	}
	for _, x := range crossings {
		b := x.Budget
		reason := "warning"
		if x.State != budget.Warning {
			reason = "exhausted"
		}
		used, limit := fmt.Sprint(x.Used), fmt.Sprint(b.Limit)
		if b.Unit == budget.UnitUSD {
			used, limit = fmt.Sprintf("%.6f", cost.USD(x.Used)), fmt.Sprintf("%.6f", cost.USD(b.Limit))
		}
		detail := fmt.Sprintf("%s of %s %s used in the %s from %s", used, limit, b.Unit, b.Window,
			budget.WindowStart(b.Window, now).Format(time.RFC3339))
		a.logger().Info("budget crossed a threshold", "budget", b.Name, "reason", reason, "detail", detail)
		if a.s.events != nil {
			a.s.events.Publish(events.Event{Kind: events.KindBudget, Time: now, RequestID: a.reqID, Chain: b.Chain,
				Client: b.Client, Reason: reason, Budget: b.Name, Detail: detail, ConfigGen: a.plan.Gen})
		}
	}
}

// BudgetStatus is one budget's current window, as /status shows it.
type BudgetStatus struct {
	Name   string `json:"name"`
	Chain  string `json:"chain,omitempty"`
	Client string `json:"client,omitempty"`
	Window string `json:"window"`
	Unit   string `json:"unit"`
	// Limit and Used are in Unit: US dollars or tokens.
	Limit float64 `json:"limit"`
	Used  float64 `json:"used"`
	// State is under, warning or exhausted.
	State       string    `json:"state"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
}

// Budgets returns every budget's use of its current window (for /status).
func (s *Server) Budgets() []BudgetStatus {
	now := s.clock.Now()
	var out []BudgetStatus
	s.state.Load().budgets.Each(now, func(u budget.Usage) {
		b := u.Budget
		st := BudgetStatus{Name: b.Name, Chain: b.Chain, Client: b.Client, Window: string(b.Window), Unit: b.Unit.String(),
			Limit: float64(b.Limit), Used: float64(u.Used), State: "under", WindowStart: u.Start, WindowEnd: budget.WindowEnd(b.Window, u.Start)}
		if b.Unit == budget.UnitUSD {
			st.Limit, st.Used = cost.USD(b.Limit), cost.USD(u.Used)
		}
		switch {
		case u.Used >= b.Limit:
			st.State = "exhausted"
		case u.Used >= b.Warn:
			st.State = "warning"
		}
		out = append(out, st)
	})
	return out
}
