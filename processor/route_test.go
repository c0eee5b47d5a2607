package processor

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/contract"
)

// TestRoute_PublishesPlanAsPriorityGroupOverride verifies the route phase's
// answer: chain header + clear_route_cache, and the plan in both namespaces.
func TestRoute_PublishesPlanAsPriorityGroupOverride(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "r1"))
	r := s.recv()
	must(t, r.GetRequestHeaders() != nil && r.GetRequestHeaders().GetResponse().GetHeaderMutation() == nil,
		"headers answer: got %v, want a plain CONTINUE", r)
	s.send(reqBody(`{"model":"premium","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`))
	r = s.recv()
	c := r.GetRequestBody().GetResponse()
	must(t, c.GetClearRouteCache(), "clear_route_cache: got false, want true")
	if got := setHeaders(c.GetHeaderMutation())[contract.HeaderChain]; got != "premium" {
		t.Fatalf("%s: got %q, want %q (clear_route_cache needs a header mutation)", contract.HeaderChain, got, "premium")
	}
	plan := planOf(t, r.GetDynamicMetadata())
	if !strings.HasPrefix(plan.ID, "r1~") || len(plan.ID) < 5 {
		t.Fatalf("plan id: got %q, want the request id with a random suffix", plan.ID)
	}
	if plan.Gen != h.srv.state.Load().gen || plan.Gen == 0 {
		t.Fatalf("plan gen: got %v, want the configuration's generation %d", plan.Gen, h.srv.state.Load().gen)
	}
	if plan.Exp != h.clock.Now().Add(h.srv.state.Load().cfg.RequestLifetime()+planClockSlack).UnixMilli() {
		t.Fatalf("plan exp: got %v, want the request lifetime plus %s from now", plan.Exp, planClockSlack)
	}
	if len(plan.Sig) != 43 {
		t.Fatalf("plan sig: got %q, want 43 base64url characters (HMAC-SHA256)", plan.Sig)
	}
	plan.ID, plan.Gen, plan.Exp, plan.Sig = "r1", 7, 0, ""
	wantPlan := contract.Plan{ID: "r1", Gen: 7, Chain: "premium", Model: "premium", Stream: true, IncludeUsage: true, PerTry: time.Minute,
		Targets: []contract.Target{{Provider: "openai", Model: "gpt-4o", Cluster: "openai"}, {Provider: "groq", Model: "llama-3.3-70b-versatile", Cluster: "groq"}}}
	if !reflect.DeepEqual(plan, wantPlan) {
		t.Fatalf("plan:\n got %+v\nwant %+v", plan, wantPlan)
	}
	dm := r.GetDynamicMetadata().AsMap()
	delete(dm, "llm_failover.plan")
	got, _ := json.Marshal(dm)
	want := `{"llm_failover":{"priority_groups":[{"clusters":[{"cluster_name":"openai","weight":1}],"name":"attempt-1"},{"clusters":[{"cluster_name":"groq","weight":1}],"name":"attempt-2"}]}}`
	if string(got) != want {
		t.Fatalf("dynamic metadata:\n got %s\nwant %s", got, want)
	}
}

// TestRoute_RejectsBadInput verifies each documented rejection: status, code
// and an OpenAI-style body, answered as an ImmediateResponse.
func TestRoute_RejectsBadInput(t *testing.T) {
	big := `{"model":"premium","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	tests := []struct {
		name      string
		headers   []string
		body      string // "" means the headers answer is the rejection
		status    int
		code      string
		extraYAML string
	}{
		{"malformed JSON", nil, `{"model":"premium",`, 400, "invalid_request_body", ""},
		{"not an object", nil, `["model"]`, 400, "invalid_request_body", ""},
		{"two model keys", nil, `{"model":"premium","messages":[],"model":"gpt-4o"}`, 400, "invalid_request_body", ""},
		{"escaped duplicate model key", nil, `{"model":"premium","mod\u0065l":"other"}`, 400, "invalid_request_body", ""},
		{"model not a string", nil, `{"model":5}`, 400, "invalid_request_body", ""},
		{"unknown model without default chain", nil, `{"model":"nope","messages":[]}`, 404, "model_not_found", ""},
		{"body over the limit", nil, big, 413, "request_too_large", ""},
		{"content-length over the limit", []string{"content-length", "999999"}, "", 413, "request_too_large", ""},
		{"non-JSON content type", []string{"content-type", "text/plain"}, "", 415, "unsupported_media_type", ""},
		{"unknown chain header", []string{contract.HeaderChain, "nope"}, "", 400, "unknown_chain", ""},
		// A model that is not UTF-8 cannot travel in the plan (a protobuf
		// string): a 400 naming the field, not a stream error Envoy turns into a 500.
		{"model not UTF-8", nil, "{\"model\":\"premium\xff\",\"messages\":[]}", 400, "invalid_request_body", "default_chain: premium\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.extraYAML)
			s := h.open(contract.PhaseRoute)
			defer s.close()
			kv := []string{":path", "/v1/chat/completions", ":method", "POST", "x-request-id", "r"}
			if !containsKey(tc.headers, "content-type") {
				kv = append(kv, "content-type", "application/json")
			}
			s.send(reqHeaders(false, append(kv, tc.headers...)...))
			r := s.recv()
			if tc.body != "" {
				must(t, r.GetRequestHeaders() != nil, "headers answer: got %v, want CONTINUE", r)
				s.send(reqBody(tc.body))
				r = s.recv()
			}
			ir := r.GetImmediateResponse()
			if ir == nil {
				t.Fatalf("got %v, want an ImmediateResponse", r)
			}
			if got := int(ir.GetStatus().GetCode()); got != tc.status {
				t.Fatalf("status: got %d, want %d", got, tc.status)
			}
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			if err := json.Unmarshal(ir.GetBody(), &e); err != nil || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("body: got %s (err %v), want an OpenAI-style error with code %q", ir.GetBody(), err, tc.code)
			}
			if got := setHeaders(ir.GetHeaders())["content-type"]; got != "application/json" {
				t.Fatalf("content-type: got %q, want application/json", got)
			}
		})
	}
}

func containsKey(kv []string, k string) bool {
	for i := 0; i < len(kv); i += 2 {
		if kv[i] == k {
			return true
		}
	}
	return false
}

// TestRoute_DefaultChainServesUnknownModels verifies default_chain routing.
func TestRoute_DefaultChainServesUnknownModels(t *testing.T) {
	h := newHarness(t, "default_chain: premium\n")
	dm := h.planFor(`{"model":"whatever","messages":[]}`)
	if got := planOf(t, dm).Chain; got != "premium" {
		t.Fatalf("chain: got %q, want premium", got)
	}
}

// TestRoute_AllOpenRejectAnswers503 verifies routing.all_open: reject.
func TestRoute_AllOpenRejectAnswers503(t *testing.T) {
	h := newHarness(t, "routing: {all_open: reject}\n")
	h.planFor(`{"model":"premium"}`) // creates nothing new; breakers exist from New
	h.trip("openai/gpt-4o", "groq/llama-3.3-70b-versatile")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv()
	s.send(reqBody(`{"model":"premium"}`))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 503 || !strings.Contains(string(ir.GetBody()), "all_targets_open") {
		t.Fatalf("got %v, want 503 all_targets_open", ir)
	}
}

// TestRoute_UnroutedPathPassesThrough verifies that paths outside
// envoy.routes are left to Envoy (its 404) untouched.
func TestRoute_UnroutedPathPassesThrough(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(true, ":path", "/v1/files", ":method", "GET"))
	r := s.recv()
	must(t, r.GetRequestHeaders() != nil && r.GetRequestHeaders().GetResponse().GetHeaderMutation() == nil,
		"got %v, want a plain CONTINUE", r)
}

// TestRoute_LocalReplyBecomesOpenAIError verifies that Envoy's own 503 (no
// trace header) is rewritten, through a BUFFERED mode override, into an
// OpenAI-style error with the attempts.
func TestRoute_LocalReplyBecomesOpenAIError(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json", "x-request-id", "lr"))
	s.recv()
	s.send(reqBody(`{"model":"premium"}`))
	s.recv()
	s.send(respHeaders(false, ":status", "503", "content-type", "text/plain"))
	r := s.recv()
	if r.GetModeOverride().GetResponseBodyMode().String() != "BUFFERED" {
		t.Fatalf("mode override: got %v, want response_body_mode BUFFERED", r.GetModeOverride())
	}
	s.send(respBody("upstream connect error or disconnect/reset before headers", true))
	r = s.recv()
	c := r.GetResponseBody().GetResponse()
	body := c.GetBodyMutation().GetBody()
	hs := setHeaders(c.GetHeaderMutation())
	if hs["content-length"] != strconv.Itoa(len(body)) || hs["content-type"] != "application/json" {
		t.Fatalf("headers: got %v, want content-length %d and JSON content type", hs, len(body))
	}
	if !strings.Contains(string(body), `"code":"upstream_unavailable"`) {
		t.Fatalf("body: got %s, want an upstream_unavailable error", body)
	}
}

// TestProcess_ProtocolErrorsEndTheStream verifies out-of-order messages and an
// unknown phase end the stream with a gRPC status, not a panic.
func TestProcess_ProtocolErrorsEndTheStream(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseRoute)
	s.send(reqBody(`{}`))
	_, err := s.s.Recv()
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("body first: got %v, want FailedPrecondition", err)
	}
	s.cancel()
	s = h.open("sideways")
	// The server refuses the stream before reading it, so the send may
	// already see the stream closed (io.EOF); the status comes with Recv.
	_ = s.s.Send(reqHeaders(true))
	_, err = s.s.Recv()
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unknown phase: got %v, want InvalidArgument", err)
	}
	s.cancel()
}

// TestRoute_NoCapableTargetIs400 verifies a request needing a capability no
// target of its chain has is refused with a clear error.
func TestRoute_NoCapableTargetIs400(t *testing.T) {
	h := newHarnessYAML(t, `
providers: [{name: p, api: openai, host: p.example}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m, supports: [tools]}]}]
`)
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv()
	s.send(reqBody(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 400 || !strings.Contains(string(ir.GetBody()), "unsupported_capability") ||
		!strings.Contains(string(ir.GetBody()), "vision") {
		t.Fatalf("got %v, want 400 unsupported_capability naming vision", ir)
	}
}

// TestRoute_RequestIDNotUTF8IsEscaped verifies an x-request-id with bytes
// that are not UTF-8 (or control characters) still gets a plan, its id
// carrying the bytes as %XX escapes, instead of a stream error.
func TestRoute_RequestIDNotUTF8IsEscaped(t *testing.T) {
	tests := []struct{ name, id, wantPrefix string }{
		{"invalid byte", "req-\xff-1", "req-%FF-1~"},
		{"control character", "req\n1", "req%0A1~"},
		{"plain", "req-ok", "req-ok~"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(chatBody, "x-request-id", tc.id)
			id := planOf(t, dm).ID
			if !strings.HasPrefix(id, tc.wantPrefix) {
				t.Fatalf("plan id: got %q, want prefix %q", id, tc.wantPrefix)
			}
		})
	}
}

// TestCleanRequestID_BoundsLength verifies a long id is cut to maxRequestIDBytes.
func TestCleanRequestID_BoundsLength(t *testing.T) {
	if got := cleanRequestID(strings.Repeat("\xff", 1000)); len(got) > maxRequestIDBytes+2 || !strings.HasPrefix(got, "%FF%FF") {
		t.Fatalf("got %d bytes %q..., want at most about %d escaped bytes", len(got), got[:min(len(got), 12)], maxRequestIDBytes)
	}
}

// TestRoute_BoundsAttemptsByThePlan verifies the per-request bounds the
// route phase sets for Envoy's router: x-envoy-max-retries from the plan's
// own length and same-target retries (one target: no retry), and
// x-envoy-upstream-rq-per-try-timeout-ms from the chain's attempt timeout
// for streamed or non-streamed requests, also published as per_try_ms.
func TestRoute_BoundsAttemptsByThePlan(t *testing.T) {
	const chains = `
routing: {attempt_timeout: {streamed: 20s, non_streamed: 5m}}
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
  - {name: groq, api: openai-compatible, host: api.groq.com, auth: {key_env: TEST_GROQ_KEY}}
chains:
  - name: two
    match: {models: [two]}
    attempt_timeout: {non_streamed: 30m}
    targets: [{provider: openai, model: gpt-4o}, {provider: groq, model: llama}]
  - name: one
    match: {models: [one]}
    targets: [{provider: openai, model: gpt-4o-mini}]
`
	tests := []struct {
		name, yaml, body string
		retries, perTry  string
	}{
		{"two targets, non-streamed, chain's own timeout", chains, `{"model":"two"}`, "1", "1800000"},
		{"two targets, streamed, routing's timeout", chains, `{"model":"two","stream":true}`, "1", "20000"},
		{"one target: no retry", chains, `{"model":"one"}`, "0", "300000"},
		{"one target plus same-target retries", strings.Replace(chains, "non_streamed: 5m}}", "non_streamed: 5m}, same_target_retries: 2}", 1), `{"model":"one"}`, "2", "300000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessYAML(t, tc.yaml)
			s := h.open(contract.PhaseRoute)
			defer s.close()
			s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json", "x-request-id", "b1"))
			s.recv()
			s.send(reqBody(tc.body))
			r := s.recv()
			hs := setHeaders(r.GetRequestBody().GetResponse().GetHeaderMutation())
			if hs[contract.HeaderMaxRetries] != tc.retries || hs[contract.HeaderPerTryTimeout] != tc.perTry {
				t.Fatalf("got %s=%q %s=%q, want %q and %q", contract.HeaderMaxRetries, hs[contract.HeaderMaxRetries], contract.HeaderPerTryTimeout, hs[contract.HeaderPerTryTimeout], tc.retries, tc.perTry)
			}
			if got := strconv.FormatInt(planOf(t, r.GetDynamicMetadata()).PerTry.Milliseconds(), 10); got != tc.perTry {
				t.Fatalf("plan per_try_ms: got %s, want %s", got, tc.perTry)
			}
		})
	}
}

// TestRoute_AllOpenPlanIsAttemptedOnce verifies that when every breaker of
// a two-target chain is open (try-soonest), the one planned target gets no
// retries: Envoy does not hit the open target again.
func TestRoute_AllOpenPlanIsAttemptedOnce(t *testing.T) {
	h := newHarness(t, "")
	h.trip("openai/gpt-4o", "groq/llama-3.3-70b-versatile")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv()
	s.send(reqBody(chatBody))
	if got := setHeaders(s.recv().GetRequestBody().GetResponse().GetHeaderMutation())[contract.HeaderMaxRetries]; got != "0" {
		t.Fatalf("%s: got %q, want 0", contract.HeaderMaxRetries, got)
	}
}

// TestPlan_RoundTrips verifies the plan the route phase publishes reads back
// in the attempt phase with the same values, the generation included
// (per_try_ms is read by the attempt phase's response side).
func TestPlan_RoundTrips(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(`{"model":"premium","stream":true,"stream_options":{"include_usage":true}}`, "x-request-id", "rt")
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, v := range dm.GetFields() {
		md.FilterMetadata[ns] = v.GetStructValue()
	}
	p, err := contract.DecodePlan(md, "llm_failover")
	if err != nil {
		t.Fatal(err)
	}
	if p.Gen != h.srv.state.Load().gen || p.Chain != "premium" || !p.Stream || !p.IncludeUsage ||
		len(p.Targets) != 2 || p.Targets[1].Provider != "groq" || !strings.HasPrefix(p.ID, "rt~") {
		t.Fatalf("got %+v, want the published plan (gen %d)", p, h.srv.state.Load().gen)
	}
}

// TestRoute_LocalReplyListsEveryAttempt verifies the trace is complete by
// construction: Envoy's local reply after every attempt reset lists the last
// attempt too, even when the server has not yet seen that attempt's stream end.
func TestRoute_LocalReplyListsEveryAttempt(t *testing.T) {
	h := newHarness(t, "")
	dm, route := h.planOpen(chatBody, "x-request-id", "all-reset")
	defer route.close()
	s1 := h.runAttempt(dm, 1, "openai", "all-reset", chatBody)
	h.endAttempt(s1) // attempt 1 reset
	s2 := h.runAttempt(dm, 2, "groq", "all-reset", chatBody)
	defer s2.close() // attempt 2 reset too, but its end reaches the server late
	route.send(respHeaders(false, ":status", "503", "content-type", "text/plain"))
	route.recv()
	route.send(respBody("upstream connect error or disconnect/reset before headers", true))
	body := route.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody()
	var e struct {
		Error struct {
			Attempts []struct {
				Attempt  int
				Provider string
				Outcome  string
			}
		}
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	got := e.Error.Attempts
	if len(got) != 2 || got[0].Provider != "openai" || got[1].Provider != "groq" ||
		got[0].Outcome != "no_response" || got[1].Outcome != "no_response" {
		t.Fatalf("attempts: got %+v, want openai and groq, both no_response", got)
	}
}

// TestPhases_BufferedBodyBeforeTrailersIsWhole verifies a request with
// trailers is served: in BUFFERED mode Envoy sends the whole body without
// end_of_stream when trailers follow (ext_proc.cc Filter::onTrailers), and
// both phases take it as the whole body instead of ending the stream.
func TestPhases_BufferedBodyBeforeTrailersIsWhole(t *testing.T) {
	bodyBeforeTrailers := func(b string) *extprocv3.ProcessingRequest {
		r := reqBody(b)
		r.GetRequestBody().EndOfStream = false
		return r
	}
	h := newHarness(t, "")
	route := h.open(contract.PhaseRoute)
	defer route.close()
	route.send(reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "req-tr"))
	route.recv()
	route.send(bodyBeforeTrailers(chatBody))
	r, err := route.s.Recv()
	if err != nil || r.GetDynamicMetadata() == nil {
		t.Fatalf("route body before trailers: got %v, %v; want the plan", r, err)
	}
	a := h.open(contract.PhaseAttempt)
	defer a.close()
	a.send(h.attemptRequest(r.GetDynamicMetadata(), 1, "openai", "req-tr"))
	a.recv()
	a.send(bodyBeforeTrailers(chatBody))
	r, err = a.s.Recv()
	if err != nil || setHeaders(r.GetRequestBody().GetResponse().GetHeaderMutation())[":path"] == "" {
		t.Fatalf("attempt body before trailers: got %v, %v; want the request rewritten", r, err)
	}
}
