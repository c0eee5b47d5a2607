package processor

import (
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/contract"
)

// clientsYAML is a clients section: a keyed team limited to the premium
// chain from 10/8 and loopback, a SAN-identified service, a JWT-identified
// user, an office identified by its network; unknown callers denied.
var clientsYAML = `chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: groq, model: llama-3.3-70b-versatile}
  - name: cheap
    match: {models: [cheap]}
    targets: [{provider: groq, model: llama-3.1-8b-instant}]
clients:
  jwt: {payload_key: jwt_payload}
  list:
    - name: team-a
      api_keys: ["` + access.HashKey("sk-team-a") + `"]
      sources: [10.0.0.0/8, 127.0.0.0/8]
      chains: [premium]
      rate: {limit: 2, window: 1m}
      tokens: {limit: 100, window: 1h}
    - name: mesh-svc
      uri_sans: ["spiffe://mesh/ns/a/sa/svc"]
      chain_header: true
    - name: jwt-user
      jwt_claims: [alice]
      models: [cheap]
    - name: office
      sources: [192.168.0.0/16]
`

// testConfigWithout is testConfig without its chains section (clientsYAML brings its own).
func testConfigWithout() string {
	i := strings.Index(testConfig, "chains:")
	j := strings.Index(testConfig, "breaker:")
	return testConfig[:i] + testConfig[j:]
}

// who is how a test caller presents itself to the route phase.
type who struct {
	headers []string
	source  string
	san     string
	claim   string
}

// routeRequest is a route-phase headers message with Envoy's attributes and
// jwt_authn metadata for w.
func routeRequest(w who, kv ...string) *extprocv3.ProcessingRequest {
	args := append([]string{":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "r"}, kv...)
	r := reqHeaders(false, append(args, w.headers...)...)
	attrs := map[string]*structpb.Value{}
	if w.source != "" {
		attrs[contract.AttrSourceAddress] = structpb.NewStringValue(w.source)
	}
	if w.san != "" {
		attrs[contract.AttrURISAN] = structpb.NewStringValue(w.san)
	}
	r.Attributes = map[string]*structpb.Struct{contract.AttrNamespace: {Fields: attrs}}
	if w.claim != "" {
		payload, _ := structpb.NewStruct(map[string]any{"sub": w.claim, "iss": "https://issuer"})
		r.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			contract.JWTNamespace: {Fields: map[string]*structpb.Value{"jwt_payload": structpb.NewStructValue(payload)}}}}
	}
	return r
}

// decision is what a route phase answered a caller.
type decision struct {
	status     int
	code       string
	retryAfter string
	plan       *structpb.Struct
}

// decide runs one route phase for w and body (the headers answer may
// already refuse it).
func (h *harness) decide(w who, body string, kv ...string) decision {
	h.t.Helper()
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(routeRequest(w, kv...))
	r := s.recv()
	if r.GetRequestHeaders() != nil {
		s.send(reqBody(body))
		r = s.recv()
	}
	if rb := r.GetRequestBody(); rb != nil {
		return decision{status: 200, plan: r.GetDynamicMetadata()}
	}
	ir := r.GetImmediateResponse()
	if ir == nil {
		h.t.Fatalf("got %v, want a body answer or an ImmediateResponse", r)
	}
	var e struct {
		Error struct{ Type, Code, Message string }
	}
	if err := json.Unmarshal(ir.GetBody(), &e); err != nil || e.Error.Message == "" {
		h.t.Fatalf("body %s: not an OpenAI-style error (%v)", ir.GetBody(), err)
	}
	return decision{status: int(ir.GetStatus().GetCode()), code: e.Error.Code, retryAfter: setHeaders(ir.GetHeaders())["retry-after"]}
}

const premiumBody = `{"model":"premium","messages":[{"role":"user","content":"hi"}]}`

// TestClients_Decisions verifies each route-phase decision a caller can get.
func TestClients_Decisions(t *testing.T) {
	key := []string{"authorization", "Bearer sk-team-a"}
	tests := []struct {
		name   string
		w      who
		body   string
		extra  []string
		status int
		code   string
	}{
		{"keyed client from its network", who{headers: key, source: "10.1.2.3:4444"}, premiumBody, nil, 200, ""},
		{"key in x-api-key", who{headers: []string{"x-api-key", "sk-team-a"}, source: "127.0.0.1:1"}, premiumBody, nil, 200, ""},
		{"wrong key", who{headers: []string{"authorization", "Bearer sk-wrong"}, source: "10.1.2.3:4444"}, premiumBody, nil, 401, "invalid_api_key"},
		{"key from outside its CIDR", who{headers: key, source: "172.16.0.1:4444"}, premiumBody, nil, 403, "permission_denied"},
		{"forwarded-for cannot fake the source", who{headers: append([]string{"x-forwarded-for", "10.9.9.9"}, key...), source: "172.16.0.1:1"}, premiumBody, nil, 403, "permission_denied"},
		{"chain not allowed", who{headers: key, source: "10.1.2.3:4444"}, `{"model":"cheap","messages":[]}`, nil, 403, "permission_denied"},
		{"chain header not allowed", who{headers: key, source: "10.1.2.3:4444"}, premiumBody, []string{contract.HeaderChain, "premium"}, 403, "permission_denied"},
		{"san client may pick a chain", who{san: "spiffe://mesh/ns/a/sa/svc"}, premiumBody, []string{contract.HeaderChain, "cheap"}, 200, ""},
		{"jwt client on its model", who{claim: "alice"}, `{"model":"cheap","messages":[]}`, nil, 200, ""},
		{"jwt client on another model", who{claim: "alice"}, premiumBody, nil, 403, "permission_denied"},
		{"office by network", who{source: "192.168.7.7:1"}, premiumBody, nil, 200, ""},
		{"unknown caller denied", who{source: "8.8.8.8:1"}, premiumBody, nil, 403, "permission_denied"},
		{"unknown jwt subject denied", who{claim: "mallory", source: "8.8.8.8:1"}, premiumBody, nil, 403, "permission_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
			d := h.decide(tc.w, tc.body, tc.extra...)
			if d.status != tc.status || d.code != tc.code {
				t.Fatalf("got %d %q, want %d %q", d.status, d.code, tc.status, tc.code)
			}
			logs := h.logs.String()
			if strings.Contains(logs, "sk-team-a") || strings.Contains(logs, "sk-wrong") {
				t.Errorf("a client key is in the logs:\n%s", logs)
			}
			want := "client admitted"
			if tc.status != 200 {
				want = "client refused"
			}
			if !strings.Contains(logs, want) || !strings.Contains(logs, `"client":`) {
				t.Errorf("logs lack %q with the client's name:\n%s", want, logs)
			}
		})
	}
}

// TestClients_RateLimitRetryAfter verifies the 429 past the rate, its
// Retry-After, and admission again in the next window.
func TestClients_RateLimitRetryAfter(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	w := who{headers: []string{"authorization", "Bearer sk-team-a"}, source: "10.0.0.1:1"}
	for i := range 2 {
		if d := h.decide(w, premiumBody); d.status != 200 {
			t.Fatalf("request %d: %d %s, want 200 (at the limit is admitted)", i+1, d.status, d.code)
		}
	}
	h.clock.Advance(20 * time.Second)
	d := h.decide(w, premiumBody)
	if d.status != 429 || d.code != "rate_limit_exceeded" || d.retryAfter != "40" {
		t.Fatalf("third: %d %q retry-after %q, want 429 rate_limit_exceeded retry-after 40", d.status, d.code, d.retryAfter)
	}
	h.clock.Advance(40 * time.Second)
	if d := h.decide(w, premiumBody); d.status != 200 {
		t.Fatalf("next window: %d %s, want 200", d.status, d.code)
	}
}

// TestClients_TokenBudgetCountsCompletions verifies that the plan names the
// client and that the attempt phase charges the answer's completion tokens
// to it, so the next request over the budget is refused.
func TestClients_TokenBudgetCountsCompletions(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	w := who{headers: []string{"authorization", "Bearer sk-team-a"}, source: "10.0.0.1:1"}
	d := h.decide(w, premiumBody)
	if d.status != 200 {
		t.Fatalf("first: %d %s", d.status, d.code)
	}
	if got := planOf(t, d.plan).Client; got != "team-a" {
		t.Fatalf("plan client = %q, want team-a", got)
	}
	s := h.runAttempt(d.plan, 1, "openai", "r", premiumBody)
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s.send(respBody(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":90,"total_tokens":99}}`, true))
	s.recv()
	s.recv()
	s.close()
	prompt := int64(len(premiumBody) / 4)
	if _, tok := h.srv.limiter.Used(h.srv.state.Load().access, "team-a", h.clock.Now()); tok != prompt+90 {
		t.Fatalf("tokens used = %d, want %d (prompt estimate + 90 completion)", tok, prompt+90)
	}
	if d := h.decide(w, premiumBody); d.status != 429 || d.code != "rate_limit_exceeded" || d.retryAfter != "3600" {
		t.Fatalf("over the budget: %d %q retry-after %q, want 429 rate_limit_exceeded 3600", d.status, d.code, d.retryAfter)
	}
}

// TestClients_ForgedPlanClientChargesNothing verifies that the plan's client
// is signed with it: an attempt whose plan names another client (listed or
// not) is refused before anything is charged, and makes no window.
func TestClients_ForgedPlanClientChargesNothing(t *testing.T) {
	for _, name := range []string{"office", "forged-" + strings.Repeat("x", 100)} {
		t.Run(name, func(t *testing.T) {
			h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
			d := h.decide(who{headers: []string{"authorization", "Bearer sk-team-a"}, source: "10.0.0.1:1"}, premiumBody)
			before := h.srv.limiter.Len()
			_, usedBefore := h.srv.limiter.Used(h.srv.state.Load().access, name, h.clock.Now())
			editPlan(t, d.plan, func(p *contract.Plan) { p.Client = name })
			s := h.open(contract.PhaseAttempt)
			s.send(h.attemptRequest(d.plan, 1, "openai", "r"))
			r := s.recv()
			if got := r.GetImmediateResponse().GetDetails(); got != "llm_failover_plan_unverified" {
				t.Fatalf("attempt with a changed plan client: got %v, want an immediate response llm_failover_plan_unverified", r)
			}
			s.close()
			if n := h.srv.limiter.Len(); n != before {
				t.Errorf("limiter entries = %d after a forged client name, want %d", n, before)
			}
			if _, used := h.srv.limiter.Used(h.srv.state.Load().access, name, h.clock.Now()); used != usedBefore {
				t.Errorf("tokens charged to %q = %d, want %d", name, used, usedBefore)
			}
		})
	}
}

// TestClients_NoSectionKeepsOldBehaviour verifies that without clients any
// key, no attribute and the chain header are accepted, and the plan names no client.
func TestClients_NoSectionKeepsOldBehaviour(t *testing.T) {
	h := newHarness(t, "")
	d := h.decide(who{headers: []string{"authorization", "Bearer whatever"}}, premiumBody, contract.HeaderChain, "premium")
	if d.status != 200 {
		t.Fatalf("got %d %s, want 200", d.status, d.code)
	}
	if planOf(t, d.plan).Client != "" {
		t.Errorf("the plan names a client without a clients section")
	}
}

// TestAttempt_RemovesClientKeyHeaders verifies that the client's
// authorization and x-api-key never reach a provider: the attempt removes
// both (or overwrites authorization with the provider's own key).
func TestAttempt_RemovesClientKeyHeaders(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	d := h.decide(who{headers: []string{"x-api-key", "sk-team-a"}, source: "10.0.0.1:1"}, premiumBody)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(d.plan, 1, "openai", "r", "x-api-key", "sk-team-a"))
	s.recv()
	s.send(reqBody(premiumBody))
	m := s.recv().GetRequestBody().GetResponse().GetHeaderMutation()
	if got := setHeaders(m)["authorization"]; got != "Bearer sk-openai-secret" {
		t.Errorf("authorization = %q, want the provider's key", got)
	}
	removed := strings.Join(m.GetRemoveHeaders(), ",")
	if !strings.Contains(removed, "x-api-key") {
		t.Errorf("removed %q, want x-api-key among them", removed)
	}
}

// TestClients_StreamedUsageIsCharged verifies that a streamed answer's
// usage chunk, split across body chunks, is charged to the plan's client at
// the stream's end.
func TestClients_StreamedUsageIsCharged(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	body := `{"model":"premium","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
	d := h.decide(who{headers: []string{"authorization", "Bearer sk-team-a"}, source: "10.0.0.1:1"}, body)
	if d.status != 200 {
		t.Fatalf("decide: %d %s", d.status, d.code)
	}
	s := h.runAttempt(d.plan, 1, "openai", "r", body)
	defer s.close()
	s.send(respHeaders(false, ":status", "200", "content-type", "text/event-stream"))
	s.send(respBody(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}`+"\n\n", false))
	s.recv() // the released headers
	s.recv() // the held chunk
	usage := `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":17,"total_tokens":26}}` + "\n\n"
	s.send(respBody(usage[:50], false))
	s.recv()
	s.send(respBody(usage[50:]+"data: [DONE]\n\n", true))
	s.recv()
	if _, tok := h.srv.ClientUsage("team-a"); tok != int64(len(body)/4)+17 {
		t.Errorf("tokens used = %d, want the prompt estimate %d + 17", tok, len(body)/4)
	}
}

// TestClients_StreamedAnswerWithoutUsageIsCharged verifies a streamed
// answer the client did not ask usage for is still charged to its budget,
// by its streamed content: leaving out stream_options.include_usage does
// not make completions free.
func TestClients_StreamedAnswerWithoutUsageIsCharged(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	body := `{"model":"premium","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	d := h.decide(who{headers: []string{"authorization", "Bearer sk-team-a"}, source: "10.0.0.1:1"}, body)
	if d.status != 200 {
		t.Fatalf("decide: %d %s", d.status, d.code)
	}
	s := h.runAttempt(d.plan, 1, "openai", "r", body)
	defer s.close()
	s.send(respHeaders(false, ":status", "200", "content-type", "text/event-stream"))
	s.send(respBody(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"`+strings.Repeat("w", 400)+`"}}]}`+"\n\n", false))
	s.recv() // the released headers
	s.recv() // the held chunk
	s.send(respBody("data: [DONE]\n\n", true))
	s.recv()
	if _, tok := h.srv.ClientUsage("team-a"); tok != int64(len(body)/4)+100 {
		t.Errorf("tokens used = %d, want the prompt estimate %d + 100 (400 bytes of content)", tok, len(body)/4)
	}
}

// BenchmarkRouteWithClients measures the route phase (headers and a 2 KB
// body) without a clients policy and with one of 20 keyed clients (the
// last one matching, limits that never refuse), logging to a discarded
// JSON handler: the policy's cost per request.
func BenchmarkRouteWithClients(b *testing.B) {
	var list strings.Builder
	for i := range 20 {
		list.WriteString("    - {name: c" + strconv.Itoa(i) + ", api_keys: [\"" + access.HashKey("sk-"+strconv.Itoa(i)) + "\"], rate: {limit: 1000000000000}, tokens: {limit: 1000000000000}}\n")
	}
	for _, tc := range []struct{ name, yaml string }{
		{"none", ""},
		{"20clients", "clients:\n  list:\n" + list.String()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, "limits: {max_body_bytes: 1MiB}\n"+tc.yaml)
			h.srv.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
			body := benchBody(2 << 10)
			rh := routeRequest(who{headers: []string{"authorization", "Bearer sk-19"}, source: "10.0.0.1:1"})
			rb := reqBody(body)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := newRouteStream(h.srv, h.srv.state.Load())
				mustHandle(b, r, rh)
				mustHandle(b, r, rb)
			}
		})
	}
}
