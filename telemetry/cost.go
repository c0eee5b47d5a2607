package telemetry

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The cost and budget instruments (docs/observability.md).
const (
	MetricCostUSD         = "llm_failover.cost_usd"
	MetricTokens          = "llm_failover.tokens"
	MetricCostUnknown     = "llm_failover.cost_unknown"
	MetricBudgetUsed      = "llm_failover.budget.used_share"
	MetricBudgetDecisions = "llm_failover.budget.decisions"
)

// EventBudget is the request span's event of a plan a budget shaped
// (docs/observability.md).
const EventBudget = "llm_failover.budget"

var (
	labelType   = attribute.Key("type")
	labelBudget = attribute.Key("budget")
	labelUnit   = attribute.Key("unit")
	labelState  = attribute.Key("state")
)

// costInstruments count what answers cost and what budgets decide.
type costInstruments struct {
	cost      metric.Float64Counter
	tokens    metric.Int64Counter
	unknown   metric.Int64Counter
	used      metric.Float64ObservableGauge
	decisions metric.Int64Counter
	meter     metric.Meter
}

func (in *costInstruments) init(m metric.Meter) error {
	in.meter = m
	var errs []error
	var err error
	in.cost, err = m.Float64Counter(MetricCostUSD,
		metric.WithDescription("The cost of the answers, in US dollars, by chain, provider and model (answers of targets with a known price)."))
	errs = append(errs, err)
	in.tokens, err = m.Int64Counter(MetricTokens,
		metric.WithDescription("The tokens of the answers by chain, provider, model and type (input, cached_input, output); estimates for answers without usage."))
	errs = append(errs, err)
	in.unknown, err = m.Int64Counter(MetricCostUnknown,
		metric.WithDescription("Answers whose cost is unknown (the target has no price), by chain, provider and model."))
	errs = append(errs, err)
	in.used, err = m.Float64ObservableGauge(MetricBudgetUsed,
		metric.WithDescription("The share of each budget's limit used in its current window (1 is exhausted; it may pass 1)."))
	errs = append(errs, err)
	in.decisions, err = m.Int64Counter(MetricBudgetDecisions,
		metric.WithDescription("Plans a budget changed, by budget and state (warning: cheaper first, capped, refused)."))
	errs = append(errs, err)
	return errors.Join(errs...)
}

// AnswerCost is one answer's usage and cost. The caller bounds chain,
// provider and model (configured names only).
type AnswerCost struct {
	Chain, Provider, Model string
	Input, Cached, Output  int64
	USD                    float64
	Priced                 bool // USD is known
}

// CountCost counts an answer's tokens and its cost, or that its cost is unknown.
func (t *Telemetry) CountCost(c AnswerCost) {
	ctx := context.Background()
	base := []attribute.KeyValue{labelChain.String(Sanitize(c.Chain)), labelProvider.String(Sanitize(c.Provider)), labelModel.String(Sanitize(c.Model))}
	in := &t.cost
	for _, tk := range []struct {
		typ string
		n   int64
	}{{"input", c.Input}, {"cached_input", c.Cached}, {"output", c.Output}} {
		if tk.n > 0 {
			in.tokens.Add(ctx, tk.n, metric.WithAttributes(append(base[:3:3], labelType.String(tk.typ))...))
		}
	}
	if !c.Priced {
		in.unknown.Add(ctx, 1, metric.WithAttributes(base...))
		return
	}
	in.cost.Add(ctx, c.USD, metric.WithAttributes(base...))
}

// CountBudgetDecision counts a plan budget changed (state: warning,
// capped, refused). The caller bounds budget (configured names).
func (t *Telemetry) CountBudgetDecision(budget, state string) {
	t.cost.decisions.Add(context.Background(), 1, metric.WithAttributes(labelBudget.String(Sanitize(budget)), labelState.String(state)))
}

// BudgetGauge is one budget's use of its current window.
type BudgetGauge struct {
	Budget, Unit string
	Share        float64
}

// ObserveBudgets reads each budget's use at every collection until the
// returned function is called.
func (t *Telemetry) ObserveBudgets(each func(yield func(BudgetGauge))) (unregister func(), err error) {
	in := &t.cost
	reg, err := in.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		each(func(g BudgetGauge) {
			o.ObserveFloat64(in.used, g.Share, metric.WithAttributes(labelBudget.String(Sanitize(g.Budget)), labelUnit.String(g.Unit)))
		})
		return nil
	}, in.used)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
