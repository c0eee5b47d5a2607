package processor

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/contract"
)

// embedConfig has a chat chain and an embeddings chain of an OpenAI and a
// Gemini target.
const embedConfig = `
breaker: {jitter: 0}
server: {stream_first_event_timeout: 300ms}
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
  - {name: gem, api: gemini, host: generativelanguage.googleapis.com, auth: {key_env: TEST_GEMINI_KEY}}
chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets: [{provider: openai, model: gpt-4o}]
  - name: embed
    kind: embeddings
    match: {models: [text-embedding-3-small]}
    targets:
      - {provider: openai, model: text-embedding-3-small, dimensions: 768}
      - {provider: gem, model: gemini-embedding-001, dimensions: 768}
`

func newEmbedHarness(t *testing.T, extra string) *harness {
	t.Setenv("TEST_GEMINI_KEY", "gem-secret")
	return newHarnessYAML(t, embedConfig+extra)
}

// modelIDs runs GET path on the route phase as w and returns the status and
// the listed ids.
func modelIDs(t *testing.T, h *harness, w who, kv ...string) (int, []string, string) {
	t.Helper()
	s := h.open(contract.PhaseRoute)
	defer s.close()
	args := append([]string{":path", "/v1/models", ":method", "GET"}, kv...)
	r := routeRequest(w, args...)
	r.GetRequestHeaders().EndOfStream = true
	s.send(r)
	ir := s.recv().GetImmediateResponse()
	if ir == nil {
		t.Fatalf("GET /v1/models: got no immediate response")
	}
	var list struct {
		Object string
		Data   []struct{ ID, Object, OwnedBy, Chain string }
	}
	status := int(ir.GetStatus().GetCode())
	if status != 200 {
		return status, nil, string(ir.GetBody())
	}
	if err := json.Unmarshal(ir.GetBody(), &list); err != nil || list.Object != "list" {
		t.Fatalf("body: got %s (%v), want an OpenAI list", ir.GetBody(), err)
	}
	var ids []string
	for _, m := range list.Data {
		if m.Object != "model" || m.Chain == "" {
			t.Fatalf("entry: got %+v, want object model and its chain", m)
		}
		ids = append(ids, m.ID)
	}
	return status, ids, string(ir.GetBody())
}

// TestRoute_ModelsListsEveryChainsModels verifies GET /v1/models is answered
// by the route phase with every chain's models, once each, and the default
// chain's name (any model reaches it).
func TestRoute_ModelsListsEveryChainsModels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra string
		want  []string
	}{
		{"no default chain", "", []string{"premium", "gpt-4o", "text-embedding-3-small"}},
		{"default chain named by a model already listed", "default_chain: premium\n", []string{"premium", "gpt-4o", "text-embedding-3-small"}},
		{"default chain added", "default_chain: embed\n", []string{"premium", "gpt-4o", "text-embedding-3-small", "embed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEmbedHarness(t, tc.extra)
			status, ids, body := modelIDs(t, h, who{})
			if status != 200 || !slices.Equal(ids, tc.want) {
				t.Fatalf("got %d %v (%s), want 200 %v", status, ids, body, tc.want)
			}
		})
	}
}

// TestRoute_ModelsListsWhatTheClientMayUse verifies that with a clients
// policy each client sees only the models of the chains it may use, and an
// unknown caller under deny is refused as for any request.
func TestRoute_ModelsListsWhatTheClientMayUse(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	for _, tc := range []struct {
		name       string
		w          who
		wantStatus int
		want       []string
	}{
		{"chains limited", who{headers: []string{"authorization", "Bearer sk-team-a"}, source: "10.1.2.3"}, 200, []string{"premium", "gpt-4o"}},
		{"models limited", who{claim: "alice"}, 200, []string{"cheap"}},
		{"everything", who{san: "spiffe://mesh/ns/a/sa/svc"}, 200, []string{"premium", "gpt-4o", "cheap"}},
		{"unknown caller denied", who{source: "8.8.8.8"}, access.UnknownDenied.Status(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, ids, body := modelIDs(t, h, tc.w)
			if status != tc.wantStatus || !slices.Equal(ids, tc.want) {
				t.Fatalf("got %d %v (%s), want %d %v", status, ids, body, tc.wantStatus, tc.want)
			}
		})
	}
}

// TestRoute_WrongMethodIsRefused verifies a POST to the model list and a GET
// to an API path are answered 405 with an OpenAI-style error.
func TestRoute_WrongMethodIsRefused(t *testing.T) {
	h := newEmbedHarness(t, "")
	for _, tc := range []struct{ path, method string }{
		{"/v1/models", "POST"},
		{"/v1/embeddings", "GET"},
		{"/v1/chat/completions", "GET"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			s := h.open(contract.PhaseRoute)
			defer s.close()
			s.send(reqHeaders(true, ":path", tc.path, ":method", tc.method))
			ir := s.recv().GetImmediateResponse()
			if ir.GetStatus().GetCode() != 405 || !strings.Contains(string(ir.GetBody()), `"code":"method_not_allowed"`) {
				t.Fatalf("got %v, want 405 method_not_allowed", ir)
			}
		})
	}
}

// TestRoute_RouteOfNoAPIIsNotFound verifies a configured route whose path
// ends in no API's suffix is answered 404 not_found naming the suffixes.
func TestRoute_RouteOfNoAPIIsNotFound(t *testing.T) {
	h := newEmbedHarness(t, "envoy: {routes: [/v1/chat/completions, /v1/files]}\n")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/files", ":method", "POST"))
	ir := s.recv().GetImmediateResponse()
	if ir.GetStatus().GetCode() != 404 || !strings.Contains(string(ir.GetBody()), "/embeddings") {
		t.Fatalf("got %v, want 404 naming the API suffixes", ir)
	}
}

// TestRoute_EmbeddingsPlanNamesTheAPI verifies an embeddings request is
// planned on its chain's targets with "api": "embeddings" in the signed
// plan, and that token-id input leaves the Gemini target out.
func TestRoute_EmbeddingsPlanNamesTheAPI(t *testing.T) {
	h := newEmbedHarness(t, "")
	for _, tc := range []struct {
		name string
		body string
		want []string
	}{
		{"text", `{"model":"text-embedding-3-small","input":["a","b"]}`, []string{"openai", "gem"}},
		{"token ids", `{"model":"text-embedding-3-small","input":[1,2,3]}`, []string{"openai"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dm := h.planFor(tc.body, ":path", "/v1/embeddings")
			plan := planOf(t, dm)
			if got := plan.API; got != "embeddings" {
				t.Fatalf("plan api: got %q, want embeddings", got)
			}
			var got []string
			for _, tg := range plan.Targets {
				got = append(got, tg.Provider)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("targets: got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRoute_ChatPlanNamesNoAPI verifies a chat completions plan carries no
// "api" key, so it reads and signs as before the key existed.
func TestRoute_ChatPlanNamesNoAPI(t *testing.T) {
	h := newEmbedHarness(t, "")
	dm := h.planFor(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
	if api := planOf(t, dm).API; api != "" {
		t.Fatalf("chat plan: got api %q, want none", api)
	}
}

// TestRoute_EmbeddingsRefusals verifies what the route phase answers an
// embeddings request it cannot plan: bad input (400 naming the field), a
// model of a chat chain and a chat request for an embedding model (404
// model_not_found).
func TestRoute_EmbeddingsRefusals(t *testing.T) {
	h := newEmbedHarness(t, "")
	for _, tc := range []struct {
		name, path, body string
		status           uint32
		want             string
	}{
		{"no input", "/v1/embeddings", `{"model":"text-embedding-3-small"}`, 400, `"param":"input"`},
		{"empty input", "/v1/embeddings", `{"model":"text-embedding-3-small","input":[]}`, 400, `"param":"input"`},
		{"object input", "/v1/embeddings", `{"model":"text-embedding-3-small","input":{"a":1}}`, 400, `"param":"input"`},
		{"bad encoding", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","encoding_format":"int8"}`, 400, `"param":"encoding_format"`},
		{"bad dimensions", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"a","dimensions":0}`, 400, `"param":"dimensions"`},
		{"no model", "/v1/embeddings", `{"input":"a"}`, 400, `"param":"model"`},
		{"chat model", "/v1/embeddings", `{"model":"gpt-4o","input":"a"}`, 404, `"code":"model_not_found"`},
		{"embedding model in chat", "/v1/chat/completions", `{"model":"text-embedding-3-small","messages":[{"role":"user","content":"hi"}]}`, 404, `"code":"model_not_found"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := h.open(contract.PhaseRoute)
			defer s.close()
			s.send(reqHeaders(false, ":path", tc.path, ":method", "POST", "content-type", "application/json"))
			s.recv()
			s.send(reqBody(tc.body))
			ir := s.recv().GetImmediateResponse()
			if uint32(ir.GetStatus().GetCode()) != tc.status || !strings.Contains(string(ir.GetBody()), tc.want) {
				t.Fatalf("got %v, want %d with %s", ir, tc.status, tc.want)
			}
		})
	}
}

// TestAttempt_EmbeddingsOnGemini verifies an embeddings attempt on a Gemini
// target goes to batchEmbedContents with the Gemini key and comes back as
// an OpenAI embedding list; the same plan's OpenAI attempt passes through.
func TestAttempt_EmbeddingsOnGemini(t *testing.T) {
	h := newEmbedHarness(t, "")
	body := `{"model":"text-embedding-3-small","input":["a","b"]}`
	dm := h.planFor(body, ":path", "/v1/embeddings")

	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 2, "gem", "e1"))
	s.recv()
	s.send(reqBody(body))
	c := s.recv().GetRequestBody().GetResponse()
	hs := setHeaders(c.GetHeaderMutation())
	if hs[":path"] != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || hs["x-goog-api-key"] != "gem-secret" {
		t.Fatalf("headers: got %v, want batchEmbedContents with the Gemini key", hs)
	}
	if got := string(c.GetBodyMutation().GetBody()); !strings.Contains(got, `"model":"models/gemini-embedding-001"`) {
		t.Fatalf("body: got %s, want one request per input for the target model", got)
	}
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s.send(respBody(`{"embeddings":[{"values":[0.5,-1]},{"values":[0.25,2]}]}`, true))
	s.recv() // response headers
	got := string(s.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	want := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1]},{"object":"embedding","index":1,"embedding":[0.25,2]}],"model":"gemini-embedding-001","usage":{"prompt_tokens":0,"total_tokens":0}}`
	if got != want {
		t.Fatalf("answer: got %s, want %s", got, want)
	}

	o := h.open(contract.PhaseAttempt)
	defer o.close()
	o.send(h.attemptRequest(dm, 1, "openai", "e1"))
	o.recv()
	o.send(reqBody(body))
	if p := setHeaders(o.recv().GetRequestBody().GetResponse().GetHeaderMutation())[":path"]; p != "/v1/embeddings" {
		t.Fatalf("openai path: got %q, want /v1/embeddings", p)
	}
}

// TestMetrics_EmbeddingsAreAnEmbeddingsOperation verifies an embeddings
// attempt is recorded with gen_ai.operation.name "embeddings" and the
// prompt tokens its answer reported.
func TestMetrics_EmbeddingsAreAnEmbeddingsOperation(t *testing.T) {
	h := newEmbedHarness(t, "")
	body := `{"model":"text-embedding-3-small","input":"a"}`
	s := h.runAttempt(h.planFor(body, ":path", "/v1/embeddings"), 1, "openai", "m1", body)
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s.send(respBody(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}}`, true))
	s.recv()
	s.close()
	h.waitStreams()
	m := h.metricsText()
	w := `gen_ai_client_inference_usage_input_tokens_total{gen_ai_operation_name="embeddings",gen_ai_provider_name="openai",gen_ai_request_model="text-embedding-3-small",gen_ai_response_model="text-embedding-3-small",llm_failover_provider="openai"} 7`
	if !strings.Contains(m, w) {
		t.Fatalf("metrics: got no %s in\n%s", w, m)
	}
}

// TestRoute_PrefixRouteDispatchesByPath verifies a route ending in "/" (a
// prefix route in the generated Envoy config) reaches the route phase for
// every path under it: the model list, an API, and a 404 for a path no API
// serves, instead of an unplanned request.
func TestRoute_PrefixRouteDispatchesByPath(t *testing.T) {
	h := newEmbedHarness(t, "envoy: {routes: [/v1/]}\n")
	for _, tc := range []struct {
		path, method string
		status       uint32 // 0: planned (a headers CONTINUE)
	}{
		{"/v1/models", "GET", 200},
		{"/v1/files", "POST", 404},
		{"/v1/embeddings", "POST", 0},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := h.open(contract.PhaseRoute)
			defer s.close()
			s.send(reqHeaders(tc.method == "GET", ":path", tc.path, ":method", tc.method, "content-type", "application/json"))
			r := s.recv()
			if got := uint32(r.GetImmediateResponse().GetStatus().GetCode()); got != tc.status || tc.status == 0 && r.GetRequestHeaders() == nil {
				t.Fatalf("got %v, want status %d (0: continue)", r, tc.status)
			}
		})
	}
}
