package telemetry

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Bucket boundaries the GenAI conventions advise.
var (
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	tokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	planBuckets     = []float64{1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32}
)

// instruments are the synchronous instruments; the gauges are observed
// through ObserveGauges.
type instruments struct {
	meter metric.Meter

	opDuration   metric.Float64Histogram
	usageIn      metric.Int64Counter
	usageOut     metric.Int64Counter
	opIn         metric.Int64Histogram
	opOut        metric.Int64Histogram
	tokenUsage   metric.Int64Histogram
	ttft         metric.Float64Histogram
	attempts     metric.Int64Counter
	refused      metric.Int64Counter
	planned      metric.Int64Counter
	rejected     metric.Int64Counter
	failovers    metric.Int64Counter
	addedLatency metric.Float64Histogram
	planLength   metric.Int64Histogram
	transitions  metric.Int64Counter
	shapes       metric.Int64Counter
	quality      metric.Int64Counter // quality.go
	breakerState metric.Int64ObservableGauge
	breakerShare metric.Float64ObservableGauge
	streams      metric.Int64ObservableGauge
	aff          affinityInstruments // affinity.go
	regionInst                       // tiers and regions (regions.go)
}

func (in *instruments) init(m metric.Meter) error {
	in.meter = m
	var errs []error
	must := func(err error) { errs = append(errs, err) }
	var err error
	in.opDuration, err = m.Float64Histogram(MetricOperationDuration, metric.WithUnit("s"),
		metric.WithDescription("GenAI operation duration: one attempt on a provider, from the request sent to the end of its answer."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	must(err)
	in.usageIn, err = m.Int64Counter(MetricUsageInputTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Input tokens the providers reported."))
	must(err)
	in.usageOut, err = m.Int64Counter(MetricUsageOutputTokens, metric.WithUnit("{token}"),
		metric.WithDescription("Output tokens the providers reported."))
	must(err)
	in.opIn, err = m.Int64Histogram(MetricOperationInput, metric.WithUnit("{token}"),
		metric.WithDescription("Input tokens per operation, as the provider reported them."),
		metric.WithExplicitBucketBoundaries(tokenBuckets...))
	must(err)
	in.opOut, err = m.Int64Histogram(MetricOperationOutput, metric.WithUnit("{token}"),
		metric.WithDescription("Output tokens per operation, as the provider reported them."),
		metric.WithExplicitBucketBoundaries(tokenBuckets...))
	must(err)
	in.tokenUsage, err = m.Int64Histogram(MetricTokenUsage, metric.WithUnit("{token}"),
		metric.WithDescription("Input and output tokens used (the older GenAI convention; telemetry.metrics.legacy_token_usage)."),
		metric.WithExplicitBucketBoundaries(tokenBuckets...))
	must(err)
	in.ttft, err = m.Float64Histogram(MetricTimeToFirstToken, metric.WithUnit("s"),
		metric.WithDescription("Time from an attempt's request to the first content of its streamed answer."),
		metric.WithExplicitBucketBoundaries(ttftBuckets...))
	must(err)
	in.attempts, err = m.Int64Counter(MetricAttempts, metric.WithDescription("Attempts by provider, model and outcome."))
	must(err)
	in.refused, err = m.Int64Counter(MetricAttemptsRefused,
		metric.WithDescription("Attempt streams refused for their plan (missing, unverified, expired, provider not in it), by reason."))
	must(err)
	in.planned, err = m.Int64Counter(MetricRequestsPlanned, metric.WithDescription("Requests planned, by chain."))
	must(err)
	in.rejected, err = m.Int64Counter(MetricRequestsRejected,
		metric.WithDescription("Requests answered by llm-failover itself, by error code."))
	must(err)
	in.failovers, err = m.Int64Counter(MetricFailovers,
		metric.WithDescription("Failovers: attempts that failed and made Envoy retry, by chain, from and to target and reason."))
	must(err)
	in.addedLatency, err = m.Float64Histogram(MetricFailoverAddedDelay, metric.WithUnit("s"),
		metric.WithDescription("The latency a failover added: the failed attempt's time from request to failover decision."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	must(err)
	in.planLength, err = m.Int64Histogram(MetricPlanLength, metric.WithUnit("{target}"),
		metric.WithDescription("Targets in each request's plan, by chain."),
		metric.WithExplicitBucketBoundaries(planBuckets...))
	must(err)
	in.transitions, err = m.Int64Counter(MetricBreakerTransitions,
		metric.WithDescription("Breaker transitions by provider, model, from and to state and reason."))
	must(err)
	in.shapes, err = m.Int64Counter(MetricShapeFallbacks,
		metric.WithDescription("Requests (Envoy 1.38) whose plan shape was not generated and went to its longest generated prefix, by chain."))
	must(err)
	in.breakerState, err = m.Int64ObservableGauge(MetricBreakerState,
		metric.WithDescription("Breaker state per target: 0 closed, 1 open, 2 half-open, 3 recovering."))
	must(err)
	in.breakerShare, err = m.Float64ObservableGauge(MetricBreakerShare,
		metric.WithDescription("Traffic share a target's breaker admits: 1 closed, 0 open or half-open, the stage's share when recovering."))
	must(err)
	in.streams, err = m.Int64ObservableGauge(MetricStreams, metric.WithDescription("ext_proc streams in flight."))
	must(err)
	must(in.initQuality(m))
	must(in.aff.init(m))
	must(in.regionInst.init(m))
	return errors.Join(errs...)
}

// BreakerGauge is one target's breaker as the gauges show it.
type BreakerGauge struct {
	Provider, Model string
	State           int     // 0 closed, 1 open, 2 half-open, 3 recovering
	Share           float64 // the traffic share admitted
}

// Gauges are read at each collection.
type Gauges struct {
	// Breakers calls yield once per target's breaker.
	Breakers func(yield func(BreakerGauge))
	// Streams is the number of ext_proc streams in flight.
	Streams func() int64
	// Regions calls yield once per configured region.
	Regions func(yield func(RegionGauge))
}

// ObserveGauges reads g at every collection until the returned function is
// called.
func (t *Telemetry) ObserveGauges(g Gauges) (unregister func(), err error) {
	in := &t.inst
	reg, err := in.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if g.Breakers != nil {
			g.Breakers(func(b BreakerGauge) {
				set := metric.WithAttributes(labelProvider.String(Sanitize(b.Provider)), labelModel.String(Sanitize(b.Model)))
				o.ObserveInt64(in.breakerState, int64(b.State), set)
				o.ObserveFloat64(in.breakerShare, b.Share, set)
			})
		}
		if g.Streams != nil {
			o.ObserveInt64(in.streams, g.Streams())
		}
		in.observeRegions(o, g.Regions)
		return nil
	}, in.breakerState, in.breakerShare, in.streams, in.regionOutage, in.regionShare)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}

// CountAttempt counts one attempt outcome. The caller bounds provider and
// model (configured targets only).
func (t *Telemetry) CountAttempt(provider, model, outcome string) {
	k := attemptKey{provider, model, outcome}
	set, ok := t.sets.attempts.load(k)
	if !ok {
		set = metric.WithAttributes(labelProvider.String(Sanitize(provider)), labelModel.String(Sanitize(model)), labelOutcome.String(Sanitize(outcome)))
		t.sets.attempts.store(k, set)
	}
	t.inst.attempts.Add(context.Background(), 1, set)
}

// CountRefused adds n refused attempt streams of reason (a fixed set; n 0
// declares the series).
func (t *Telemetry) CountRefused(reason string, n int64) {
	t.inst.refused.Add(context.Background(), n, metric.WithAttributes(labelReason.String(Sanitize(reason))))
}

// CountRejected counts a request answered by llm-failover itself with code.
func (t *Telemetry) CountRejected(code string) {
	t.inst.rejected.Add(context.Background(), 1, metric.WithAttributes(labelCode.String(t.reasons.value(code))))
}

// CountPlanned counts a request planned on chain with a plan of n targets.
func (t *Telemetry) CountPlanned(chain string, n int) {
	set, ok := t.sets.planned.load(chain)
	if !ok {
		set = metric.WithAttributes(labelChain.String(Sanitize(chain)))
		t.sets.planned.store(chain, set)
	}
	t.inst.planned.Add(context.Background(), 1, set)
	t.inst.planLength.Record(context.Background(), int64(n), set)
}

// CountShapeFallback counts a request on chain (Envoy 1.38) whose plan
// shape was not generated and went to its longest generated prefix.
func (t *Telemetry) CountShapeFallback(chain string) {
	t.inst.shapes.Add(context.Background(), 1, metric.WithAttributes(labelChain.String(Sanitize(chain))))
}

// Failover is one attempt that failed and made Envoy retry.
type Failover struct {
	Chain                   string
	FromProvider, FromModel string
	ToProvider, ToModel     string
	Reason                  string // the failed attempt's classification
	// Added is the latency the failover added; negative when unknown (a
	// reset seen only through later evidence): then only counted.
	Added time.Duration
}

// CountFailover counts f and records the latency it added.
func (t *Telemetry) CountFailover(ctx context.Context, f Failover) {
	t.inst.failovers.Add(ctx, 1, metric.WithAttributes(labelChain.String(Sanitize(f.Chain)),
		labelFromProvider.String(Sanitize(f.FromProvider)), labelFromModel.String(Sanitize(f.FromModel)),
		labelToProvider.String(Sanitize(f.ToProvider)), labelToModel.String(Sanitize(f.ToModel)),
		labelReason.String(t.reasons.value(f.Reason))))
	if f.Added >= 0 {
		t.inst.addedLatency.Record(ctx, f.Added.Seconds(), metric.WithAttributes(labelChain.String(Sanitize(f.Chain)),
			labelReason.String(t.reasons.value(f.Reason))))
	}
}

// CountTransition counts a breaker transition of target provider/model.
func (t *Telemetry) CountTransition(provider, model, from, to, reason string) {
	t.inst.transitions.Add(context.Background(), 1, metric.WithAttributes(
		labelProvider.String(Sanitize(provider)), labelModel.String(Sanitize(model)),
		labelFrom.String(Sanitize(from)), labelTo.String(Sanitize(to)), labelReason.String(t.reasons.value(reason))))
}

// Usage is the token usage a provider reported for one answer.
type Usage struct{ Input, Output int64 }

// Operation is one attempt as a GenAI client operation.
type Operation struct {
	// Name is gen_ai.operation.name; empty means OperationChat.
	Name string
	// GenAIProvider is gen_ai.provider.name (GenAIProvider).
	GenAIProvider string
	// Target is the configured provider's name (llm_failover.provider).
	Target string
	// RequestModel is the model the attempt asked the provider for.
	RequestModel string
	// ResponseModel is the model the answer names; empty when unknown.
	ResponseModel string
	// ErrorType is error.type: the failure's class; empty on success.
	ErrorType string
	Duration  time.Duration
	// TimeToFirstToken is a streamed answer's time to its first content;
	// 0 for other answers.
	TimeToFirstToken time.Duration
	// Usage is the reported usage; nil when the answer reported none.
	Usage *Usage
}

// RecordOperation records op in the GenAI instruments.
func (t *Telemetry) RecordOperation(ctx context.Context, op Operation) {
	sets := t.operationSets(op)
	t.inst.opDuration.Record(ctx, op.Duration.Seconds(), sets.all)
	if op.TimeToFirstToken > 0 {
		t.inst.ttft.Record(ctx, op.TimeToFirstToken.Seconds(), sets.ok)
	}
	if op.Usage == nil {
		return
	}
	t.inst.usageIn.Add(ctx, op.Usage.Input, sets.ok)
	t.inst.usageOut.Add(ctx, op.Usage.Output, sets.ok)
	t.inst.opIn.Record(ctx, op.Usage.Input, sets.ok)
	t.inst.opOut.Record(ctx, op.Usage.Output, sets.ok)
	if t.legacyTokens {
		t.inst.tokenUsage.Record(ctx, op.Usage.Input, sets.in)
		t.inst.tokenUsage.Record(ctx, op.Usage.Output, sets.out)
	}
}

// operationSets are op's attribute sets, built once per label values.
func (t *Telemetry) operationSets(op Operation) opSets {
	k := opKey{op.Name, op.GenAIProvider, op.RequestModel, op.Target, op.ResponseModel, op.ErrorType}
	if s, ok := t.sets.ops.load(k); ok {
		return s
	}
	name := op.Name
	if name == "" {
		name = OperationChat
	}
	attrs := []attribute.KeyValue{AttrOperationName.String(name), AttrProviderName.String(Sanitize(op.GenAIProvider)),
		AttrRequestModel.String(Sanitize(op.RequestModel)), AttrTarget.String(Sanitize(op.Target))}
	if op.ResponseModel != "" {
		attrs = append(attrs, AttrResponseModel.String(t.responseModel.value(op.ResponseModel)))
	}
	base := len(attrs)
	if op.ErrorType != "" {
		attrs = append(attrs, AttrErrorType.String(t.reasons.value(op.ErrorType)))
	}
	ok := attrs[:base] // token and first-token metrics carry no error.type
	in := append(append([]attribute.KeyValue(nil), ok...), AttrTokenType.String("input"))
	out := append(append([]attribute.KeyValue(nil), ok...), AttrTokenType.String("output"))
	s := opSets{all: metric.WithAttributes(attrs...), ok: metric.WithAttributes(ok...),
		in: metric.WithAttributes(in...), out: metric.WithAttributes(out...)}
	if len(op.ResponseModel) <= maxValueBytes { // the provider's text: keep no long key
		t.sets.ops.store(k, s)
	}
	return s
}
