package processor

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/telemetry"
)

// clientTraceparent is the W3C trace context a client sends.
const (
	clientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID      = "00f067aa0ba902b7"
	clientTraceparent = "00-" + clientTraceID + "-" + clientSpanID + "-01"
)

// newTracedHarness is newHarness with tracing on, its spans in memory.
func newTracedHarness(t *testing.T, extraYAML string) (*harness, *tracetest.InMemoryExporter) {
	t.Helper()
	t.Setenv("TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("TEST_GROQ_KEY", "gsk-groq-secret")
	cfg, err := config.Parse([]byte(testConfig + "telemetry: {traces: {enabled: true}, metrics: {legacy_token_usage: true}}\n" + extraYAML))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(cfg.Telemetry, telemetry.Options{SpanExporter: spans})
	if err != nil {
		t.Fatalf("telemetry: %v", err)
	}
	clock := newFakeClock()
	logs := &syncBuffer{}
	srv, err := New(Options{Config: cfg, Clock: clock, Rand: func() float64 { return 0.5 },
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Telemetry: tel})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(srv.GRPCServerOptions()...)
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		_ = tel.Shutdown(context.Background())
	})
	return &harness{t: t, srv: srv, clock: clock, client: extprocv3.NewExternalProcessorClient(conn), logs: logs}, spans
}

// sendAttempt opens attempt n on providerName for dm and returns the stream
// and the headers its request mutation sets and removes.
func (h *harness) sendAttempt(dm *structpb.Struct, n int, providerName, body string, kv ...string) (*stream, map[string]string, []string) {
	h.t.Helper()
	s := h.open(contract.PhaseAttempt)
	s.send(h.attemptRequest(dm, n, providerName, "req-1", kv...))
	if r := s.recv(); r.GetRequestHeaders() == nil {
		h.t.Fatalf("attempt headers: got %v, want a headers response", r)
	}
	s.send(reqBody(body))
	r := s.recv()
	m := r.GetRequestBody().GetResponse().GetHeaderMutation()
	return s, setHeaders(m), m.GetRemoveHeaders()
}

// spanNamed returns the one ended span called name.
func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("spans called %q: got %d, want 1 (all: %v)", name, len(found), spanNames(spans))
	}
	return found[0]
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// attrsOf maps attributes by key.
func attrsOf(kv []attribute.KeyValue) map[string]string {
	out := map[string]string{}
	for _, a := range kv {
		out[string(a.Key)] = a.Value.String()
	}
	return out
}

// eventNamed returns the attributes of span s's first event called name, or nil.
func eventNamed(s tracetest.SpanStub, name string) map[string]string {
	for _, e := range s.Events {
		if e.Name == name {
			return attrsOf(e.Attributes)
		}
	}
	return nil
}

// TestTrace_FailoverShowsOneSpanPerAttemptAndTheReason verifies the issue's
// trace: the request span joins the client's trace, each attempt is its child
// span with the GenAI attributes and passes its own traceparent to the
// provider, and the failed attempt carries a failover event with its reason
// and the next target; the metrics count the failover and the tokens.
func TestTrace_FailoverShowsOneSpanPerAttemptAndTheReason(t *testing.T) {
	h, exp := newTracedHarness(t, "")
	dm, route := h.planOpen(chatBody, "traceparent", clientTraceparent, "tracestate", "vendor=1")

	s1, set1, removed1 := h.sendAttempt(dm, 1, "openai", chatBody, "traceparent", clientTraceparent, "tracestate", "vendor=1")
	tp1 := set1["traceparent"]
	if !strings.HasPrefix(tp1, "00-"+clientTraceID+"-") || strings.Contains(tp1, clientSpanID) {
		t.Fatalf("attempt 1 traceparent to the provider: got %q, want the client's trace with the attempt's span", tp1)
	}
	if !slicesContains(removed1, "tracestate") || slicesContains(removed1, "traceparent") {
		t.Fatalf("attempt 1 removed %v: want tracestate removed and traceparent only set", removed1)
	}
	h.clock.Advance(250 * time.Millisecond)
	s1.send(respHeaders(false, ":status", "429", "content-type", "application/json"))
	s1.send(respBody(`{"error":{"message":"slow down","type":"rate_limit_error"}}`, true))
	if hs := s1.recvSetHeaders(); hs[contract.RetryHeader] != "1" {
		t.Fatalf("attempt 1: got %v, want the retry marker", hs)
	}
	s1.close()

	s2, set2, _ := h.sendAttempt(dm, 2, "groq", chatBody, "traceparent", tp1)
	if tp2 := set2["traceparent"]; !strings.HasPrefix(tp2, "00-"+clientTraceID+"-") || tp2 == tp1 {
		t.Fatalf("attempt 2 traceparent: got %q, want the client's trace with a new span (attempt 1's %q)", tp2, tp1)
	}
	h.clock.Advance(400 * time.Millisecond)
	s2.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s2.send(respBody(`{"id":"c","object":"chat.completion","model":"llama-3.3-70b-versatile-0425","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}}`, true))
	s2.recv()
	s2.close()
	route.send(respHeaders(false, ":status", "200", contract.HeaderTrace, "x"))
	route.recv()
	route.close()
	h.waitStreams()

	spans := exp.GetSpans()
	req := spanNamed(t, spans, "llm_failover.request")
	if req.Parent.TraceID().String() != clientTraceID || req.Parent.SpanID().String() != clientSpanID || !req.Parent.IsRemote() {
		t.Fatalf("request span parent: got %v, want the client's span %s", req.Parent, clientSpanID)
	}
	if req.SpanKind != trace.SpanKindServer || attrsOf(req.Attributes)["llm_failover.chain"] != "premium" {
		t.Fatalf("request span: got kind %v attrs %v, want server kind on chain premium", req.SpanKind, attrsOf(req.Attributes))
	}
	a1 := spanNamed(t, spans, "chat gpt-4o")
	a2 := spanNamed(t, spans, "chat llama-3.3-70b-versatile")
	for _, a := range []tracetest.SpanStub{a1, a2} {
		if a.Parent.SpanID() != req.SpanContext.SpanID() || a.SpanContext.TraceID().String() != clientTraceID || a.SpanKind != trace.SpanKindClient {
			t.Fatalf("attempt span %s: got parent %s trace %s kind %v, want a client child of the request span %s", a.Name,
				a.Parent.SpanID(), a.SpanContext.TraceID(), a.SpanKind, req.SpanContext.SpanID())
		}
	}
	if got := a1.SpanContext.SpanID().String(); !strings.Contains(tp1, got) {
		t.Fatalf("attempt 1 passed %q to the provider, want its own span %s", tp1, got)
	}
	ev := eventNamed(a1, telemetry.EventFailover)
	want := map[string]string{"llm_failover.reason": "rate_limited", "llm_failover.from_provider": "openai", "llm_failover.to_provider": "groq",
		"llm_failover.to_model": "llama-3.3-70b-versatile", "http.response.status_code": "429", "llm_failover.added_latency_ms": "250"}
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("failover event %s: got %q, want %q (event %v)", k, ev[k], v, ev)
		}
	}
	at1, at2 := attrsOf(a1.Attributes), attrsOf(a2.Attributes)
	for k, v := range map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"error.type": "rate_limited", "llm_failover.attempt": "1"} {
		if at1[k] != v {
			t.Errorf("attempt 1 %s: got %q, want %q", k, at1[k], v)
		}
	}
	for k, v := range map[string]string{"gen_ai.provider.name": "groq", "gen_ai.response.model": "llama-3.3-70b-versatile-0425",
		"gen_ai.usage.input_tokens": "11", "gen_ai.usage.output_tokens": "5", "llm_failover.attempt": "2"} {
		if at2[k] != v {
			t.Errorf("attempt 2 %s: got %q, want %q", k, at2[k], v)
		}
	}
	if _, ok := at2["error.type"]; ok {
		t.Errorf("attempt 2: got error.type %q, want none on success", at2["error.type"])
	}

	m := h.metricsText()
	for _, w := range []string{
		`llm_failover_failovers_total{chain="premium",from_model="gpt-4o",from_provider="openai",reason="rate_limited",to_model="llama-3.3-70b-versatile",to_provider="groq"} 1`,
		`llm_failover_failover_added_latency_seconds_sum{chain="premium",reason="rate_limited"} 0.25`,
		`gen_ai_client_inference_usage_input_tokens_total{gen_ai_operation_name="chat",gen_ai_provider_name="groq",gen_ai_request_model="llama-3.3-70b-versatile",gen_ai_response_model="llama-3.3-70b-versatile-0425",llm_failover_provider="groq"} 11`,
		`gen_ai_client_operation_duration_seconds_count{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",llm_failover_provider="openai"} 1`,
	} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics: got no %s", w)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestTrace_PlanEventsNameSkippedTargetsAndProbes verifies the request
// span's routing decisions: a target whose breaker is open is skipped with
// reason breaker_open (and the transition is counted with its reason), and
// a half-open target's probe is an event.
func TestTrace_PlanEventsNameSkippedTargetsAndProbes(t *testing.T) {
	h, exp := newTracedHarness(t, "")
	h.trip("openai/gpt-4o")
	h.planFor(chatBody)
	h.waitStreams()
	ev := eventNamed(spanNamed(t, exp.GetSpans(), "llm_failover.request"), telemetry.EventTargetSkipped)
	if ev["llm_failover.provider"] != "openai" || ev["llm_failover.reason"] != "breaker_open" {
		t.Fatalf("skipped event: got %v, want openai skipped for breaker_open", ev)
	}
	if w := `llm_failover_breaker_transitions_total{from="closed",model="gpt-4o",provider="openai",reason="consecutive failures",to="open"} 1`; !strings.Contains(h.metricsText(), w) {
		t.Fatalf("metrics: got no %s", w)
	}

	exp.Reset()
	h.clock.Advance(31 * time.Second) // past open_for: half-open, probed by the next request
	h.planFor(chatBody)
	h.waitStreams()
	ev = eventNamed(spanNamed(t, exp.GetSpans(), "llm_failover.request"), telemetry.EventProbe)
	if ev["llm_failover.provider"] != "openai" || ev["llm_failover.model"] != "gpt-4o" {
		t.Fatalf("probe event: got %v, want openai/gpt-4o probed", ev)
	}
}

// TestTrace_RejectionMarksTheRequestSpan verifies a request answered by
// llm-failover itself (an unknown model) ends its span in error with a
// rejected event naming the code.
func TestTrace_RejectionMarksTheRequestSpan(t *testing.T) {
	h, exp := newTracedHarness(t, "")
	s := h.open(contract.PhaseRoute)
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json"))
	s.recv()
	s.send(reqBody(`{"model":"nope","messages":[{"role":"user","content":"secret prompt"}]}`))
	if r := s.recv(); r.GetImmediateResponse() == nil {
		t.Fatalf("got %v, want an immediate 404", r)
	}
	s.close()
	h.waitStreams()
	sp := spanNamed(t, exp.GetSpans(), "llm_failover.request")
	if ev := eventNamed(sp, telemetry.EventRejected); ev["llm_failover.reason"] != "model_not_found" || ev["http.response.status_code"] != "404" {
		t.Fatalf("rejected event: got %v, want model_not_found 404", ev)
	}
	if sp.Status.Code.String() != "Error" {
		t.Fatalf("span status: got %v, want Error", sp.Status)
	}
	for _, kv := range sp.Attributes {
		if strings.Contains(kv.Value.String(), "secret prompt") {
			t.Fatalf("span attribute %s carries the prompt", kv.Key)
		}
	}
}

// TestTrace_OffByDefault verifies that without telemetry.traces.enabled no
// traceparent is set on an attempt and the client's is removed, and the
// plan carries none.
func TestTrace_OffByDefault(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody, "traceparent", clientTraceparent)
	if strings.Contains(protoString(structpbValue(dm)), "traceparent") {
		t.Fatalf("plan: got a traceparent with tracing off")
	}
	s, set, removed := h.sendAttempt(dm, 1, "openai", chatBody, "traceparent", clientTraceparent)
	defer s.close()
	if _, ok := set["traceparent"]; ok || !slicesContains(removed, "traceparent") {
		t.Fatalf("attempt: set %v removed %v, want the client's traceparent removed and none set", set, removed)
	}
}

// TestMetrics_PageIsPromlintClean verifies the server's /metrics page, after
// traffic with a failover, passes the promtool-equivalent lint.
func TestMetrics_PageIsPromlintClean(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
	s.send(respHeaders(false, ":status", "503", "content-type", "application/json"))
	s.send(respBody(`{"error":{"message":"down"}}`, true))
	s.recv()
	s.close()
	h.waitStreams()
	text := h.metricsText()
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if !strings.Contains(text, "llm_failover_failovers_total{") {
		t.Fatalf("got no failover counted:\n%s", text)
	}
}

// structpbValue wraps s as a Value.
func structpbValue(s *structpb.Struct) *structpb.Value { return structpb.NewStructValue(s) }

var _ sdktrace.SpanExporter = (*tracetest.InMemoryExporter)(nil)

// TestMetrics_StreamTimeToFirstTokenAndUsage verifies a streamed answer
// records its time to first content and the usage its final chunk reports.
func TestMetrics_StreamTimeToFirstTokenAndUsage(t *testing.T) {
	h := newHarness(t, "")
	s := h.streamAttempt(streamChatBody, 1, "openai", "req-s")
	h.clock.Advance(120 * time.Millisecond)
	s.send(respBody("data: {\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", false))
	s.recv() // headers
	s.recv() // the held chunk
	s.send(respBody("data: {\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":21}}\n\ndata: [DONE]\n\n", true))
	s.recv()
	s.close()
	h.waitStreams()
	m := h.metricsText()
	attrs := `gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o-2024-08-06",llm_failover_provider="openai"}`
	for _, w := range []string{
		`gen_ai_server_time_to_first_token_seconds_sum{` + attrs + ` 0.12`,
		`gen_ai_client_inference_usage_output_tokens_total{` + attrs + ` 21`,
		`gen_ai_client_inference_usage_input_tokens_total{` + attrs + ` 9`,
		`llm_failover_attempts_total{model="gpt-4o",outcome="success",provider="openai"} 1`,
	} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics: got no %s", w)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", m)
	}
}

// TestMetrics_FailoversWithoutAnAnswerAreCounted verifies the failovers
// that come without a provider's answer are counted like those with one:
// an attempt ended at its per-try timeout (with the timeout as its added
// latency) and a reset Envoy retried (seen through the next attempt; its
// cost unknown, so only counted).
func TestMetrics_FailoversWithoutAnAnswerAreCounted(t *testing.T) {
	const line = `llm_failover_failovers_total{chain="premium",from_model="gpt-4o",from_provider="openai",reason="timeout",to_model="llama-3.3-70b-versatile",to_provider="groq"} 1`
	t.Run("per-try timeout", func(t *testing.T) {
		h := newHarness(t, "")
		dm, route := h.planOpen(chatBody)
		defer route.close()
		s := h.runAttempt(dm, 1, "openai", "req-3", chatBody)
		per := h.srv.state.Load().cfg.Envoy.PerTryTimeout.D()
		h.clock.Advance(per)
		h.endAttempt(s)
		m := h.metricsText()
		if !strings.Contains(m, line) {
			t.Errorf("metrics: got no %s\n%s", line, m)
		}
		if w := fmt.Sprintf(`llm_failover_failover_added_latency_seconds_sum{chain="premium",reason="timeout"} %g`, per.Seconds()); !strings.Contains(m, w) {
			t.Errorf("metrics: got no %s", w)
		}
	})
	t.Run("reset then retried", func(t *testing.T) {
		h := newHarness(t, "")
		dm, route := h.planOpen(chatBody, "x-request-id", "req-r")
		defer route.close()
		s := h.runAttempt(dm, 1, "openai", "req-r", chatBody)
		h.endAttempt(s)
		h.runAttempt(dm, 2, "groq", "req-r", chatBody).close()
		m := h.metricsText()
		if !strings.Contains(m, line) {
			t.Errorf("metrics: got no %s\n%s", line, m)
		}
		if strings.Contains(m, `llm_failover_failover_added_latency_seconds_count{chain="premium",reason="timeout"}`) {
			t.Errorf("metrics: got an added latency for a reset whose cost is unknown")
		}
	})
}
