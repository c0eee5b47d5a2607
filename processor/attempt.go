package processor

import (
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

// attemptStep is the attempt's stage: the one state the stream's handlers
// switch on.
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

// attemptStream is one attempt on one provider: it rewrites the request for
// the provider, judges the response, records the outcome and tells Envoy
// whether to retry.
type attemptStream struct {
	s    *Server
	st   *state
	step attemptStep

	reqID   string
	peer    net.Addr // the stream's remote address, for refusal logs; may be nil
	traceID string   // the plan id: the trace key
	attempt int
	plan    contract.Plan
	index   int // index of the target in plan.Targets
	target  contract.Target
	ep      *endpoint
	api     *provider.ClientAPI // the plan's client API (dispatch.go)
	adapter provider.Adapter    // the target's wire format for it
	preq    provider.Request
	// headerNames are the request header names this attempt arrived with:
	// requestBody removes those not on the forwarding allowlist.
	headerNames []string

	sent   time.Time
	status int
	// respHeaders are the provider's response headers as Envoy sent them;
	// header() makes them an http.Header when a classification needs one.
	respHeaders *corev3.HeaderMap
	headers     http.Header
	latency     time.Duration

	hold  holdKind
	held  []*extprocv3.HttpBody
	buf   []byte
	timer clock.Timer // the hold's, on the server's clock
	tr    provider.ResponseTranslator
	// heldBytes counts the bytes of the held chunks; buf keeps only a held
	// error or answer body (keep).
	heldBytes int64
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
	usage   provider.UsageMeter // a streamed answer's completion tokens (clients.go)
	// qualityServed is the quality failure of the last planned attempt's
	// answer, which reaches the client as it is (quality.go); nil otherwise.
	qualityServed *provider.Classification
	// noRetry makes this attempt the last: a same-target retry it would
	// lead to is futile (retry.go).
	noRetry bool
	obs     attemptObs // metrics and span (observe.go)
}

// addrText is a's text, "" for none.
func addrText(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func newAttemptStream(s *Server, st *state) *attemptStream {
	return &attemptStream{s: s, st: st}
}

// logger is the stream's logger, built only when something is logged.
func (a *attemptStream) logger() *slog.Logger {
	return a.s.log.With("phase", contract.PhaseAttempt, "request_id", a.reqID, "attempt", a.attempt,
		"provider", a.target.Provider, "model", a.target.Model)
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

func (a *attemptStream) end(err error) {
	defer a.endSpan()
	a.stopTimer()
	// Only these steps have an outcome still to record: every answer moves
	// the stream past them.
	switch a.step {
	case attWantResponse, attHolding:
		now := a.s.clock.Now()
		if per := a.perTry(); now.Sub(a.sent) >= per-per/50 {
			// Ended at the per-try timeout: Envoy's timer, not the client.
			cls := provider.Classification{Class: provider.ClassTimeout, Status: 0,
				Message: fmt.Sprintf("no answer within the per-try timeout (%s)", per)}
			a.record(cls)
			a.auditFailure(cls)
			a.observeFailover(cls)
			return
		}
		// A reset, a per-try timeout we cannot see, or the client leaving:
		// Envoy tears the stream down alike for all three. The trace store
		// waits for evidence (docs/envoy-contract.md, attempt phase).
		settled := a.s.traces.pend(a.traceID, now, a.traceRecord(provider.Classification{}))
		a.s.settle(settled)
		a.auditRetried(settled, a.nextTarget())
		a.observeRetried(settled, a.nextTarget())
	case attStreaming, attReplacing, attPassing:
		if a.uncounted {
			// The answer reached the client and its stream was torn down
			// before its end: a provider reset or the client leaving, which
			// the attempt phase cannot tell apart (Envoy resets the client's
			// stream either way). Counted as its own outcome, neutral.
			a.countAnswer(provider.ClassCut)
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
	a.s.tel.CountRejected(code)
	a.logger().Error("attempt cannot proceed: misconfiguration", "code", code, "reason", msg,
		"plan_id", a.plan.ID, "chain", a.plan.Chain)
	return one(immediate(500, provider.ErrorJSON(provider.ErrorObject{Message: "llm-failover: " + msg, Type: "server_error", Code: code}), code, nil))
}

// refuse answers an attempt stream whose plan is missing, does not verify,
// has expired or does not name the provider Envoy chose, with a 500
// ImmediateResponse (as fatal) and nothing else: no credential, no request
// rewrite, no breaker outcome, no trace record, and a metric whose only
// label is the fixed reason. The log line carries the reason and the
// stream's peer, not the plan's (unverified) content.
func (a *attemptStream) refuse(why refusal, code, msg string) []*extprocv3.ProcessingResponse {
	a.step = attPassing
	a.s.tel.CountRefused(why.String(), 1)
	a.s.log.Error("attempt refused", "phase", contract.PhaseAttempt, "code", code, "reason", why.String(), "request_id", a.reqID, "peer", addrText(a.peer))
	return one(immediate(500, provider.ErrorJSON(provider.ErrorObject{Message: "llm-failover: " + msg, Type: "server_error", Code: code}), code, nil))
}

func (a *attemptStream) requestHeaders(req *extprocv3.ProcessingRequest, h *extprocv3.HttpHeaders) ([]*extprocv3.ProcessingResponse, error) {
	attrs := req.GetAttributes()[contract.AttrNamespace]
	if attrs == nil {
		//lint:ignore SA1019 an older Envoy sends the attributes on the deprecated HttpHeaders field
		attrs = h.GetAttributes()[contract.AttrNamespace]
	}
	a.attempt = attemptCount(attrs, h.GetHeaders())
	a.reqID = cleanRequestID(headerValue(h.GetHeaders(), "x-request-id"))
	plan, err := attemptPlan(req, attrs, a.st.cfg.MetadataNamespace)
	if err != nil {
		return a.refuse(refusedNoPlan, "plan_missing", fmt.Sprintf("the attempt phase got no plan: %v; the upstream ext_proc filter must ask for request attribute %q (request_attributes) and the route-phase filter must run first", err, contract.PlanAttribute(a.st.cfg.MetadataNamespace))), nil
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
	if planned := plan.Targets[a.index].Provider; hostProvider != "" && planned != hostProvider {
		// Envoy chose another cluster than the plan says for this attempt (for
		// example the configured groups, when the override was unusable): serve
		// the provider Envoy really chose, with the plan's model for it.
		a.index = slices.IndexFunc(plan.Targets, func(t contract.Target) bool { return t.Provider == hostProvider })
		if a.index < 0 {
			return a.refuse(refusedProviderNotInPlan, "provider_not_in_plan", fmt.Sprintf("Envoy sent attempt %d to provider %q, which is not in the signed plan of chain %q (are the route's priority groups overridden from metadata namespace %q?)", a.attempt, hostProvider, plan.Chain, a.st.cfg.MetadataNamespace)), nil
		}
		a.logger().Warn("attempt provider differs from the plan", "planned", planned, "actual", hostProvider)
	}
	a.target = plan.Targets[a.index]
	a.ep = a.st.endpoints[a.target.Provider]
	if a.ep == nil {
		return a.fatal("unknown_provider", fmt.Sprintf("provider %q of the plan is not configured on this replica, and the configuration the plan was made with is not kept here", a.target.Provider)), nil
	}
	if out := a.dispatch(); out != nil {
		return out, nil
	}
	// The body this attempt gets is the one the route phase inspected and
	// checked before signing the plan: Prepare does not validate it again.
	a.preq = provider.Request{Model: a.target.Model, Stream: plan.Stream, IncludeUsage: plan.IncludeUsage}.Inspected()
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
// attempts read it from the same header map, and so do the Envoy 1.39 slot
// headers, which a retry's matcher cluster specifier reads from that map
// (docs/compatibility.md): removed, the retry would find no slot and stay
// on the previous cluster.
var forwardedHeaders = map[string]bool{
	"accept":       true,
	"user-agent":   true,
	"x-request-id": true,
}

// forwarded reports whether the attempt leaves client header name in place.
func forwarded(name string) bool {
	return forwardedHeaders[name] || strings.HasPrefix(name, ":") || strings.HasPrefix(name, "x-envoy-") || name == "host" ||
		strings.HasPrefix(name, contract.SlotHeaderPrefix)
}

func (a *attemptStream) requestBody(body []byte) ([]*extprocv3.ProcessingResponse, error) {
	a.preq.Body = body
	p, err := a.adapter.Prepare(&a.ep.ep, a.preq)
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
		e := pe.Object()
		e.Provider = a.target.Provider
		return one(immediate(status, provider.ErrorJSON(e), "untranslatable", a.traceHeaders())), nil
	}
	m := &mutation{}
	set := func(k string) bool {
		return k == "content-type" || k == "content-length" || k == "accept-encoding" ||
			slices.ContainsFunc(p.Headers, func(h provider.Header) bool { return h.Key == k }) || a.tracesHeader(k)
	}
	// Remove every client header a provider does not need, and every
	// credential header (upstream filters share one header map across
	// attempts: an earlier attempt's key must not reach this provider). A
	// header set below is never also removed.
	removed := map[string]bool{}
	for _, k := range slices.Concat(a.st.credHeaders, []string{contract.HeaderChain}, a.headerNames) {
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
	a.startSpan(m)
	c := common(m)
	if !p.Unchanged {
		// An unchanged body is not sent back: with no body mutation Envoy
		// forwards the body it buffered (docs/envoy-contract.md, attempt
		// phase, request body).
		c.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: p.Body}}
	}
	a.step = attWantResponse
	a.sent = a.s.clock.Now()
	// In the trace from now on, so a trace read at any time lists every
	// attempt sent; a later attempt is evidence about earlier ones.
	retried := a.s.traces.begin(a.traceID, a.sent, a.traceRecord(provider.Classification{}))
	a.s.settle(retried)
	a.auditRetried(retried, target(a.target))
	a.observeRetried(retried, target(a.target))
	return one(requestBodyResponse(c)), nil
}

// header is the provider's response headers as an http.Header, made once,
// at the first need.
func (a *attemptStream) header() http.Header {
	if a.headers == nil {
		hs := headerMap(a.respHeaders)
		a.headers = make(http.Header, len(hs))
		for k, v := range hs {
			a.headers.Set(k, v)
		}
	}
	return a.headers
}

func (a *attemptStream) responseHeaders(h *extprocv3.HttpHeaders) ([]*extprocv3.ProcessingResponse, error) {
	// A few names are read here; the whole map only when a classification
	// needs it (header).
	a.respHeaders = h.GetHeaders()
	a.status = parseStatus(headerValue(a.respHeaders, ":status"))
	a.latency = a.s.clock.Now().Sub(a.sent)
	a.bodyDone = h.GetEndOfStream()
	if a.status >= 200 && a.status < 400 {
		mt, _, _ := mime.ParseMediaType(headerValue(a.respHeaders, "content-type"))
		if a.plan.Stream && mt == "text/event-stream" && a.status == 200 {
			a.mon = provider.NewStreamMonitor(a.adapter)
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
