package processor

import (
	"strconv"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

// This file records an attempt's outcome: breakers, metrics, traces.

// record feeds the outcome to the target's breaker, the metrics and the trace.
func (a *attemptStream) record(cls provider.Classification) {
	now := a.s.clock.Now()
	o := a.withDetail(a.outcome(cls), cls)
	if b := a.s.registry.Lookup(targetKey(a.target)); b != nil {
		b.Record(now, o)
	}
	a.auditAttempt(now, cls, o)
	a.addTrace(cls)
	a.observeEnd(cls)
	if cls.Class != provider.ClassSuccess {
		a.logger().Info("attempt failed", "status", cls.Status, "outcome", cls.Class.String(), "latency_ms", a.latency.Milliseconds(),
			"retry_after", cls.RetryAfter.String(), "error_type", a.providerText(cls.Type), "error_code", a.providerText(cls.Code))
	}
}

// providerText makes a short string from the provider's error body (its
// type or code) fit for a log line: redacted, since providers echo keys in
// errors, and cut at 100 bytes.
func (a *attemptStream) providerText(s string) string {
	return truncate(a.ep.ep.Redact(s), 100)
}

// addTrace counts the outcome and writes it to the trace.
func (a *attemptStream) addTrace(cls provider.Classification) {
	a.s.count(a.target.Provider, a.target.Model, cls.Class)
	a.s.traces.finish(a.traceID, a.s.clock.Now(), a.traceRecord(cls))
}

// traceRecord is this attempt's trace record with outcome cls.
func (a *attemptStream) traceRecord(cls provider.Classification) attemptRecord {
	return attemptRecord{Attempt: a.attempt, Provider: a.target.Provider, Model: a.target.Model, Class: cls.Class,
		Status: cls.Status, Latency: a.latency, Message: truncate(a.ep.ep.Redact(cls.Message), 300), Target: targetKey(a.target),
		Quality: qualityReason(cls), Cost: a.cost, Probe: a.plan.Probe, Placement: a.target.Placement}
}

// retryAfter normalizes the provider's Retry-After on an answer: kept, as
// delay-seconds rounded up, when the breaker would take it; removed otherwise.
func (a *attemptStream) retryAfter(m *mutation) {
	v := headerValue(a.respHeaders, "retry-after")
	if v == "" {
		return
	}
	d, ok := provider.ParseRetryAfter(v, a.s.clock.Now())
	if !ok {
		m.removeHeader("retry-after")
		return
	}
	m.setHeader("retry-after", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
}

// count adds one attempt outcome to the metrics. The provider and model
// become labels only for a configured target (one with a breaker: the
// registry holds a breaker for every target of every configuration loaded),
// else both are "unknown": nothing a caller sends can add a label.
func (s *Server) count(providerName, model string, c provider.Class) {
	if s.registry.Lookup(config.Target{Provider: providerName, Model: model}.Key()) == nil {
		providerName, model = unknownLabel, unknownLabel
	}
	s.tel.CountAttempt(providerName, model, c.String())
}

// unknownLabel stands for a provider or model that is not a configured target.
const unknownLabel = "unknown"

// settle feeds outcomes the trace store decided (attempts that ended without
// an answer, once the evidence said who ended them) to the breakers and metrics.
func (s *Server) settle(recs []attemptRecord) {
	if len(recs) == 0 {
		return
	}
	now := s.clock.Now()
	for _, r := range recs {
		s.count(r.Provider, r.Model, r.Class)
		o := settledOutcome(r)
		if b := s.registry.Lookup(r.Target); b != nil {
			b.Record(now, o)
		}
		s.auditSettled(now, r, o)
		s.log.Info("attempt ended without an answer", "phase", contract.PhaseAttempt, "attempt", r.Attempt, "provider", r.Provider,
			"model", r.Model, "outcome", r.Class.String(), "reason", r.Message)
	}
}

// outcomeOf maps a classification to a breaker outcome.
func outcomeOf(cls provider.Classification, latency time.Duration) breaker.Outcome {
	o := breaker.Outcome{Latency: latency, RetryAfter: cls.RetryAfter}
	switch cls.Class {
	case provider.ClassSuccess:
		o.Kind = breaker.Success
	case provider.ClassRateLimited:
		o.Kind = breaker.RateLimited
	case provider.ClassQuotaExhausted:
		o.Kind = breaker.QuotaExhausted
	case provider.ClassAuth:
		o.Kind = breaker.AuthFailure
	case provider.ClassOverloaded, provider.ClassServerError, provider.ClassTimeout:
		o.Kind = breaker.Failure
	case provider.ClassQuality:
		o.Kind = breaker.QualityFailure
	default:
		o.Kind = breaker.Neutral
	}
	if cls.Status == 0 {
		o.Latency = 0 // no response headers: no latency sample
	}
	return o
}
