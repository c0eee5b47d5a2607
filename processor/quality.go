package processor

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/provider"
)

// This file is the attempt phase's quality checks (config chains[].quality,
// docs/quality.md): a held answer that fails one fails over like a server
// error, and counts in the target's breaker as a quality failure.

// qualityChecks are the checks of the plan's chain; none when the chain
// asks for none (or is not in the configuration any more).
func (a *attemptStream) qualityChecks() provider.QualityChecks {
	ch := a.st.cfg.Chain(a.plan.Chain)
	if ch == nil || ch.Quality == nil {
		return provider.QualityChecks{}
	}
	q := ch.Quality
	return provider.QualityChecks{Empty: q.Empty, InvalidJSON: q.InvalidJSON, TruncatedBelow: q.TruncatedBelow, Refusal: q.Refusal}
}

// judgeAnswer checks a whole translated answer (out, in the client's API)
// and, when it fails, fails the attempt over; nil when it passes. On the
// last planned attempt the answer still reaches the client (a poor answer
// beats none), its quality failure recorded in the breaker, the trace,
// the metrics and the audit events.
func (a *attemptStream) judgeAnswer(out []byte) []*extprocv3.ProcessingResponse {
	q := a.qualityChecks()
	if !q.Any() {
		return nil
	}
	v := a.s.judge.Judge(a.api, a.preq.Body, out, q)
	if !v.Failed() {
		return nil
	}
	cls := v.Classification(a.status)
	a.countQuality(v)
	if !a.last() {
		return a.fail(cls)
	}
	a.logger().Warn("the last planned attempt's answer failed a quality check; answering it as it is", "quality", v.Reason.String(), "reason", v.Message)
	a.qualityServed = &cls
	return nil
}

// countQuality counts a quality failure by its reason.
func (a *attemptStream) countQuality(v provider.QualityVerdict) {
	p, m := a.target.Provider, a.target.Model
	if a.s.registry.Lookup(targetKey(a.target)) == nil {
		p, m = unknownLabel, unknownLabel
	}
	a.s.tel.CountQualityFailure(p, m, a.plan.Chain, v.Reason.String())
}

// judgeStream checks a held stream at its first content, with what is
// known then (provider.JudgeStreamStart): a refusal, or a finish for
// length before any content. It fails the attempt over, or returns nil.
// On the last planned attempt the stream goes on to the client.
func (a *attemptStream) judgeStream() []*extprocv3.ProcessingResponse {
	q := a.qualityChecks()
	if !q.Any() {
		return nil
	}
	// The stream's held chunks (a stream's bytes are not kept in a.buf:
	// hold.go keep), joined once, only for a chain with checks.
	var held []byte
	for _, h := range a.held {
		held = append(held, h.GetBody()...)
	}
	v := provider.JudgeStreamStart(held, q)
	if !v.Failed() {
		return nil
	}
	a.countQuality(v)
	if a.last() {
		a.logger().Warn("the last planned attempt's stream failed a quality check; passing it on", "quality", v.Reason.String(), "reason", v.Message)
		cls := v.Classification(a.status)
		a.qualityServed = &cls
		return nil
	}
	return a.fail(v.Classification(a.status))
}

// servedAs is the outcome an answer going to the client is recorded with:
// cls, or the quality failure of a last attempt served as it is (then
// published as an exhausted chain, reason quality).
func (a *attemptStream) servedAs(cls provider.Classification) provider.Classification {
	if q := a.qualityServed; q != nil {
		a.qualityServed = nil
		a.auditFailure(*q)
		return *q
	}
	return cls
}

// qualityReason is the trace's quality=<reason> of a quality outcome.
func qualityReason(cls provider.Classification) string {
	if cls.Class != provider.ClassQuality {
		return ""
	}
	return cls.Code
}
