package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

type attemptStep uint8

const (
	attWantHeaders attemptStep = iota
	attWantBody
	attWantResponse // the request went out; waiting for response headers
	attHolding      // response headers held while the first event or error body arrives
	attStreaming    // answered: the body flows to the client, translated if needed
	attReplacing    // answered with our own body: later chunks are emptied
	attPassing      // answered: chunks pass unchanged (failing over, or done)
)

type holdKind uint8

const (
	holdStream holdKind = iota // a 200 event stream: wait for its first event
	holdError                  // an error status: wait for its body to classify it
	holdBody                   // a JSON answer to translate: wait for all of it
)

// attemptStream is one attempt on one provider: it rewrites the request for
// the provider, judges the response, records the outcome and tells Envoy
// whether to retry.
type attemptStream struct {
	s    *Server
	st   *state
	step attemptStep

	reqID   string
	peer    string // the stream's remote address, for refusal logs
	traceID string // the plan id: the trace key
	attempt int
	plan    planInfo
	index   int // index of the target in plan.Targets
	target  planTarget
	ep      *endpoint
	preq    provider.Request
	// headerNames are the request header names this attempt arrived with:
	// requestBody removes those not on the forwarding allowlist.
	headerNames []string

	sent    time.Time
	status  int
	headers http.Header
	latency time.Duration

	hold  holdKind
	held  []*extprocv3.HttpBody
	buf   []byte
	timer *time.Timer
	tr    provider.ResponseTranslator
	// mon follows a 200 event stream from its first chunk to its end: the
	// hold waits for content, the end is judged by the terminal event. nil
	// for other answers and once the stream outgrew what it may buffer.
	mon *provider.StreamMonitor
	// bodyDone is set once the held response body is whole (end_of_stream seen).
	bodyDone bool
	// uncounted is set while an answer that reached the client waits for
	// its body's end to be counted in the metrics (it may still fail there).
	uncounted bool
	answered  provider.Class // the class an uncounted answer was recorded with
	// closing is set by a decision that must end the ext_proc stream: a
	// failover answered with no held body chunk (see done).
	closing bool
	usage   usageMeter // a streamed answer's completion tokens (clients.go)
}

func newAttemptStream(s *Server, st *state) *attemptStream {
	return &attemptStream{s: s, st: st}
}

// logger is the stream's logger, built only when something is logged.
func (a *attemptStream) logger() *slog.Logger {
	return a.s.log.With("phase", PhaseAttempt, "request_id", a.reqID, "attempt", a.attempt,
		"provider", a.target.Provider, "model", a.target.Model)
}

func (a *attemptStream) deadline() <-chan time.Time {
	if a.timer == nil || a.step != attHolding {
		return nil
	}
	return a.timer.C
}

// done reports that the stream should close now. A failover decision taken
// with no held body chunk (a 200 event stream that stays silent, an error
// whose body never came) answers only the response headers; in STREAMED mode
// Envoy keeps those until the next body chunk (processor_state.cc
// ProcessorState::handleHeaderContinue, Envoy #45355) or until the gRPC
// stream closes (ext_proc.cc Filter::onGrpcCloseWithStatus, whose
// ProcessorState::clearAsyncState continues the paused headers). Closing
// releases them at once, so Envoy retries now.
func (a *attemptStream) done() bool { return a.closing }

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

func (a *attemptStream) end(err error) {
	a.stopTimer()
	// Only these steps have an outcome still to record: every answer moves
	// the stream past them.
	switch a.step {
	case attWantResponse, attHolding:
		now := a.s.clock.Now()
		if per := a.perTry(); now.Sub(a.sent) >= per-per/50 {
			// Ended at the per-try timeout: Envoy's timer, not the client.
			a.record(provider.Classification{Class: provider.ClassTimeout, Status: 0,
				Message: fmt.Sprintf("no answer within the per-try timeout (%s)", per)})
			return
		}
		// A reset, a per-try timeout we cannot see, or the client leaving:
		// Envoy tears the stream down alike for all three. The trace store
		// waits for evidence (docs/envoy-contract.md, attempt phase).
		a.s.settle(a.s.traces.pend(a.traceID, now, a.traceRecord(provider.Classification{})))
	case attStreaming, attReplacing, attPassing:
		if a.uncounted {
			// The answer reached the client and its stream was torn down
			// before its end: a provider reset or the client leaving, which
			// the attempt phase cannot tell apart (Envoy resets the client's
			// stream either way). Counted as its own outcome, neutral.
			a.uncounted = false
			a.s.count(a.target.Provider, a.target.Model, provider.ClassCut)
			a.s.traces.finish(a.traceID, a.s.clock.Now(), a.traceRecord(provider.Classification{Class: provider.ClassCut,
				Status: a.status, Message: "the answer was cut after it reached the client (provider reset or client gone)"}))
			a.logger().Warn("answer cut after it reached the client", "status", a.status)
		}
	}
}

// perTry is the request's per-try timeout: the plan's, else envoy.per_try_timeout.
func (a *attemptStream) perTry() time.Duration {
	if a.plan.PerTry > 0 {
		return a.plan.PerTry
	}
	return a.st.cfg.Envoy.PerTryTimeout.D()
}

func (a *attemptStream) handle(req *extprocv3.ProcessingRequest) ([]*extprocv3.ProcessingResponse, error) {
	switch m := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		if a.step != attWantHeaders {
			return nil, protocolError("attempt phase: request headers received twice")
		}
		return a.requestHeaders(req, m.RequestHeaders)
	case *extprocv3.ProcessingRequest_RequestBody:
		if a.step != attWantBody {
			if a.step == attPassing {
				return one(requestBodyResponse(&extprocv3.CommonResponse{})), nil
			}
			return nil, protocolError("attempt phase: request body out of order")
		}
		// The whole body, with or without end_of_stream (see routeStream.handle).
		return a.requestBody(m.RequestBody.Body)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		if a.step != attWantResponse {
			if a.step == attPassing {
				return one(responseHeadersResponse(&extprocv3.CommonResponse{})), nil
			}
			return nil, protocolError("attempt phase: response headers out of order")
		}
		return a.responseHeaders(m.ResponseHeaders)
	case *extprocv3.ProcessingRequest_ResponseBody:
		return a.responseBody(m.ResponseBody)
	case *extprocv3.ProcessingRequest_RequestTrailers, *extprocv3.ProcessingRequest_ResponseTrailers:
		return one(trailersResponse(req)), nil
	}
	return nil, protocolError("attempt phase: unexpected message %T", req.Request)
}

// fatal answers an attempt that cannot be made because Envoy and
// llm-failover are misconfigured (no forwarded plan, a provider outside the
// plan or not configured here, no request body) with a 500 ImmediateResponse
// carrying an OpenAI-style error that names the problem and the fix. Since
// Envoy #41231 an upstream ext_proc filter's local reply reaches the client
// at once and is never retried (ext_proc.cc Filter::sendImmediateResponse,
// router/upstream_request.cc UpstreamFilterManager::sendLocalReply), so the
// client learns promptly; another target would fail the same way. Logged
// once here, at error level, with the request and plan ids.
func (a *attemptStream) fatal(code, msg string) []*extprocv3.ProcessingResponse {
	a.step = attPassing
	counter(&a.s.metrics.rejected, code).Add(1)
	a.logger().Error("attempt cannot proceed: misconfiguration", "code", code, "reason", msg,
		"plan_id", a.plan.ID, "chain", a.plan.Chain)
	return one(immediate(500, errorBody(apiError{Message: "llm-failover: " + msg, Type: "server_error", Code: code}), code, nil))
}

// refuse answers an attempt stream whose plan is missing, does not verify,
// has expired or does not name the provider Envoy chose, with a 500
// ImmediateResponse (as fatal) and nothing else: no credential, no request
// rewrite, no breaker outcome, no trace record, and a metric whose only
// label is the fixed reason. The log line carries the reason and the
// stream's peer, not the plan's (unverified) content.
func (a *attemptStream) refuse(why refusal, code, msg string) []*extprocv3.ProcessingResponse {
	a.step = attPassing
	a.s.metrics.refused[why].Add(1)
	a.s.log.Error("attempt refused", "phase", PhaseAttempt, "code", code, "reason", why.String(), "request_id", a.reqID, "peer", a.peer)
	return one(immediate(500, errorBody(apiError{Message: "llm-failover: " + msg, Type: "server_error", Code: code}), code, nil))
}

func (a *attemptStream) requestHeaders(req *extprocv3.ProcessingRequest, h *extprocv3.HttpHeaders) ([]*extprocv3.ProcessingResponse, error) {
	hs := headerMap(h.GetHeaders())
	attrs := req.GetAttributes()[attrNamespace]
	if attrs == nil {
		//lint:ignore SA1019 an older Envoy sends the attributes on the deprecated HttpHeaders field
		attrs = h.GetAttributes()[attrNamespace]
	}
	a.attempt = attemptCount(attrs, hs)
	a.reqID = cleanRequestID(hs["x-request-id"])
	plan, err := contract.DecodePlan(req.GetMetadataContext(), a.st.cfg.MetadataNamespace)
	if err != nil {
		return a.refuse(refusedNoPlan, "plan_missing", fmt.Sprintf("the attempt phase got no plan: %v; the upstream ext_proc filter must forward namespace %q (metadata_options.forwarding_namespaces) and the route-phase filter must run first", err, a.st.cfg.PlanNamespace())), nil
	}
	// Nothing of the plan is used before it verifies: an attempt stream
	// from anyone but Envoy can carry any metadata (docs/security.md).
	if err := a.s.planKeys.verify(&plan, a.s.clock.Now()); err != nil {
		if errors.Is(err, errPlanExpired) {
			return a.refuse(refusedExpired, "plan_expired", "the plan has expired: the attempt came later than any attempt of its request can"), nil
		}
		return a.refuse(refusedBadSignature, "plan_unverified", "the plan's signature does not verify: llm-failover did not publish it, or replicas behind one Envoy do not share server.plan_key_file"), nil
	}
	a.plan = plan
	if st := a.s.snaps.get(plan.Gen); st != nil {
		// Serve the attempt on the configuration the plan was made with: a
		// reload since then may have removed or changed its providers.
		a.st = st
	}
	a.traceID = plan.ID
	if a.traceID == "" {
		a.traceID = a.reqID
	}
	hostProvider := a.s.hostProvider(attrs)
	a.index = min(a.attempt-1, len(plan.Targets)-1)
	if hostProvider != "" && plan.Targets[a.index].Provider != hostProvider {
		// Envoy chose another cluster than the plan says for this attempt (for
		// example the configured groups, when the override was unusable): serve
		// the provider Envoy really chose, with the plan's model for it.
		found := false
		for i, t := range plan.Targets {
			if t.Provider == hostProvider {
				a.index, found = i, true
				break
			}
		}
		if !found {
			return a.refuse(refusedProviderNotInPlan, "provider_not_in_plan", fmt.Sprintf("Envoy sent attempt %d to provider %q, which is not in the signed plan of chain %q (are the route's priority groups overridden from metadata namespace %q?)", a.attempt, hostProvider, plan.Chain, a.st.cfg.MetadataNamespace)), nil
		}
		a.logger().Warn("attempt provider differs from the plan", "planned", plan.Targets[min(a.attempt-1, len(plan.Targets)-1)].Provider, "actual", hostProvider)
	}
	a.target = plan.Targets[a.index]
	a.ep = a.st.endpoints[a.target.Provider]
	if a.ep == nil {
		return a.fatal("unknown_provider", fmt.Sprintf("provider %q of the plan is not configured on this replica, and the configuration the plan was made with is not kept here", a.target.Provider)), nil
	}
	a.preq = provider.Request{Model: a.target.Model, Stream: plan.Stream, IncludeUsage: plan.IncludeUsage}
	if h.GetEndOfStream() {
		return a.fatal("missing_body", "the attempt reached the attempt phase without a request body (the route phase refuses bodiless requests: is the route-phase filter configured?)"), nil
	}
	for _, hv := range h.GetHeaders().GetHeaders() {
		a.headerNames = append(a.headerNames, hv.GetKey())
	}
	a.step = attWantBody
	return one(requestHeadersResponse(&extprocv3.CommonResponse{})), nil
}

// forwardedHeaders are the client request headers an attempt passes on to a
// provider (docs/envoy-contract.md, "What reaches a provider"): every other
// client header is removed, so a client's cookies, proxy credentials, own
// API keys, tracing and forwarding headers never reach a provider. Pseudo
// headers (":path" is rewritten; Envoy sets ":authority" per attempt) and
// Envoy's own x-envoy-* headers (its mutation rules refuse changes) are left
// alone; content-type, content-length and the provider's credential and
// version headers are set by the attempt; x-request-id stays because later
// attempts read it from the same header map.
var forwardedHeaders = map[string]bool{
	"accept":       true,
	"user-agent":   true,
	"x-request-id": true,
}

// forwarded reports whether the attempt leaves client header name in place.
func forwarded(name string) bool {
	return forwardedHeaders[name] || strings.HasPrefix(name, ":") || strings.HasPrefix(name, "x-envoy-") || name == "host"
}

func (a *attemptStream) requestBody(body []byte) ([]*extprocv3.ProcessingResponse, error) {
	a.preq.Body = body
	p, err := a.ep.adapter.Prepare(&a.ep.ep, a.preq)
	if err != nil {
		var pe *provider.Error
		if !errors.As(err, &pe) {
			pe = &provider.Error{Status: 400, Type: "invalid_request_error", Message: err.Error()}
		}
		// A backstop: the route phase already left out targets whose Prepare
		// refuses the request, so this happens only when Envoy sends the
		// attempt to another target than planned. The ImmediateResponse
		// reaches the client at once (an upstream local reply, see fatal):
		// the request itself is what the provider cannot take, so it is a
		// 4xx naming the target, never retried.
		status := pe.Status
		if status < 400 || status > 499 {
			status = 400
		}
		a.step = attPassing
		a.addTrace(provider.Classification{Class: provider.ClassInvalidRequest, Status: status, Message: pe.Message})
		a.logger().Warn("the target's adapter refused the request", "status", status, "reason", pe.Message)
		e := apiErrorOf(pe)
		e.Provider = a.target.Provider
		return one(immediate(status, errorBody(e), "untranslatable", a.traceHeaders())), nil
	}
	m := &mutation{}
	set := func(k string) bool {
		return k == "content-type" || k == "content-length" || k == "accept-encoding" ||
			slices.ContainsFunc(p.Headers, func(h provider.Header) bool { return h.Key == k })
	}
	// Remove every client header a provider does not need, and every
	// credential header (upstream filters share one header map across
	// attempts: an earlier attempt's key must not reach this provider). A
	// header set below is never also removed.
	removed := map[string]bool{}
	for _, k := range slices.Concat(a.st.credHeaders, []string{HeaderChain}, a.headerNames) {
		if !removed[k] && !set(k) && !forwarded(k) {
			removed[k] = true
			m.removeHeader(k)
		}
	}
	m.setHeader(":path", p.Path)
	for _, h := range p.Headers {
		m.setHeader(h.Key, h.Value)
	}
	m.setHeader("content-type", "application/json")
	m.setHeader("content-length", strconv.Itoa(len(p.Body)))
	// Answers must come uncompressed: the attempt phase classifies them,
	// inspects a stream's first event and translates bodies.
	m.setHeader("accept-encoding", "identity")
	c := common(m)
	c.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: p.Body}}
	a.step = attWantResponse
	a.sent = a.s.clock.Now()
	// In the trace from now on, so a trace read at any time lists every
	// attempt sent; a later attempt is evidence about earlier ones.
	a.s.settle(a.s.traces.begin(a.traceID, a.sent, a.traceRecord(provider.Classification{})))
	return one(requestBodyResponse(c)), nil
}

func (a *attemptStream) responseHeaders(h *extprocv3.HttpHeaders) ([]*extprocv3.ProcessingResponse, error) {
	hs := headerMap(h.GetHeaders())
	a.status = statusOf(hs)
	a.latency = a.s.clock.Now().Sub(a.sent)
	a.bodyDone = h.GetEndOfStream()
	a.headers = make(http.Header, len(hs))
	for k, v := range hs {
		a.headers.Set(k, v)
	}
	if a.status >= 200 && a.status < 400 {
		mt, _, _ := mime.ParseMediaType(hs["content-type"])
		if a.plan.Stream && mt == "text/event-stream" && a.status == 200 {
			a.mon = provider.NewStreamMonitor(a.ep.adapter)
			if h.GetEndOfStream() {
				return a.fail(provider.Classification{Class: provider.ClassServerError, Status: a.status,
					Message: "the event stream was empty"}), nil
			}
			a.startHold(holdStream)
			return nil, nil
		}
		if a.status == 200 {
			// Judge the whole answer before the client sees a status: a body
			// that is not an answer (HTML, invalid JSON, empty, untranslatable)
			// then fails over instead of reaching the client as a broken 200.
			if h.GetEndOfStream() {
				return a.finishBody(), nil
			}
			a.startHold(holdBody)
			return nil, nil
		}
		// Another 2xx (204, 202...) or a 3xx (the router follows no
		// redirect): no provider answers a chat completion so; not an answer.
		return a.fail(provider.Classification{Class: provider.ClassServerError, Status: a.status,
			Message: fmt.Sprintf("the provider answered %d, which is not a chat completion", a.status)}), nil
	}
	if h.GetEndOfStream() {
		return a.decideError(), nil
	}
	a.startHold(holdError)
	return nil, nil
}

func (a *attemptStream) startHold(k holdKind) {
	a.step, a.hold = attHolding, k
	a.timer = time.NewTimer(a.st.cfg.Server.StreamFirstEventTimeout.D())
}

func (a *attemptStream) responseBody(b *extprocv3.HttpBody) ([]*extprocv3.ProcessingResponse, error) {
	switch a.step {
	case attHolding:
		a.held = append(a.held, b)
		a.bodyDone = b.GetEndOfStream()
		a.buf = append(a.buf, b.GetBody()...)
		over := int64(len(a.buf)) > int64(a.st.cfg.Server.MaxStreamHoldBytes)
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
			if int64(len(a.buf)) > int64(a.st.cfg.Limits.MaxBodyBytes) {
				// Too large to hold (limits.max_body_bytes): passed on unjudged.
				a.logger().Warn("answer larger than limits.max_body_bytes; passing it on unjudged", "held_bytes", len(a.buf))
				return a.succeed(provider.ClassSuccess), nil
			}
			return nil, nil
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
			return a.succeed(provider.ClassSuccess), nil
		case b.GetEndOfStream():
			msg := "the event stream ended before its first event"
			if a.mon.Events() > 0 {
				msg = "the event stream ended before any content"
			}
			return a.fail(provider.Classification{Class: provider.ClassServerError, Status: a.status, Message: msg}), nil
		case over:
			a.logger().Warn("no content within server.max_stream_hold_bytes; passing the stream on unjudged", "held_bytes", len(a.buf))
			return a.succeed(provider.ClassSuccess), nil
		}
		return nil, nil
	case attStreaming:
		a.observe(b)
		return one(a.stream(b)), nil
	case attReplacing:
		return one(replaceBody(nil, nil)), nil
	}
	return one(responseBodyResponse(&extprocv3.CommonResponse{})), nil
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
		return responseBodyResponse(&extprocv3.CommonResponse{})
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
	a.recordAnswer(provider.Classification{Class: cls, Status: a.status})
	return a.release()
}

// recordAnswer records an answer that goes to the client as it flows: the
// breaker and the trace now, the metrics when its body ends (a stream can
// still fail there: then it is recorded again, as that failure).
func (a *attemptStream) recordAnswer(cls provider.Classification) {
	if b := a.s.registry.Lookup(targetKey(a.target)); b != nil {
		b.Record(a.s.clock.Now(), outcomeOf(cls, a.latency))
	}
	a.s.traces.finish(a.traceID, a.s.clock.Now(), a.traceRecord(cls))
	a.uncounted, a.answered = true, cls.Class
	if cls.Class != provider.ClassSuccess {
		a.logger().Info("attempt answered with an error in its stream", "status", cls.Status, "outcome", cls.Class.String(),
			"error_type", a.providerText(cls.Type), "error_code", a.providerText(cls.Code))
	}
}

// release answers the held headers and chunks with this provider's answer,
// translated for the client when its API is not OpenAI's.
func (a *attemptStream) release() []*extprocv3.ProcessingResponse {
	m := a.traceHeaders()
	a.tr = a.ep.adapter.NewResponseTranslator(&a.ep.ep, a.preq, provider.Env{Now: a.s.clock.Now})
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
	tr := a.ep.adapter.NewResponseTranslator(&a.ep.ep, a.preq, provider.Env{Now: a.s.clock.Now})
	out, err := tr.Translate(a.buf, true)
	if err != nil {
		return a.fail(provider.Classification{Class: provider.ClassServerError, Status: 502,
			Message: "the provider's answer is not a usable answer: " + err.Error()})
	}
	a.stopTimer()
	a.record(provider.Classification{Class: provider.ClassSuccess, Status: a.status})
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
		out = append(out, responseBodyResponse(&extprocv3.CommonResponse{}))
	}
	a.held, a.buf = nil, nil
	return out
}

// decideError classifies a held error response with its body and answers it.
func (a *attemptStream) decideError() []*extprocv3.ProcessingResponse {
	cls := a.ep.adapter.Classify(a.status, a.headers, a.buf, a.s.clock.Now())
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

// last reports whether no planned attempt follows this one.
func (a *attemptStream) last() bool {
	return a.attempt >= len(a.plan.Targets)+a.plan.Extra
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
	a.stopTimer()
	a.record(cls)
	if !a.last() {
		m := &mutation{}
		m.setHeader(HeaderRetry, contract.RetryValue)
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
	return a.answerWithBody(status, m, errorBody(apiError{Message: msg, Type: errorTypeFor(status), Code: "all_targets_failed", Attempts: attemptsJSON(recs)}))
}

// returnError gives the client an error no other target would avoid
// (invalid request, content policy): unchanged for OpenAI-shaped providers,
// rendered in OpenAI's shape for the others.
func (a *attemptStream) returnError(cls provider.Classification) []*extprocv3.ProcessingResponse {
	a.stopTimer()
	a.record(cls)
	m := a.traceHeaders()
	if a.ep.cfg.API.OpenAIShaped() {
		// Passed on as the provider wrote it, unless it echoes a key.
		if body, changed := a.ep.ep.RedactBytes(a.buf); changed && a.bodyDone {
			return a.answerWithBody(a.status, m, body)
		}
		return a.answerUnchanged(m)
	}
	return a.answerWithBody(a.status, m, provider.ErrorBody(&a.ep.ep, cls))
}

// traceHeaders are the response headers of every answer that is not a
// failover: who answered and how. They also remove the retry marker a
// provider may send itself (Envoy would discard the answer and retry), and
// pass a provider's Retry-After on only as a wait the breaker would take
// (normalized to delay-seconds; negative, unparseable or absurd values are
// dropped).
func (a *attemptStream) traceHeaders() *mutation {
	m := &mutation{}
	m.removeHeader(HeaderRetry)
	a.retryAfter(m)
	m.setHeader(HeaderProvider, a.target.Provider)
	m.setHeader(HeaderModel, a.target.Model)
	m.setHeader(HeaderAttempt, strconv.Itoa(a.attempt))
	m.setHeader(HeaderChain, a.plan.Chain)
	m.setHeader(HeaderTrace, formatTrace(a.s.traces.get(a.traceID, a.s.clock.Now())))
	return m
}

// record feeds the outcome to the target's breaker, the metrics and the trace.
func (a *attemptStream) record(cls provider.Classification) {
	now := a.s.clock.Now()
	if b := a.s.registry.Lookup(targetKey(a.target)); b != nil {
		b.Record(now, outcomeOf(cls, a.latency))
	}
	a.addTrace(cls)
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
		Status: cls.Status, Latency: a.latency, Message: truncate(a.ep.ep.Redact(cls.Message), 300), Target: targetKey(a.target)}
}

// retryAfter normalizes the provider's Retry-After on an answer: kept, as
// delay-seconds rounded up, when the breaker would take it; removed otherwise.
func (a *attemptStream) retryAfter(m *mutation) {
	v := a.headers.Get("retry-after")
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
	counter(&s.metrics.attempts, providerName+"\x00"+model+"\x00"+c.String()).Add(1)
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
		if b := s.registry.Lookup(r.Target); b != nil {
			b.Record(now, outcomeOf(provider.Classification{Class: r.Class}, 0))
		}
		s.log.Info("attempt ended without an answer", "phase", PhaseAttempt, "attempt", r.Attempt, "provider", r.Provider,
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
	default:
		o.Kind = breaker.Neutral
	}
	if cls.Status == 0 {
		o.Latency = 0 // no response headers: no latency sample
	}
	return o
}

// attemptCount reads upstream.request_attempt_count (a number, or a string),
// falling back to x-envoy-attempt-count, then 1.
func attemptCount(attrs *structpb.Struct, hs map[string]string) int {
	if v := attrs.GetFields()[attrAttemptCount]; v != nil {
		switch k := v.Kind.(type) {
		case *structpb.Value_NumberValue:
			if k.NumberValue >= 1 && k.NumberValue < 1e6 {
				return int(k.NumberValue)
			}
		case *structpb.Value_StringValue:
			if n, err := strconv.Atoi(k.StringValue); err == nil && n >= 1 {
				return n
			}
		}
	}
	if n, err := strconv.Atoi(hs["x-envoy-attempt-count"]); err == nil && n >= 1 {
		return n
	}
	return 1
}

// hostProvider reads the provider name from xds.upstream_host_metadata: the
// text format of the endpoint's core.v3.Metadata (Envoy prints message-typed
// CEL values with ShortDebugString), or a Struct of the same shape.
func (s *Server) hostProvider(attrs *structpb.Struct) string {
	v := attrs.GetFields()[attrHostMetadata]
	if v == nil {
		return ""
	}
	if text, ok := v.Kind.(*structpb.Value_StringValue); ok {
		// One string per endpoint: parse each once.
		if p, ok := s.hosts.Load(text.StringValue); ok {
			return p.(string)
		}
		p := parseHostProvider(v)
		if len(text.StringValue) <= maxHostCacheKey && s.hostsLen.Add(1) <= maxHostCache {
			s.hosts.Store(text.StringValue, p)
		}
		return p
	}
	return parseHostProvider(v)
}

// maxHostCache bounds the parsed host metadata cache, and maxHostCacheKey
// the length of a cached string (Envoy's are a few hundred bytes; a caller
// other than Envoy could send megabytes).
const (
	maxHostCache    = 4096
	maxHostCacheKey = 4096
)

func parseHostProvider(v *structpb.Value) string {
	var fm map[string]*structpb.Struct
	switch k := v.Kind.(type) {
	case *structpb.Value_StringValue:
		var md corev3.Metadata
		if err := prototext.Unmarshal([]byte(k.StringValue), &md); err != nil {
			return ""
		}
		fm = md.GetFilterMetadata()
	case *structpb.Value_StructValue:
		f := k.StructValue.GetFields()["filter_metadata"].GetStructValue()
		if f == nil {
			f = k.StructValue
		}
		fm = map[string]*structpb.Struct{}
		for ns, s := range f.GetFields() {
			fm[ns] = s.GetStructValue()
		}
	}
	return fm[EndpointNamespace].GetFields()["provider"].GetStringValue()
}
