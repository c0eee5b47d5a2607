package processor

import (
	"context"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file feeds the metrics and spans (package telemetry,
// docs/observability.md) from one-line hooks in the phases. Nothing of a
// prompt or an answer, and no key, goes into an attribute: only names from
// the configuration, classifications, statuses, durations, token counts and
// the model an answer names (sanitized and bounded by telemetry).

// newTelemetry is opts.Telemetry, or the server's own from the
// configuration with every export off (its /metrics still works).
func newTelemetry(opts Options) (*telemetry.Telemetry, error) {
	if opts.Telemetry != nil {
		return opts.Telemetry, nil
	}
	c := opts.Config.Telemetry
	c.Metrics.OTLP, c.Traces.Enabled = false, false
	if c.Metrics.MaxLabelValues == 0 { // a configuration built without ApplyDefaults
		c.Metrics.MaxLabelValues = config.DefaultMaxLabelValues
	}
	return telemetry.New(c, telemetry.Options{})
}

// observeTransition counts a breaker transition.
func (s *Server) observeTransition(t breaker.Transition) {
	p, m, _ := strings.Cut(t.Name, "/")
	s.tel.CountTransition(p, m, t.From.String(), t.To.String(), t.Reason)
}

// Route phase.

// routeObs is the request's span; the zero value (tracing off, or not an
// LLM route) records nothing.
type routeObs struct {
	ctx  context.Context
	span trace.Span
}

// startSpan starts the request's span as a child of the client's W3C
// trace context in hs (traceparent, tracestate), if any.
func (r *routeStream) startSpan(hs map[string]string) {
	if !r.s.tel.Tracing() {
		return
	}
	parent := r.s.tel.Propagator().Extract(context.Background(), propagation.MapCarrier{
		"traceparent": hs["traceparent"], "tracestate": hs["tracestate"]})
	r.obs.ctx, r.obs.span = r.s.tel.Tracer().Start(parent, "llm_failover.request",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(r.s.clock.Now()),
		trace.WithAttributes(telemetry.AttrOperationName.String(telemetry.OperationChat)))
}

// traceparent is the request span's W3C traceparent, for the plan; empty
// when tracing is off.
func (o *routeObs) traceparent(p propagation.TextMapPropagator) string {
	if o.span == nil {
		return ""
	}
	c := propagation.MapCarrier{}
	p.Inject(o.ctx, c)
	return c["traceparent"]
}

// observePlanned counts the planned request and tells the span the plan:
// its chain and length, every target left out and why, and the half-open
// probes it makes.
func (r *routeStream) observePlanned(ch *config.Chain, p routing.Plan, needs routing.Needs) {
	r.s.tel.CountPlanned(ch.Name, len(p.Steps))
	r.s.tel.CountSelected(ch.Name, p.Steps[0].Provider, p.Steps[0].Model)
	r.s.countLead(ch.Name, p.Steps[0].Provider+"/"+p.Steps[0].Model)
	sp := r.obs.span
	if sp == nil {
		return
	}
	sp.SetAttributes(telemetry.AttrChain.String(ch.Name), telemetry.AttrPlanSize.Int(len(p.Steps)))
	now := r.s.clock.Now()
	for i, tg := range ch.Targets {
		if j := stepIndex(p, tg); j >= 0 {
			if p.Steps[j].Probe() {
				sp.AddEvent(telemetry.EventProbe, trace.WithTimestamp(now), trace.WithAttributes(targetAttrs("", tg.Provider, tg.Model)...))
			}
			continue
		}
		attrs := append(targetAttrs("", tg.Provider, tg.Model), telemetry.AttrReason.String(r.skipReason(ch, i, needs)))
		sp.AddEvent(telemetry.EventTargetSkipped, trace.WithTimestamp(now), trace.WithAttributes(attrs...))
	}
}

// stepIndex is the index of tg's step in p, or -1.
func stepIndex(p routing.Plan, tg config.Target) int {
	for i, s := range p.Steps {
		if s.Provider == tg.Provider && s.Model == tg.Model {
			return i
		}
	}
	return -1
}

// skipReason says why the i-th target of ch is not in the plan:
// "capability:<what>", "context_window", "breaker_open",
// "breaker_half_open" (its probe is taken), "breaker_half_open_active_probe"
// (left to the active prober), or "untranslatable" (its
// adapter refused the request).
func (r *routeStream) skipReason(ch *config.Chain, i int, needs routing.Needs) string {
	tg := ch.Targets[i]
	for _, c := range []struct {
		need bool
		cap  config.Capability
	}{{needs.Tools, config.CapTools}, {needs.JSON, config.CapJSON}, {needs.Vision, config.CapVision}} {
		if c.need && !tg.Has(c.cap) {
			return "capability:" + string(c.cap)
		}
	}
	if p := r.st.cfg.Provider(tg.Provider); p != nil && needs.Unserved != nil {
		if u := needs.Unserved(p.API); u != "" {
			return "capability:" + u
		}
	}
	if tg.ContextWindow > 0 && needs.PromptTokens > tg.ContextWindow {
		return "context_window"
	}
	switch r.st.table.Breaker(ch, i).Snapshot(r.s.clock.Now()).State {
	case breaker.Open:
		return "breaker_open"
	case breaker.HalfOpen:
		if r.st.cfg.Probes.SyntheticHalfOpenFor(ch, tg.Provider, tg.Model) {
			return "breaker_half_open_active_probe" // left to the prober (probe.go)
		}
		return "breaker_half_open"
	}
	return "untranslatable"
}

// rejected counts a request answered by llm-failover itself (policy
// denial, all targets open, incapable, invalid) and marks its span.
func (r *routeStream) rejected(status int, code string) {
	r.s.tel.CountRejected(code)
	if sp := r.obs.span; sp != nil {
		sp.AddEvent(telemetry.EventRejected, trace.WithTimestamp(r.s.clock.Now()), trace.WithAttributes(
			telemetry.AttrReason.String(code), telemetry.AttrStatusCode.Int(status)))
		sp.SetStatus(codes.Error, code)
	}
}

// end ends the request's span with the response status the client got.
func (r *routeStream) endSpan() {
	sp := r.obs.span
	if sp == nil {
		return
	}
	if r.respStatus > 0 {
		sp.SetAttributes(telemetry.AttrStatusCode.Int(r.respStatus))
		if r.respStatus >= 500 {
			sp.SetStatus(codes.Error, strconv.Itoa(r.respStatus))
		}
	}
	sp.End(trace.WithTimestamp(r.s.clock.Now()))
	r.obs.span = nil
}

// Attempt phase.

// attemptObs follows one attempt for its metrics and span.
type attemptObs struct {
	ctx   context.Context
	span  trace.Span    // nil when tracing is off
	ended bool          // the GenAI operation was recorded
	ttft  time.Duration // to the first content of a stream; 0 otherwise
	usage *provider.Usage
}

// isTraceHeader reports a W3C trace context header, which the attempt sets
// itself when tracing (else it is removed like any client header).
func isTraceHeader(k string) bool { return k == "traceparent" || k == "tracestate" }

// tracesHeader reports whether the attempt sets header k (requestBody's
// allowlist): the trace context headers while tracing.
func (a *attemptStream) tracesHeader(k string) bool { return isTraceHeader(k) && a.s.tel.Tracing() }

// startSpan starts the attempt's span as a child of the request's (the
// plan's traceparent) and passes it on to the provider in m.
func (a *attemptStream) startSpan(m *mutation) {
	a.obs.ctx = context.Background()
	if !a.s.tel.Tracing() {
		return
	}
	prop := a.s.tel.Propagator()
	parent := prop.Extract(context.Background(), propagation.MapCarrier{"traceparent": a.plan.Traceparent})
	a.obs.ctx, a.obs.span = a.s.tel.Tracer().Start(parent, a.api.Operation+" "+telemetry.Sanitize(a.target.Model),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(a.s.clock.Now()), trace.WithAttributes(
			telemetry.AttrOperationName.String(a.api.Operation),
			telemetry.AttrProviderName.String(a.genAIProvider()),
			telemetry.AttrRequestModel.String(telemetry.Sanitize(a.target.Model)),
			telemetry.AttrTarget.String(a.target.Provider),
			telemetry.AttrChain.String(a.plan.Chain),
			telemetry.AttrAttempt.Int(a.attempt)))
	c := propagation.MapCarrier{}
	prop.Inject(a.obs.ctx, c)
	if tp := c["traceparent"]; tp != "" {
		m.setHeader("traceparent", tp)
	}
	m.removeHeader("tracestate")
}

// genAIProvider is gen_ai.provider.name of the attempt's provider.
func (a *attemptStream) genAIProvider() string {
	return telemetry.GenAIProvider(a.target.Provider, string(a.ep.cfg.API))
}

// observeFirstToken notes a stream's time to its first content; a stream
// passed on unjudged (no content by the hold's end) has none.
func (a *attemptStream) observeFirstToken() {
	if a.hold == holdStream && a.mon != nil && a.mon.Content() {
		a.obs.ttft = a.s.clock.Now().Sub(a.sent)
	}
}

// observeUsage notes the usage a whole answer (client format) reported.
func (a *attemptStream) observeUsage(answer []byte) {
	u := provider.AnswerUsage(answer)
	a.obs.usage = &u
}

// observeEnd records the attempt as a GenAI operation once, when its
// outcome cls is final: its duration, first-token time and reported usage
// in the metrics, and its outcome on its span.
func (a *attemptStream) observeEnd(cls provider.Classification) {
	if a.obs.ended || a.sent.IsZero() || a.ep == nil {
		return
	}
	a.obs.ended = true
	if a.obs.usage == nil && a.plan.Stream {
		u := a.usage.Usage()
		a.obs.usage = &u
	}
	op := telemetry.Operation{Name: a.api.Operation, GenAIProvider: a.genAIProvider(), Target: a.target.Provider, RequestModel: a.target.Model,
		Duration: a.s.clock.Now().Sub(a.sent)}
	if cls.Class != provider.ClassSuccess {
		op.ErrorType = cls.Class.String()
	}
	if a.obs.ttft > 0 && cls.Class == provider.ClassSuccess {
		op.TimeToFirstToken = a.obs.ttft
	}
	if u := a.obs.usage; u != nil {
		op.ResponseModel = u.Model
		if u.Reported {
			op.Usage = &telemetry.Usage{Input: u.Prompt, Output: u.Completion}
		}
	}
	ctx := a.obs.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	a.s.tel.RecordOperation(ctx, op)
	a.s.recordStats(targetKey(a.target), cls.Class, a.latency, op.Usage)
	sp := a.obs.span
	if sp == nil {
		return
	}
	if cls.Status > 0 {
		sp.SetAttributes(telemetry.AttrStatusCode.Int(cls.Status))
	}
	if op.ResponseModel != "" {
		sp.SetAttributes(telemetry.AttrResponseModel.String(telemetry.Sanitize(op.ResponseModel)))
	}
	if op.Usage != nil {
		sp.SetAttributes(telemetry.AttrInputTokens.Int64(op.Usage.Input), telemetry.AttrOutputTokens.Int64(op.Usage.Output))
	}
	if op.ErrorType != "" {
		sp.SetAttributes(telemetry.AttrErrorType.String(op.ErrorType))
		if cls.Class.FailsOver() || cls.Class == provider.ClassCut {
			sp.SetStatus(codes.Error, op.ErrorType)
		}
	}
}

// observeFailover counts a failover from this attempt when its failure
// cls makes Envoy retry (as auditFailure decides: it fails over and an
// attempt is left), the latency it added, and adds the decision to the
// span.
func (a *attemptStream) observeFailover(cls provider.Classification) {
	if !a.failsOver(cls) || a.last() {
		return
	}
	next := a.nextTarget()
	added := a.s.clock.Now().Sub(a.sent)
	ctx := a.obs.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	a.s.tel.CountFailover(ctx, telemetry.Failover{Chain: a.plan.Chain, FromProvider: a.target.Provider, FromModel: a.target.Model,
		ToProvider: next.Provider, ToModel: next.Model, Reason: cls.Class.String(), Added: added})
	if sp := a.obs.span; sp != nil {
		attrs := append(targetAttrs("from_", a.target.Provider, a.target.Model), targetAttrs("to_", next.Provider, next.Model)...)
		attrs = append(attrs, telemetry.AttrReason.String(cls.Class.String()), telemetry.AttrStatusCode.Int(cls.Status),
			attribute.Int64("llm_failover.added_latency_ms", added.Milliseconds()))
		sp.AddEvent(telemetry.EventFailover, trace.WithTimestamp(a.s.clock.Now()), trace.WithAttributes(attrs...))
	}
}

// observeRetried counts a failover for each of recs that ended without
// response headers and that Envoy retried (a reset, a per-try timeout this
// replica could not see), once the evidence says so (as auditRetried); the
// latency such an attempt added is not known here.
func (a *attemptStream) observeRetried(recs []attemptRecord, to events.Target) {
	for _, r := range recs {
		if r.Message == whyRetried {
			a.s.tel.CountFailover(context.Background(), telemetry.Failover{Chain: a.plan.Chain, FromProvider: r.Provider,
				FromModel: r.Model, ToProvider: to.Provider, ToModel: to.Model, Reason: r.Class.String(), Added: -1})
		}
	}
}

// endSpan ends the attempt's span.
func (a *attemptStream) endSpan() {
	if a.obs.span != nil {
		a.obs.span.End(trace.WithTimestamp(a.s.clock.Now()))
		a.obs.span = nil
	}
}

// targetAttrs names a target in span event attributes, with prefix
// ("from_", "to_" or "").
func targetAttrs(prefix, providerName, model string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("llm_failover."+prefix+"provider", providerName),
		attribute.String("llm_failover."+prefix+"model", telemetry.Sanitize(model)),
	}
}
