package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

// MetricQualityFailures counts answers that failed a chain's quality check
// (Prometheus: llm_failover_quality_failures_total), by provider, model,
// chain and reason (empty, invalid_json, truncated, refusal). The same
// attempts count in llm_failover.attempts with outcome "quality".
const MetricQualityFailures = "llm_failover.quality_failures"

func (in *instruments) initQuality(m metric.Meter) error {
	var err error
	in.quality, err = m.Int64Counter(MetricQualityFailures,
		metric.WithDescription("Answers that failed a chain's quality check, by provider, model, chain and reason."))
	return err
}

// CountQualityFailure counts one answer that failed quality check reason.
func (t *Telemetry) CountQualityFailure(provider, model, chain, reason string) {
	t.inst.quality.Add(context.Background(), 1, metric.WithAttributes(
		labelProvider.String(Sanitize(provider)), labelModel.String(Sanitize(model)),
		labelChain.String(Sanitize(chain)), labelReason.String(Sanitize(reason))))
}
