package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

// Conversation affinity's instruments (docs/observability.md).
const (
	// MetricAffinity counts answered requests of chains with affinity on, by
	// chain and outcome: hit (the conversation's target answered), moved
	// (another target answered and is now remembered), miss (no target was
	// remembered), none (the request names no conversation).
	MetricAffinity = "llm_failover.affinity.requests"
	// MetricAffinityConversations is the number of conversations this
	// replica remembers (expired ones not yet dropped included).
	MetricAffinityConversations = "llm_failover.affinity.conversations"
)

// affinityInstruments are conversation affinity's instruments.
type affinityInstruments struct {
	requests      metric.Int64Counter
	conversations metric.Int64ObservableGauge
}

func (a *affinityInstruments) init(m metric.Meter) (err error) {
	if a.requests, err = m.Int64Counter(MetricAffinity,
		metric.WithDescription("Answered requests on chains with conversation affinity, by chain and outcome (hit, moved, miss, none).")); err != nil {
		return err
	}
	a.conversations, err = m.Int64ObservableGauge(MetricAffinityConversations,
		metric.WithDescription("Conversations whose target this replica remembers."))
	return err
}

// CountAffinity counts one answered request of chain with affinity outcome.
func (t *Telemetry) CountAffinity(chain, outcome string) {
	t.inst.aff.requests.Add(context.Background(), 1, metric.WithAttributes(
		labelChain.String(Sanitize(chain)), labelOutcome.String(Sanitize(outcome))))
}

// ObserveConversations reads n at every collection as the number of
// remembered conversations, until the returned function is called.
func (t *Telemetry) ObserveConversations(n func() int64) (unregister func(), err error) {
	g := t.inst.aff.conversations
	reg, err := t.inst.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, n())
		return nil
	}, g)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
