package fleet

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The fleet's metrics (docs/observability.md), read from Status at each
// collection. On Prometheus the dots become underscores and counters end
// in _total.
const (
	MetricConnected       = "llm_failover.fleet.connected"
	MetricMessages        = "llm_failover.fleet.messages"
	MetricErrors          = "llm_failover.fleet.errors"
	MetricOutcomesDropped = "llm_failover.fleet.outcomes_dropped"
	MetricProbeLeases     = "llm_failover.fleet.probe_leases"
	MetricSharedOpens     = "llm_failover.fleet.shared_opens"
)

// RegisterMetrics exports the fleet's state on m until the returned
// function is called.
func (f *Fleet) RegisterMetrics(m metric.Meter) (unregister func(), err error) {
	connected, err := m.Int64ObservableGauge(MetricConnected,
		metric.WithDescription("1 while this replica reaches the fleet's Redis, 0 while it carries on alone."))
	if err != nil {
		return nil, err
	}
	messages, err := m.Int64ObservableCounter(MetricMessages,
		metric.WithDescription("Fleet breaker messages by kind: published (local transitions sent), applied (another replica's transition that changed a breaker here), stale (older than what this replica had), malformed (refused)."))
	if err != nil {
		return nil, err
	}
	errs, err := m.Int64ObservableCounter(MetricErrors, metric.WithDescription("Redis commands of the fleet that failed."))
	if err != nil {
		return nil, err
	}
	dropped, err := m.Int64ObservableCounter(MetricOutcomesDropped,
		metric.WithDescription("Outcomes not counted fleet-wide (fleet.shared_counting) because the queue was full."))
	if err != nil {
		return nil, err
	}
	leases, err := m.Int64ObservableCounter(MetricProbeLeases,
		metric.WithDescription("Half-open probe lease claims by result: won (this replica probes) or lost (another replica probes; this one stays open)."))
	if err != nil {
		return nil, err
	}
	shared, err := m.Int64ObservableCounter(MetricSharedOpens,
		metric.WithDescription("Breakers this replica opened because the fleet's shared failure count reached a trigger."))
	if err != nil {
		return nil, err
	}
	kind := func(k string) metric.ObserveOption { return metric.WithAttributes(attribute.String("kind", k)) }
	result := func(r string) metric.ObserveOption { return metric.WithAttributes(attribute.String("result", r)) }
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := f.Status()
		c := int64(0)
		if s.Connected {
			c = 1
		}
		o.ObserveInt64(connected, c)
		o.ObserveInt64(messages, s.Published, kind("published"))
		o.ObserveInt64(messages, s.Applied, kind("applied"))
		o.ObserveInt64(messages, s.Stale, kind("stale"))
		o.ObserveInt64(messages, s.Malformed, kind("malformed"))
		o.ObserveInt64(errs, s.Errors)
		o.ObserveInt64(dropped, s.Dropped)
		o.ObserveInt64(leases, s.LeasesWon, result("won"))
		o.ObserveInt64(leases, s.LeasesLost, result("lost"))
		o.ObserveInt64(shared, s.SharedOpens)
		return nil
	}, connected, messages, errs, dropped, leases, shared)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
