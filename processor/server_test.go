package processor

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// TestServer_DrainWaitsForStreamsAndRefusesNew verifies SIGTERM's drain: new
// streams get Unavailable, Drain returns once the running stream ends.
func TestServer_DrainWaitsForStreamsAndRefusesNew(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseRoute)
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv() // the stream is running
	drained := h.startDrain()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v while a stream was still running", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.close()
	h.wantDrained(drained)
}

// TestServer_DrainTimesOut verifies Drain gives up at its deadline, naming
// the streams still running.
func TestServer_DrainTimesOut(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.srv.Drain(ctx); err == nil || !strings.Contains(err.Error(), "1 streams still running") {
		t.Fatalf("Drain: got %v, want a timeout naming 1 running stream", err)
	}
}

// TestServer_ReloadKeepsBreakersAndAppliesToNewStreams verifies a reload:
// an open breaker stays open, and the new chain serves new requests.
func TestServer_ReloadKeepsBreakersAndAppliesToNewStreams(t *testing.T) {
	h := newHarness(t, "")
	h.trip("openai/gpt-4o")
	cfg, err := config.Parse([]byte(strings.Replace(testConfig, "match: {models: [premium, gpt-4o]}", "match: {models: [premium, gpt-4o, renamed]}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := h.state("openai/gpt-4o"); got != "open" {
		t.Fatalf("breaker after reload: got %s, want open", got)
	}
	dm := h.planFor(`{"model":"renamed"}`)
	targets := planOf(t, dm).Targets
	if len(targets) != 1 || targets[0].Provider != "groq" {
		t.Fatalf("plan after reload: got %v, want only groq (openai still open)", targets)
	}
	t.Setenv("TEST_GROQ_KEY", "")
	bad, _ := config.Parse([]byte(strings.Replace(testConfig, "TEST_GROQ_KEY", "TEST_UNSET_KEY_VAR", 1)))
	if err := h.srv.Reload(bad); err == nil || !strings.Contains(err.Error(), "TEST_UNSET_KEY_VAR") {
		t.Fatalf("Reload with a missing key: got %v, want an error naming the variable", err)
	}
}

// TestAttempt_ServesTheProviderEnvoyChose verifies that when Envoy sends an
// attempt to another planned provider than the plan's slot (configured
// groups used), the attempt is rewritten for the provider Envoy chose.
func TestAttempt_ServesTheProviderEnvoyChose(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 1, "groq", "x1"))
	s.recv()
	s.send(reqBody(chatBody))
	hs := setHeaders(s.recv().GetRequestBody().GetResponse().GetHeaderMutation())
	if hs[":path"] != "/openai/v1/chat/completions" || hs["authorization"] != "Bearer gsk-groq-secret" {
		t.Fatalf("got %v, want groq's path and key", hs)
	}
}

// TestAttempt_ProviderOutsideThePlanIsRefused verifies an attempt sent to a
// provider the plan does not list gets a 500 naming it, not a guess.
func TestAttempt_ProviderOutsideThePlanIsRefused(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 1, "stranger", "x2"))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 500 || !strings.Contains(string(ir.GetBody()), "stranger") {
		t.Fatalf("got %v, want a 500 naming the provider", ir)
	}
}

// TestAttemptCount_ReadsEveryEncoding verifies the attempt number from a
// number attribute, a string attribute, x-envoy-attempt-count, or 1.
func TestAttemptCount_ReadsEveryEncoding(t *testing.T) {
	tests := []struct {
		name  string
		attrs *structpb.Struct
		hs    *corev3.HeaderMap
		want  int
	}{
		{"number", &structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrAttemptCount: structpb.NewNumberValue(3)}}, nil, 3},
		{"string", &structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrAttemptCount: structpb.NewStringValue("2")}}, nil, 2},
		{"header", nil, hdrs("x-envoy-attempt-count", "4"), 4},
		{"raw header, the last of two", nil, &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "x-envoy-attempt-count", RawValue: []byte("4")}, {Key: "x-envoy-attempt-count", RawValue: []byte("5")}}}, 5},
		{"nothing", nil, nil, 1},
		{"garbage", &structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrAttemptCount: structpb.NewStringValue("x")}}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := attemptCount(tc.attrs, tc.hs); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// TestHostProvider_ReadsTextAndStruct verifies the provider from
// xds.upstream_host_metadata as Envoy's text format and as a Struct.
func TestHostProvider_ReadsTextAndStruct(t *testing.T) {
	s := &Server{}
	text := &structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrHostMetadata: structpb.NewStringValue(
		`filter_metadata { key: "llm_failover" value { fields { key: "provider" value { string_value: "openai" } } } }`)}}
	st, _ := structpb.NewStruct(map[string]any{"filter_metadata": map[string]any{"llm_failover": map[string]any{"provider": "groq"}}})
	for name, tc := range map[string]struct {
		attrs *structpb.Struct
		want  string
	}{
		"text":       {text, "openai"},
		"text again": {text, "openai"}, // from the cache
		"struct":     {&structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrHostMetadata: structpb.NewStructValue(st)}}, "groq"},
		"garbage":    {&structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrHostMetadata: structpb.NewStringValue("{{{")}}, ""},
		// The priority-1 "unavailable" endpoint of a TLS provider cluster.
		"fallback endpoint": {&structpb.Struct{Fields: map[string]*structpb.Value{contract.AttrHostMetadata: structpb.NewStringValue(
			`filter_metadata { key: "envoy.transport_socket_match" value { fields { key: "llm_failover_unavailable" value { bool_value: true } } } } ` +
				`filter_metadata { key: "llm_failover" value { fields { key: "provider" value { string_value: "anthropic" } } } }`)}}, "anthropic"},
		"missing": {nil, ""},
	} {
		if got := s.hostProvider(tc.attrs); got != tc.want {
			t.Fatalf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}

// TestAttempt_AnthropicStreamTranslated verifies a good Anthropic stream is
// released after its first event and translated chunk by chunk.
func TestAttempt_AnthropicStreamTranslated(t *testing.T) {
	h := newHarnessYAML(t, anthropicConfig)
	body := `{"model":"mixed","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	s := h.streamAttempt(body, 1, "claude", "st")
	defer s.close()
	// Held until the first content (the text delta), then released in order.
	held := []string{
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi there\"}}\n\n",
	}
	for _, ev := range held {
		s.send(respBody(ev, false))
	}
	m := s.recv().GetResponseHeaders().GetResponse().GetHeaderMutation()
	if setHeaders(m)["content-type"] != "text/event-stream" || setHeaders(m)[contract.HeaderProvider] != "claude" {
		t.Fatalf("headers: got %v", m)
	}
	var out strings.Builder
	for range held {
		out.Write(s.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	}
	for _, ev := range []string{
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	} {
		s.send(respBody(ev, strings.Contains(ev, "message_stop")))
		out.Write(s.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody())
	}
	got := out.String()
	for _, want := range []string{`"object":"chat.completion.chunk"`, `"content":"Hi there"`, `"finish_reason":"stop"`, "data: [DONE]"} {
		if !strings.Contains(got, want) {
			t.Fatalf("translated stream lacks %s:\n%s", want, got)
		}
	}
}

// bodyOfSize is a chat request body of exactly n bytes.
func bodyOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"model":"premium","messages":[{"role":"user","content":"`, `"}]}`
	if n < len(head)+len(tail) {
		t.Fatalf("bodyOfSize(%d): too small", n)
	}
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// TestServer_BodyAtTheLimitCrossesRealGRPC verifies that a body of exactly
// limits.max_body_bytes, above grpc-go's 4 MiB default, is planned by the
// route phase and rewritten by the attempt phase over a real gRPC stream.
func TestServer_BodyAtTheLimitCrossesRealGRPC(t *testing.T) {
	for _, limit := range []int{4 << 20, 8 << 20} {
		t.Run(config.ByteSize(limit).String(), func(t *testing.T) {
			h := newHarness(t, "limits: {max_body_bytes: "+config.ByteSize(limit).String()+"}\n")
			body := bodyOfSize(t, limit)
			dm := h.planFor(body)
			s := h.runAttempt(dm, 1, "openai", "big", body)
			s.close()
		})
	}
}

// TestServer_ReloadRefusesLargerMessageLimits verifies a reload whose
// max_body_bytes needs larger gRPC messages than those fixed at start is
// refused with a message saying to restart.
func TestServer_ReloadRefusesLargerMessageLimits(t *testing.T) {
	h := newHarness(t, "")
	cfg, err := config.Parse([]byte(testConfig + "limits: {max_body_bytes: 64MiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(cfg); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Reload: got %v, want an error saying to restart", err)
	}
}

// TestServer_EmptyKeyIsRefusedNamingTheVariable verifies a provider key that
// is set but empty or white space fails New and Reload with an error naming
// the variable, never sending requests without a credential.
func TestServer_EmptyKeyIsRefusedNamingTheVariable(t *testing.T) {
	h := newHarness(t, "")
	cfg, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_GROQ_KEY", "  \n")
	if err := h.srv.Reload(cfg); err == nil || !strings.Contains(err.Error(), "TEST_GROQ_KEY") {
		t.Fatalf("Reload: got %v, want an error naming TEST_GROQ_KEY", err)
	}
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "TEST_GROQ_KEY") {
		t.Fatalf("New: got %v, want an error naming TEST_GROQ_KEY", err)
	}
}

// TestServer_DrainServesAttemptsOfPlannedRequests verifies that while
// draining, a new route-phase stream (a new request) is refused but an
// attempt stream of a request planned before the drain is served, so a
// request mid-failover still reaches its next target.
func TestServer_DrainServesAttemptsOfPlannedRequests(t *testing.T) {
	h := newHarness(t, "")
	route := h.open(contract.PhaseRoute)
	route.send(reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "d1"))
	route.recv()
	route.send(reqBody(chatBody))
	dm := route.recv().GetDynamicMetadata() // planned; the route stream stays open for the response
	drained := h.startDrain()
	// Attempt 1 failed; Envoy retries on groq during the drain.
	s := h.open(contract.PhaseAttempt)
	s.send(h.attemptRequest(dm, 2, "groq", "d1"))
	if r, err := s.s.Recv(); err != nil || r.GetRequestHeaders() == nil {
		t.Fatalf("attempt while draining: got %v, %v; want a request headers answer", r, err)
	}
	s.send(reqBody(chatBody))
	if hs := setHeaders(s.recv().GetRequestBody().GetResponse().GetHeaderMutation()); hs["authorization"] != "Bearer gsk-groq-secret" {
		t.Fatalf("attempt while draining: got headers %v, want groq's rewrite", hs)
	}
	s.close()
	route.close()
	h.wantDrained(drained)
}

// TestServer_AttemptsRunOnThePlansConfiguration verifies that a reload that
// removes a provider does not strand a request planned before it: its next
// attempt is served with the configuration its plan was made with, while
// new requests get the new one.
func TestServer_AttemptsRunOnThePlansConfiguration(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	onlyOpenAI := `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets: [{provider: openai, model: gpt-4o}]
`
	cfg, err := config.Parse([]byte(onlyOpenAI))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 2, "groq", "r1"))
	if r := s.recv(); r.GetRequestHeaders() == nil {
		t.Fatalf("attempt 2 after the reload: got %v, want it served", r)
	}
	s.send(reqBody(chatBody))
	hs := setHeaders(s.recv().GetRequestBody().GetResponse().GetHeaderMutation())
	if hs[":path"] != "/openai/v1/chat/completions" || hs["authorization"] != "Bearer gsk-groq-secret" {
		t.Fatalf("attempt 2 after the reload: got %v, want groq's path and key from the plan's configuration", hs)
	}
	targets := planOf(t, h.planFor(chatBody)).Targets
	if len(targets) != 1 {
		t.Fatalf("new plan after the reload: got %d targets, want 1 (groq removed)", len(targets))
	}
}

// TestSnapshots_KeepOnlyWhatPlansInFlightNeed verifies the snapshot store:
// a replaced configuration is found by its generation while its plans may
// still be running, and forgotten after that or beyond maxSnapshots.
func TestSnapshots_KeepOnlyWhatPlansInFlightNeed(t *testing.T) {
	cfgA, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfgB, err := config.Parse([]byte(strings.Replace(testConfig, "[premium, gpt-4o]", "[premium, gpt-4o, b]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	a := &state{cfg: cfgA, gen: generationOf(cfgA)}
	b := &state{cfg: cfgB, gen: generationOf(cfgB)}
	if a.gen == b.gen || a.gen == 0 || a.gen >= 1<<53 {
		t.Fatalf("generations: got %d and %d, want distinct non-zero values below 2^53", a.gen, b.gen)
	}
	if again, _ := config.Parse([]byte(testConfig)); generationOf(again) != a.gen {
		t.Fatalf("generation of the same configuration: got %d, want %d", generationOf(again), a.gen)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ss snapshots
	ss.add(a, now)
	ss.add(b, now.Add(time.Second))
	if ss.get(a.gen) != a || ss.get(b.gen) != b {
		t.Fatalf("right after a reload: got %p/%p, want both snapshots kept", ss.get(a.gen), ss.get(b.gen))
	}
	late := now.Add(time.Second + cfgA.RequestLifetime() + time.Second)
	ss.add(&state{cfg: cfgA, gen: a.gen}, late) // a reload back to A's content replaces it
	if ss.get(b.gen) == nil {
		t.Fatal("B just retired: got it forgotten, want it kept")
	}
	cfgC := *cfgA
	cfgC.DefaultChain = "premium"
	ss.add(&state{cfg: &cfgC, gen: generationOf(&cfgC)}, late.Add(cfgB.RequestLifetime()+2*time.Minute))
	if ss.get(b.gen) != nil || ss.get(a.gen) == nil {
		t.Fatal("B retired long ago, A just now: got B kept or A forgotten, want B forgotten and A kept")
	}
	for i := range maxSnapshots + 5 {
		c := *cfgA
		c.DefaultChain = ""
		c.MetadataNamespace = "ns" + strings.Repeat("x", i)
		ss.add(&state{cfg: &c, gen: generationOf(&c)}, late)
	}
	if got := len(ss.list); got != maxSnapshots {
		t.Fatalf("after many reloads: got %d snapshots, want %d", got, maxSnapshots)
	}
}
