package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Instrument names of the active probes (package probe).
const (
	MetricProbesSent     = "llm_failover.probe.sent"
	MetricProbeDuration  = "llm_failover.probe.duration"
	MetricProbeTokens    = "llm_failover.probe.tokens"
	MetricProbesSkipped  = "llm_failover.probe.skipped"
	MetricProbeCostUSD   = "llm_failover.probe.cost_usd"
	probeTokenTypeInput  = "input"
	probeTokenTypeOutput = "output"
)

var (
	labelResult    = attribute.Key("result")
	labelTokenType = attribute.Key("type")
)

// probeInstruments are made on first use: a process without probes
// exports none of them.
type probeInstruments struct {
	once     sync.Once
	err      error
	sent     metric.Int64Counter
	duration metric.Float64Histogram
	tokens   metric.Int64Counter
	skipped  metric.Int64Counter
	cost     metric.Float64Counter
}

func (p *probeInstruments) init(m metric.Meter) error {
	p.once.Do(func() {
		var errs [5]error
		p.sent, errs[0] = m.Int64Counter(MetricProbesSent,
			metric.WithDescription("Active probes sent, by target and result (ok, failed, neutral, error)."))
		p.duration, errs[1] = m.Float64Histogram(MetricProbeDuration, metric.WithUnit("s"),
			metric.WithDescription("Active probe duration through Envoy, by target."),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		p.tokens, errs[2] = m.Int64Counter(MetricProbeTokens, metric.WithUnit("{token}"),
			metric.WithDescription("Tokens the active probes' answers reported, by target and type (input, output): what the probes cost."))
		p.skipped, errs[3] = m.Int64Counter(MetricProbesSkipped,
			metric.WithDescription("Active probes due but not sent, by reason (rate_limited, not_claimed)."))
		p.cost, errs[4] = m.Float64Counter(MetricProbeCostUSD,
			metric.WithDescription("What the active probes cost in US dollars, by target: their answers' usage at the target's price (probes of unpriced targets count only tokens)."))
		p.err = errors.Join(errs[:]...)
	})
	return p.err
}

// ProbeResult is one active probe as the metrics count it.
type ProbeResult struct {
	Provider, Model string
	// Result is ok, failed, neutral or error (fixed by the caller).
	Result   string
	Duration time.Duration
	Usage    Usage
	// USD is the probe's cost when Priced (the target has a price).
	USD    float64
	Priced bool
}

// CountProbe counts one active probe sent, its duration and its tokens.
func (t *Telemetry) CountProbe(r ProbeResult) {
	if t.probes.init(t.Meter()) != nil {
		return
	}
	ctx := context.Background()
	target := []attribute.KeyValue{labelProvider.String(Sanitize(r.Provider)), labelModel.String(Sanitize(r.Model))}
	t.probes.sent.Add(ctx, 1, metric.WithAttributes(append(target[:2:2], labelResult.String(Sanitize(r.Result)))...))
	t.probes.duration.Record(ctx, r.Duration.Seconds(), metric.WithAttributes(target...))
	if r.Usage.Input > 0 {
		t.probes.tokens.Add(ctx, r.Usage.Input, metric.WithAttributes(append(target[:2:2], labelTokenType.String(probeTokenTypeInput))...))
	}
	if r.Usage.Output > 0 {
		t.probes.tokens.Add(ctx, r.Usage.Output, metric.WithAttributes(append(target[:2:2], labelTokenType.String(probeTokenTypeOutput))...))
	}
	if r.Priced {
		t.probes.cost.Add(ctx, r.USD, metric.WithAttributes(target...))
	}
}

// CountProbeSkipped counts a probe that was due and not sent, for reason.
func (t *Telemetry) CountProbeSkipped(reason string) {
	if t.probes.init(t.Meter()) != nil {
		return
	}
	t.probes.skipped.Add(context.Background(), 1, metric.WithAttributes(labelReason.String(Sanitize(reason))))
}
