package processor

import (
	"fmt"
	"strconv"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

// This file is the attempt phase's hold and answer: a response is held
// (holdKind) until it can be judged, then answered, translated, or failed
// over.

// holdKind is what a held response waits for; holdNone outside a hold.
type holdKind uint8

const (
	holdNone   holdKind = iota // not holding: the zero value never names a hold
	holdStream                 // a 200 event stream: wait for its first event
	holdError                  // an error status: wait for its body to classify it
	holdBody                   // a JSON answer to translate: wait for all of it
)

func (a *attemptStream) deadline() <-chan time.Time {
	if a.timer == nil || a.step != attHolding {
		return nil
	}
	return a.timer.C()
}

func (a *attemptStream) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
	}
}

func (a *attemptStream) expire() ([]*extprocv3.ProcessingResponse, error) {
	if a.step != attHolding {
		return nil, nil
	}
	switch a.hold {
	case holdError:
		return a.decideError(), nil
	case holdBody:
		return a.fail(provider.Classification{Class: provider.ClassTimeout, Status: a.status,
			Message: fmt.Sprintf("the answer's body did not complete within %s of its headers", a.st.cfg.Server.StreamFirstEventTimeout)}), nil
	case holdNone:
		return nil, nil // cannot happen: startHold names the hold
	}
	if a.mon.Events() > 0 {
		// Alive but no content yet (a model thinking, pings): the provider
		// answers, only slowly; pass the stream on unjudged.
		a.logger().Info("no content within server.stream_first_event_timeout after the first event; passing the stream on unjudged",
			"events", a.mon.Events())
		return a.succeed(provider.ClassSuccess), nil
	}
	return a.fail(provider.Classification{Class: provider.ClassTimeout, Status: a.status,
		Message: fmt.Sprintf("no event within %s of the response headers", a.st.cfg.Server.StreamFirstEventTimeout)}), nil
}

func (a *attemptStream) startHold(k holdKind) {
	a.step, a.hold = attHolding, k
	a.timer = clock.NewTimer(a.s.clock, a.st.cfg.Server.StreamFirstEventTimeout.D())
}

func (a *attemptStream) responseBody(b *extprocv3.HttpBody) ([]*extprocv3.ProcessingResponse, error) {
	switch a.step {
	case attHolding:
		a.held = append(a.held, b)
		a.bodyDone = b.GetEndOfStream()
		a.keep(b.GetBody())
		over := a.heldBytes > int64(a.st.cfg.Server.MaxStreamHoldBytes)
		if a.hold == holdError {
			if b.GetEndOfStream() || over {
				return a.decideError(), nil
			}
			return nil, nil
		}
		if a.hold == holdBody {
			if b.GetEndOfStream() {
				return a.finishBody(), nil
			}
			if a.heldBytes > int64(a.st.cfg.Limits.MaxBodyBytes) {
				// Too large to hold (limits.max_body_bytes): passed on unjudged.
				a.logger().Warn("answer larger than limits.max_body_bytes; passing it on unjudged", "held_bytes", a.heldBytes)
				return a.succeed(provider.ClassSuccess), nil
			}
			return nil, nil
		}
		if a.hold != holdStream {
			return nil, nil // cannot happen: startHold names the hold
		}
		a.observe(b)
		switch f := a.mon.Failure(); {
		case f != nil && !f.Class.FailsOver():
			// An error the next provider would give too (content policy,
			// invalid request): the client gets it in the stream.
			return a.succeed(f.Class), nil
		case f != nil:
			cls := *f
			cls.Status = a.status
			return a.fail(cls), nil
		case a.mon.Content():
			if out := a.judgeStream(); out != nil {
				return out, nil
			}
			return a.succeed(provider.ClassSuccess), nil
		case b.GetEndOfStream():
			msg := "the event stream ended before its first event"
			if a.mon.Events() > 0 {
				msg = "the event stream ended before any content"
			}
			return a.fail(provider.Classification{Class: provider.ClassServerError, Status: a.status, Message: msg}), nil
		case over:
			a.logger().Warn("no content within server.max_stream_hold_bytes; passing the stream on unjudged", "held_bytes", a.heldBytes)
			return a.succeed(provider.ClassSuccess), nil
		}
		return nil, nil
	case attStreaming:
		a.observe(b)
		return one(a.stream(b)), nil
	case attReplacing:
		return one(replaceBody(nil, nil)), nil
	}
	return one(continueBody()), nil
}

// keep takes a held chunk's bytes: a stream's are only counted (the monitor
// judges its events as they come), an error or answer body is kept whole to
// be read at its end; a body that came in one chunk is read where it is,
// not copied.
func (a *attemptStream) keep(chunk []byte) {
	a.heldBytes += int64(len(chunk))
	switch {
	case a.hold == holdStream:
	case a.bodyDone && a.heldBytes == int64(len(chunk)): // the whole body, in this chunk
		a.buf = chunk
	default:
		a.buf = append(a.buf, chunk...)
	}
}

// stream answers one body chunk of an answer that reached the client and,
// at its end, records how the answer ended.
// The monitor has seen b already (observe).
func (a *attemptStream) stream(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	resp := a.translate(b)
	a.meterStream(b, resp)
	if !b.GetEndOfStream() || !a.uncounted {
		return resp // not the end, or an answer recorded as it was decided
	}
	if a.answered != provider.ClassSuccess {
		// Released with an error in its stream (content policy): recorded then.
		a.countAnswer(a.answered)
		return resp
	}
	if a.mon == nil || a.mon.Ended() && a.mon.Failure() == nil {
		a.countAnswer(provider.ClassSuccess)
		return resp
	}
	// The stream ended without its terminal event, or after an error event:
	// a failure, whatever the client already got.
	cls := provider.Classification{Class: provider.ClassServerError, Status: a.status,
		Message: "the event stream ended without its terminal event"}
	if f := a.mon.Failure(); f != nil {
		cls = *f
		cls.Status = a.status
	}
	a.uncounted = false
	a.record(cls)
	if a.tr == nil && a.mon.Failure() == nil {
		// Passed through unchanged: end it with an OpenAI-style error event
		// so SDKs raise instead of returning a silently truncated answer.
		// (Translated streams get theirs from the translator.)
		body := append(append([]byte(nil), b.GetBody()...), provider.StreamErrorEvent(&a.ep.ep, cls)...)
		return replaceBody(body, nil)
	}
	return resp
}

// observe feeds a body chunk of an event stream to its monitor, which gives
// up (the end is then not judged) past limits.max_body_bytes of one event.
func (a *attemptStream) observe(b *extprocv3.HttpBody) {
	if a.mon == nil {
		return
	}
	a.mon.Feed(b.GetBody())
	if a.step == attStreaming && a.mon.Pending() > int(a.st.cfg.Limits.MaxBodyBytes) {
		a.logger().Warn("stream event larger than limits.max_body_bytes; the stream's end is not judged")
		a.mon = nil
	}
}

// countAnswer counts the outcome of an answer that reached the client once
// its body ended.
func (a *attemptStream) countAnswer(c provider.Class) {
	if a.uncounted {
		a.uncounted = false
		a.s.count(a.target.Provider, a.target.Model, c)
		a.observeEnd(provider.Classification{Class: c, Status: a.status})
	}
}

// translate answers one body chunk of a successful response. A stream
// passed on unchanged is redacted once an error event came: providers echo
// keys in errors (translated streams render theirs redacted).
func (a *attemptStream) translate(b *extprocv3.HttpBody) *extprocv3.ProcessingResponse {
	if a.tr == nil {
		if a.mon != nil && a.mon.Failure() != nil {
			if body, changed := a.ep.ep.RedactBytes(b.GetBody()); changed {
				return replaceBody(body, nil)
			}
		}
		return continueBody()
	}
	out, err := a.tr.Translate(b.GetBody(), b.GetEndOfStream())
	if err != nil {
		// The translator reports a broken provider body; the client gets what
		// was translated and an error in the stream, never a silent cut.
		a.logger().Warn("response translation failed", "error", err.Error())
	}
	return replaceBody(out, nil)
}

// succeed answers the held response headers and chunks: the client gets this
// provider's answer. cls is ClassSuccess, or a non-failover class seen in a
// 200 stream (recorded as neutral).
func (a *attemptStream) succeed(cls provider.Class) []*extprocv3.ProcessingResponse {
	a.stopTimer()
	a.observeFirstToken()
	a.recordAnswer(a.servedAs(provider.Classification{Class: cls, Status: a.status}))
	return a.release()
}

// recordAnswer records an answer that goes to the client as it flows: the
// breaker and the trace now, the metrics when its body ends (a stream can
// still fail there: then it is recorded again, as that failure).
func (a *attemptStream) recordAnswer(cls provider.Classification) {
	if b := a.s.registry.Lookup(targetKey(a.target)); b != nil {
		b.Record(a.s.clock.Now(), a.outcome(cls))
	}
	a.s.traces.finish(a.traceID, a.s.clock.Now(), a.traceRecord(cls))
	a.uncounted, a.answered = true, cls.Class
	a.auditAnswer(cls)
	if cls.Class != provider.ClassSuccess {
		a.logger().Info("attempt answered with an error in its stream", "status", cls.Status, "outcome", cls.Class.String(),
			"error_type", a.providerText(cls.Type), "error_code", a.providerText(cls.Code))
	}
}

// release answers the held headers and chunks with this provider's answer,
// translated for the client when its API is not OpenAI's.
func (a *attemptStream) release() []*extprocv3.ProcessingResponse {
	m := a.traceHeaders()
	a.tr = a.adapter.NewResponseTranslator(&a.ep.ep, a.preq, provider.Env{Now: a.s.clock.Now})
	if ct := a.tr.ContentType(); ct != "" {
		m.removeHeader("content-length")
		m.setHeader("content-type", ct)
	} else {
		a.tr = nil // passes through unchanged
	}
	out := []*extprocv3.ProcessingResponse{responseHeadersResponse(common(m))}
	a.step = attStreaming
	for _, b := range a.held {
		out = append(out, a.stream(b))
	}
	if a.bodyDone && len(a.held) == 0 {
		a.countAnswer(a.answered) // headers with end_of_stream: no body to wait for
	}
	a.held, a.buf = nil, nil
	return out
}

// finishBody translates a whole held JSON answer: the client gets it with a
// matching status, or, when the provider's body cannot be translated, the
// attempt fails over like a server error.
func (a *attemptStream) finishBody() []*extprocv3.ProcessingResponse {
	tr := a.adapter.NewResponseTranslator(&a.ep.ep, a.preq, provider.Env{Now: a.s.clock.Now})
	out, err := tr.Translate(a.buf, true)
	if err != nil {
		return a.fail(provider.Classification{Class: provider.ClassServerError, Status: 502,
			Message: "the provider's answer is not a usable answer: " + err.Error()})
	}
	if failed := a.judgeAnswer(out); failed != nil {
		return failed
	}
	a.stopTimer()
	a.observeUsage(out)
	served := a.servedAs(provider.Classification{Class: provider.ClassSuccess, Status: a.status})
	a.record(served)
	a.auditAnswer(served)
	a.chargeClient(out)
	m := a.traceHeaders()
	if tr.ContentType() == "" {
		return a.answerUnchanged(m)
	}
	return a.answerWithBody(a.status, m, out)
}

// answerWithBody answers the held headers with m and makes body the whole
// response body: the first held chunk carries it, later chunks are emptied.
// With no held chunk to carry it (headers with end_of_stream, or a hold that
// ended before any chunk came) the answer is a local reply with status
// instead: from an upstream ext_proc filter it reaches the client at once
// (see fatal), where a headers answer would leave the client an empty body,
// or none at all until the provider's next chunk.
func (a *attemptStream) answerWithBody(status int, m *mutation, body []byte) []*extprocv3.ProcessingResponse {
	if len(a.held) == 0 && len(body) > 0 {
		a.step = attPassing
		a.closing = true // Envoy is done with this attempt
		a.buf = nil
		return one(immediate(status, body, "attempt_answer", m))
	}
	m.setHeader("content-type", "application/json")
	m.removeHeader("content-length")
	out := []*extprocv3.ProcessingResponse{responseHeadersResponse(common(m))}
	a.step = attReplacing
	for i := range a.held {
		if i == 0 {
			out = append(out, replaceBody(body, nil))
		} else {
			out = append(out, replaceBody(nil, nil))
		}
	}
	a.held, a.buf = nil, nil
	return out
}

// answerUnchanged answers the held headers with m and every held chunk unchanged.
func (a *attemptStream) answerUnchanged(m *mutation) []*extprocv3.ProcessingResponse {
	a.step = attPassing
	out := []*extprocv3.ProcessingResponse{responseHeadersResponse(common(m))}
	for range a.held {
		out = append(out, continueBody())
	}
	a.held, a.buf = nil, nil
	return out
}

// decideError classifies a held error response with its body and answers it.
func (a *attemptStream) decideError() []*extprocv3.ProcessingResponse {
	cls := a.adapter.Classify(a.status, a.header(), a.buf, a.s.clock.Now())
	if cls.Class == provider.ClassSuccess { // a 3xx or odd status: let it through
		return a.succeed(provider.ClassSuccess)
	}
	if !a.failsOver(cls) {
		return a.returnError(cls)
	}
	return a.fail(cls)
}

// failsOver reports whether another target may serve the request after cls.
func (a *attemptStream) failsOver(cls provider.Classification) bool {
	if cls.Class == provider.ClassContextLength {
		next := a.index + 1
		return a.target.ContextWindow > 0 && next < len(a.plan.Targets) &&
			a.plan.Targets[next].ContextWindow > a.target.ContextWindow
	}
	return cls.Class.FailsOver()
}

// last reports whether no planned attempt follows this one, or none is
// worth making (noRetry: retry.go).
func (a *attemptStream) last() bool {
	return a.noRetry || a.attempt >= len(a.plan.Targets)+a.plan.Extra
}

// fail records a failure another target can serve, then either marks the
// response for Envoy to retry on the next planned target (the route retries
// only what carries the marker), or, on the last planned attempt, answers the
// client in-band: an error status with one OpenAI-style error listing every
// attempt. In-band rather than an ImmediateResponse (which, from an upstream
// ext_proc filter, reaches the client at once as a local reply: ext_proc.cc
// Filter::sendImmediateResponse): the answer keeps the response path, its
// headers and the route phase's view of it. A failover answered with no held
// body chunk also closes the stream (see done).
func (a *attemptStream) fail(cls provider.Classification) []*extprocv3.ProcessingResponse {
	if a.noRetry = a.futileRetry(cls); a.noRetry {
		a.logger().Info("no same-target retry: the target's Retry-After outlasts Envoy's back-off", "retry_after", cls.RetryAfter.String())
	}
	a.stopTimer()
	a.record(cls)
	a.auditFailure(cls)
	a.observeFailover(cls)
	if !a.last() {
		m := &mutation{}
		m.setHeader(contract.RetryHeader, contract.RetryValue)
		a.retryAfter(m)
		if a.status < 400 {
			// A 200 that failed (stream error event or stall, untranslatable
			// body): make it a 5xx so nothing reads as success (docs/design.md, "Holding the answer").
			m.setHeader(":status", "503")
		}
		a.closing = len(a.held) == 0
		return a.answerUnchanged(m)
	}
	recs := a.s.traces.get(a.traceID, a.s.clock.Now())
	a.logger().Warn("all attempts failed", "chain", a.plan.Chain, "status", cls.Status, "outcome", cls.Class.String(), "attempts", len(recs))
	if a.hold == holdStream && a.status < 400 {
		// A stream that failed in its first event or stalled, with nothing
		// left to fail over to: the client gets the provider's stream as it
		// is (translated; Anthropic's error event becomes an OpenAI error
		// event), and the headers carry the trace.
		return a.release()
	}
	status := cls.Status
	if status < 400 {
		status = 502
	}
	msg := fmt.Sprintf("all %d attempts of chain %q failed; the last, %s/%s, answered %d %s", len(recs), a.plan.Chain,
		a.target.Provider, a.target.Model, cls.Status, cls.Class)
	if cls.Message != "" {
		msg += ": " + truncate(a.ep.ep.Redact(cls.Message), 300)
	}
	m := a.traceHeaders()
	m.setHeader(":status", strconv.Itoa(status))
	return a.answerWithBody(status, m, provider.ErrorJSON(provider.ErrorObject{Message: msg, Type: provider.ErrorType(status), Code: "all_targets_failed", Attempts: attemptsJSON(recs)}))
}

// returnError gives the client an error no other target would avoid
// (invalid request, content policy), in the client's format
// (provider.ClientError).
func (a *attemptStream) returnError(cls provider.Classification) []*extprocv3.ProcessingResponse {
	a.stopTimer()
	a.record(cls)
	m := a.traceHeaders()
	// Passed on as the provider wrote it, unless it echoes a key, is in
	// another format, or was held only in part (what was not seen cannot be
	// redacted): then rebuilt by provider.ClientError.
	if body := provider.ClientError(&a.ep.ep, cls, a.buf, a.bodyDone); body != nil {
		return a.answerWithBody(a.status, m, body)
	}
	return a.answerUnchanged(m)
}

// traceHeaders are the response headers of every answer that is not a
// failover: who answered and how. They also remove the retry marker a
// provider may send itself (Envoy would discard the answer and retry), and
// pass a provider's Retry-After on only as a wait the breaker would take
// (normalized to delay-seconds; negative, unparseable or absurd values are
// dropped).
func (a *attemptStream) traceHeaders() *mutation {
	m := &mutation{}
	m.removeHeader(contract.RetryHeader)
	a.retryAfter(m)
	m.setHeader(contract.HeaderProvider, a.target.Provider)
	m.setHeader(contract.HeaderModel, a.target.Model)
	m.setHeader(contract.HeaderAttempt, strconv.Itoa(a.attempt))
	m.setHeader(contract.HeaderChain, a.plan.Chain)
	m.setHeader(contract.HeaderTrace, formatTrace(a.s.traces.get(a.traceID, a.s.clock.Now())))
	return m
}
