package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	filterextprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
)

// routeStep is where a route-phase stream is.
type routeStep uint8

const (
	routeWantHeaders routeStep = iota
	routeWantBody
	routeWantResponse
	routeRewriteBody // a local reply's body is being replaced
	routeDone        // answered with an immediate response, or nothing more to do
)

// routeStream is the route phase of one request: it plans the attempts and
// publishes the plan as dynamic metadata.
type routeStream struct {
	s    *Server
	st   *state
	step routeStep

	reqID       string
	planID      string // keys the trace: unique per request even when clients reuse x-request-id
	chainHeader string
	plan        routing.Plan
	perTry      time.Duration // the request's attempt timeout
	respStatus  int
	client      clientRoute         // the caller (clients.go)
	obs         routeObs            // the request's span (observe.go)
	shape       string              // Envoy 1.38: the cluster the plan goes to (fitTopology)
	api         *provider.ClientAPI // the client API the path serves (dispatch.go)
	aff         routeAffinity       // the request's conversation (affinity.go)
	region      string              // the x-llm-failover-region header, when routing.region_header (regions.go)
	// probeHeader is the request's contract.HeaderProbe; probing is set
	// once it verified and the plan is a probe's (probe.go).
	probeHeader string
	probing     bool
}

func newRouteStream(s *Server, st *state) *routeStream {
	return &routeStream{s: s, st: st}
}

// logger is the stream's logger, built only when something is logged.
func (r *routeStream) logger() *slog.Logger {
	l := r.s.log.With("phase", contract.PhaseRoute, "request_id", r.reqID)
	if c := r.client.id.Client; c != nil {
		l = l.With("client", c.Name) // identified (clients.go): every later line names it
	}
	return l
}

func (r *routeStream) deadline() <-chan time.Time { return nil }

func (r *routeStream) done() bool { return false }

func (r *routeStream) expire() ([]*extprocv3.ProcessingResponse, error) { return nil, nil }

func (r *routeStream) end(err error) {
	defer r.endSpan()
	if r.step == routeWantResponse {
		// Planned, and no response headers came: the client left (or Envoy
		// gave up on this stream). Attempts that ended without an answer
		// are not the provider's failure.
		r.s.settle(r.s.traces.left(r.planID, r.s.clock.Now()))
		return
	}
	if err != nil && r.step != routeDone {
		r.logger().Warn("route stream ended early", "error", err.Error())
	}
}

func (r *routeStream) handle(req *extprocv3.ProcessingRequest) ([]*extprocv3.ProcessingResponse, error) {
	switch m := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		if r.step != routeWantHeaders {
			return nil, protocolError("route phase: request headers received twice")
		}
		r.noteCaller(req)
		return r.requestHeaders(m.RequestHeaders)
	case *extprocv3.ProcessingRequest_RequestBody:
		if r.step == routeDone {
			return one(requestBodyResponse(&extprocv3.CommonResponse{})), nil
		}
		if r.step != routeWantBody {
			return nil, protocolError("route phase: request body out of order")
		}
		// BUFFERED: the one body message is the whole body, also when it
		// lacks end_of_stream because trailers follow (ext_proc.cc
		// Filter::onTrailers sends the buffered body with end_stream false).
		return r.requestBody(m.RequestBody.Body)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return r.responseHeaders(m.ResponseHeaders)
	case *extprocv3.ProcessingRequest_ResponseBody:
		return r.responseBody(m.ResponseBody)
	case *extprocv3.ProcessingRequest_RequestTrailers, *extprocv3.ProcessingRequest_ResponseTrailers:
		return one(trailersResponse(req)), nil
	}
	return nil, protocolError("route phase: unexpected message %T", req.Request)
}

func one(r *extprocv3.ProcessingResponse) []*extprocv3.ProcessingResponse {
	return []*extprocv3.ProcessingResponse{r}
}

// reject ends the route phase with an OpenAI-style error whose code also
// names the metric and the response code details.
func (r *routeStream) reject(status int, typ, code, msg string) []*extprocv3.ProcessingResponse {
	return r.rejectWith(status, code, provider.ErrorObject{Message: msg, Type: typ, Code: code})
}

// rejectWith ends the route phase with e; reason names the metric and the
// response code details (llm_failover_<reason>).
func (r *routeStream) rejectWith(status int, reason string, e provider.ErrorObject) []*extprocv3.ProcessingResponse {
	r.step = routeDone
	r.rejected(status, reason)
	r.logger().Info("request rejected", "status", status, "code", e.Code, "reason", e.Message)
	return one(immediate(status, provider.ErrorJSON(e), reason, nil))
}

// targetLabel names a target for error messages: "provider/model (api)".
func targetLabel(providerName, model string, api config.API) string {
	return providerName + "/" + model + " (" + string(api) + ")"
}

func (r *routeStream) requestHeaders(h *extprocv3.HttpHeaders) ([]*extprocv3.ProcessingResponse, error) {
	hs := headerMap(h.GetHeaders())
	r.reqID = cleanRequestID(hs["x-request-id"])
	r.chainHeader = hs[contract.HeaderChain]
	r.noteSession(hs)
	r.noteRegion(hs)
	cfg := r.st.cfg
	path := hs[":path"]
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if !routed(cfg.Envoy.Routes, path) {
		// Not an LLM route (Envoy answers it, e.g. with its 404): stay out of the way.
		r.step = routeDone
		return one(requestHeadersResponse(&extprocv3.CommonResponse{})), nil
	}
	r.startSpan(hs)
	// A probe has no client: its header is verified with the body (probe.go).
	if r.probeHeader = hs[contract.HeaderProbe]; r.probeHeader == "" {
		if out := r.identifyCaller(hs); out != nil {
			return out, nil
		}
	} else if out := r.probeOnItsPath(path); out != nil {
		return out, nil
	}
	if out := r.dispatch(hs, path); out != nil {
		return out, nil
	}
	if ct := hs["content-type"]; ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			return r.reject(415, "invalid_request_error", "unsupported_media_type",
				fmt.Sprintf("content type %q is not supported: send application/json", ct)), nil
		}
	}
	if cl := hs["content-length"]; cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n > int64(cfg.Limits.MaxBodyBytes) {
			return r.reject(413, "invalid_request_error", "request_too_large",
				fmt.Sprintf("the request body has %d bytes, more than the limit of %d (limits.max_body_bytes)", n, int64(cfg.Limits.MaxBodyBytes))), nil
		}
	}
	if h.GetEndOfStream() {
		return r.reject(400, "invalid_request_error", "missing_body", "the request has no body: send a JSON chat completion request"), nil
	}
	if r.chainHeader != "" {
		if _, err := r.st.table.Resolve("", r.chainHeader); err != nil {
			return r.reject(400, "invalid_request_error", "unknown_chain",
				fmt.Sprintf("the %s header names chain %q, which is not configured", contract.HeaderChain, r.chainHeader)), nil
		}
	}
	r.step = routeWantBody
	return one(requestHeadersResponse(&extprocv3.CommonResponse{})), nil
}

// routed reports whether path is one of the failover routes, matched as
// the generated Envoy routes match it (envoy/routes.go failoverRoute): a
// route ending in "/" as a prefix, any other exactly.
func routed(routes []string, path string) bool {
	for _, p := range routes {
		if p == path || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func (r *routeStream) requestBody(body []byte) ([]*extprocv3.ProcessingResponse, error) {
	cfg := r.st.cfg
	if int64(len(body)) > int64(cfg.Limits.MaxBodyBytes) {
		return r.reject(413, "invalid_request_error", "request_too_large",
			fmt.Sprintf("the request body has %d bytes, more than the limit of %d (limits.max_body_bytes)", len(body), int64(cfg.Limits.MaxBodyBytes))), nil
	}
	if r.probeHeader != "" {
		return r.planProbe(body), nil
	}
	in, perr := r.api.Inspect(body)
	if perr != nil {
		return r.rejectWith(perr.Status, perr.Code, perr.Object()), nil
	}
	ch, err := r.st.table.Resolve(in.Model, r.chainHeader)
	if err != nil {
		return r.reject(404, "invalid_request_error", "model_not_found",
			fmt.Sprintf("the model %q does not exist: no chain matches it and there is no default_chain", in.Model)), nil
	}
	if out := r.checkKind(ch, in.Model); out != nil {
		return out, nil
	}
	needs := routing.Needs{Tools: in.Tools, JSON: in.JSON, Vision: in.Vision, PromptTokens: len(body) / 4, Unserved: in.Unserved, Region: r.preferredRegion()}
	needs.Stay = r.stayTarget(ch, body)
	if out := r.admitClient(ch, in.Model, needs.PromptTokens); out != nil {
		return out, nil
	}
	plan, err := r.st.table.PlanFor(ch, r.s.clock.Now(), needs)
	if errors.Is(err, routing.ErrNoCapableTarget) {
		return r.rejectIncapable(ch, in, err), nil
	}
	if out := r.rejectRegion(ch, err); out != nil {
		return out, nil
	}
	if err != nil {
		r.auditDenial(503, reasonAllTargetsOpen, ch.Name)
		return r.reject(503, "server_error", "all_targets_open",
			fmt.Sprintf("every target of chain %q is unavailable (circuit open); retry later", ch.Name)), nil
	}
	plan, out := r.pinState(ch, plan, in, r.s.clock.Now())
	if out != nil {
		return out, nil
	}
	plan, perr, who := r.dropUntranslatable(plan, body, in, r.s.clock.Now())
	if len(plan.Steps) == 0 {
		e := perr.Object()
		e.Message = fmt.Sprintf("no target of chain %q can take this request; %s: %s", ch.Name, who, perr.Message)
		r.auditDenial(perr.Status, "untranslatable", ch.Name)
		return r.rejectWith(perr.Status, "untranslatable", e), nil
	}
	plan = r.fitTopology(plan, r.s.clock.Now())
	r.auditProbes(plan)
	r.perTry = cfg.AttemptTimeoutFor(ch, in.Stream)
	r.observePlanned(ch, plan, needs)
	return r.publish(ch, plan, in), nil
}

// publish answers the request body with plan: the bounds and cluster
// headers Envoy's router reads and the signed plan as dynamic metadata.
// r.perTry is set.
func (r *routeStream) publish(ch *config.Chain, plan routing.Plan, in provider.Inspection) []*extprocv3.ProcessingResponse {
	r.plan = plan
	r.step = routeWantResponse
	m := &mutation{}
	m.setHeader(contract.HeaderChain, ch.Name)
	// Bound the attempts by this plan (a single-target or all-open plan is
	// attempted once, plus same-target retries) and by the chain's attempt
	// timeout for this kind of request; name the clusters the way the
	// configured Envoy version's topology reads them (topology.go).
	m.setHeader(contract.HeaderMaxRetries, strconv.Itoa(len(plan.Steps)-1+plan.SameTargetRetries))
	r.clusterHeaders(m, plan)
	m.setHeader(contract.HeaderPerTryTimeout, strconv.FormatInt(r.perTry.Milliseconds(), 10))
	resp := requestBodyResponse(&extprocv3.CommonResponse{HeaderMutation: m.proto(), ClearRouteCache: true})
	r.planID = newPlanID(r.reqID)
	resp.DynamicMetadata = r.planMetadata(in, plan)
	if r.s.log.Enabled(context.Background(), slog.LevelDebug) { // logger() costs a With per request
		r.logger().Debug("planned", "chain", ch.Name, "model", in.Model, "targets", len(plan.Steps))
	}
	return one(resp)
}

// dropUntranslatable leaves out the steps whose provider cannot express the
// request (its adapter's Check refuses it, e.g. a tool result Gemini cannot
// name): the attempt phase could only refuse it there, with a local reply
// that reaches the client at once and is never retried on the next target.
// A dropped step's half-open probe slot is given back. It returns the first
// refusal and the target it came from, for the 4xx when no step is left.
func (r *routeStream) dropUntranslatable(p routing.Plan, body []byte, in provider.Inspection, now time.Time) (routing.Plan, *provider.Error, string) {
	var first *provider.Error
	who := ""
	kept := p.Steps[:0]
	for _, s := range p.Steps {
		ep := r.st.endpoints[s.Provider]
		if ep == nil {
			kept = append(kept, s)
			continue
		}
		err := r.check(ep, in.Request(body, s.Model))
		if err == nil {
			kept = append(kept, s)
			continue
		}
		s.Release(now) // a half-open probe slot this request will not use
		if first == nil {
			if !errors.As(err, &first) {
				first = &provider.Error{Status: 400, Type: "invalid_request_error", Code: "invalid_request", Message: err.Error()}
			}
			who = targetLabel(s.Provider, s.Model, ep.cfg.API)
		}
	}
	p.Steps = kept
	return p, first, who
}

// rejectIncapable answers 400 when no target of ch can serve the request,
// naming the targets and what they lack (and the field as param).
func (r *routeStream) rejectIncapable(ch *config.Chain, in provider.Inspection, err error) []*extprocv3.ProcessingResponse {
	var targets []string
	for _, t := range ch.Targets {
		var api config.API
		if p := r.st.cfg.Provider(t.Provider); p != nil {
			api = p.API
		}
		targets = append(targets, targetLabel(t.Provider, t.Model, api))
	}
	need := "a feature"
	var ie *routing.IncapableError
	if errors.As(err, &ie) {
		need = ie.Need
	}
	msg := fmt.Sprintf("no target of chain %q can serve this request: it needs %s; targets: %s",
		ch.Name, need, strings.Join(targets, ", "))
	e := provider.ErrorObject{Message: msg, Type: "invalid_request_error", Code: "unsupported_capability"}
	r.auditDenial(400, e.Code, ch.Name)
	if in.OpenAIOnly != "" {
		e.Param = ptr(in.OpenAIOnly)
	}
	return r.rejectWith(400, e.Code, e)
}

func ptr(s string) *string { return &s }

// planMetadata is the dynamic metadata of a plan: the priority_group
// override and the signed plan details (contract.EncodePlan, docs/envoy-contract.md).
func (r *routeStream) planMetadata(in provider.Inspection, p routing.Plan) *structpb.Struct {
	pi := contract.Plan{ID: r.planID, Gen: r.st.gen, Chain: p.Chain, Model: in.Model, Stream: in.Stream,
		IncludeUsage: in.IncludeUsage, Extra: p.SameTargetRetries, PerTry: r.perTry, Targets: make([]contract.Target, len(p.Steps))}
	for i, s := range p.Steps {
		pi.Targets[i] = contract.Target{Provider: s.Provider, Model: s.Model, Cluster: s.Cluster, ContextWindow: s.ContextWindow, Placement: s.Placement}
	}
	pi.Client = r.admittedClient()
	pi.API = r.api.PlanName()
	pi.Probe = r.probing
	pi.Traceparent = r.obs.traceparent(r.s.tel.Propagator())
	now := r.s.clock.Now()
	r.s.planKeys.sign(&pi, planExpiry(r.st.cfg, now))
	return contract.EncodePlan(r.st.cfg.MetadataNamespace, &pi)
}

// responseHeaders lets our own answers through and turns Envoy's local
// replies (retries exhausted on resets or timeouts) into OpenAI-style errors.
func (r *routeStream) responseHeaders(h *extprocv3.HttpHeaders) ([]*extprocv3.ProcessingResponse, error) {
	hs := headerMap(h.GetHeaders())
	r.respStatus = statusOf(hs)
	if r.step == routeWantResponse {
		// Envoy answers the client: attempts that ended without an answer
		// were ended by Envoy (reset, per-try timeout), not by the client.
		r.s.settle(r.s.traces.responded(r.planID, r.s.clock.Now()))
	}
	if r.step != routeWantResponse || hs[contract.HeaderTrace] != "" || r.respStatus < 400 {
		c := common(r.affinityAnswered(hs))
		r.step = routeDone
		return one(responseHeadersResponse(c)), nil
	}
	now := r.s.clock.Now()
	recs := r.s.traces.get(r.planID, now)
	m := &mutation{}
	m.setHeader(contract.HeaderTrace, formatTrace(recs))
	m.setHeader(contract.HeaderChain, r.plan.Chain)
	if h.GetEndOfStream() {
		r.step = routeDone
		return one(responseHeadersResponse(common(m))), nil
	}
	r.step = routeRewriteBody
	resp := responseHeadersResponse(common(m))
	resp.ModeOverride = &filterextprocv3.ProcessingMode{ResponseBodyMode: filterextprocv3.ProcessingMode_BUFFERED}
	return one(resp), nil
}

func (r *routeStream) responseBody(b *extprocv3.HttpBody) ([]*extprocv3.ProcessingResponse, error) {
	if r.step != routeRewriteBody || !b.GetEndOfStream() {
		return one(responseBodyResponse(&extprocv3.CommonResponse{})), nil
	}
	r.step = routeDone
	recs := r.s.traces.get(r.planID, r.s.clock.Now())
	msg := fmt.Sprintf("no provider of chain %q answered: Envoy replied %d (%s)", r.plan.Chain, r.respStatus,
		envoyReplyText(b.GetBody()))
	body := provider.ErrorJSON(provider.ErrorObject{Message: msg, Type: provider.ErrorType(r.respStatus), Code: "upstream_unavailable",
		Attempts: attemptsJSON(recs)})
	m := &mutation{}
	m.setHeader("content-type", "application/json")
	m.setHeader("content-length", strconv.Itoa(len(body)))
	r.logger().Warn("request failed without a provider answer", "chain", r.plan.Chain, "status", r.respStatus, "attempts", len(recs))
	return one(replaceBody(body, m)), nil
}

// envoyReplyText is what a client may read of Envoy's own reply: its
// response code details and body (the generated local_reply_config renders
// them as an OpenAI error), without the transport failure reason Envoy puts
// in the details after '|' on every version and in the body on 1.38 (for
// TLS, the certificate error; Envoy 1.39 took it out of the body, #44746),
// cut to 200 bytes.
func envoyReplyText(body []byte) string {
	var reply struct {
		Error struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"error"`
	}
	text := string(body)
	if json.Unmarshal(body, &reply) == nil && (reply.Error.Message != "" || reply.Error.Code != "") {
		text = reply.Error.Message
		if c := withoutTransportReason(reply.Error.Code); c != "" {
			text = c + ": " + text
		}
	}
	if i := strings.Index(text, ", transport failure reason:"); i >= 0 {
		text = text[:i]
	}
	return strings.TrimSpace(truncate(withoutTransportReason(text), 200))
}

// withoutTransportReason drops each "|..." inside response code details:
// "upstream_reset_before_response_started{connection_failure|tls_error}"
// becomes "upstream_reset_before_response_started{connection_failure}".
func withoutTransportReason(details string) string {
	for {
		i := strings.IndexByte(details, '|')
		if i < 0 {
			return details
		}
		end := strings.IndexAny(details[i:], "} \n")
		if end < 0 {
			return details[:i]
		}
		details = details[:i] + details[i+end:]
	}
}

// newPlanID is the request id with a random suffix: the trace key. Clients
// may reuse x-request-id; the trace of one request must never show another's.
func newPlanID(reqID string) string {
	return reqID + "~" + strconv.FormatUint(rand.Uint64(), 36)
}

// maxRequestIDBytes bounds the request id kept for logs and plan ids.
const maxRequestIDBytes = 200

// cleanRequestID makes a client's x-request-id safe to log and to carry in
// the plan (a protobuf string must be UTF-8): bytes that are not valid UTF-8
// and control characters become %XX escapes, and the result is cut at
// maxRequestIDBytes. A valid id is returned unchanged.
func cleanRequestID(id string) string {
	clean := len(id) <= maxRequestIDBytes && utf8.ValidString(id)
	for i := 0; clean && i < len(id); i++ {
		clean = id[i] >= 0x20 && id[i] != 0x7f
	}
	if clean {
		return id
	}
	var b strings.Builder
	for i := 0; i < len(id) && b.Len() < maxRequestIDBytes; {
		r, n := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError && n <= 1 || r < 0x20 || r == 0x7f {
			fmt.Fprintf(&b, "%%%02X", id[i])
			i++
			continue
		}
		b.WriteString(id[i : i+n])
		i += n
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
