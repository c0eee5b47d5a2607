package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/option"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/telemetry"
)

// tracedTelemetry is a telemetry with tracing on, its spans in memory.
func tracedTelemetry(t *testing.T) (*telemetry.Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	c, err := config.Parse([]byte(`
providers: [{name: p, api: openai, host: h}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]
telemetry: {traces: {enabled: true}}
`))
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(c.Telemetry, telemetry.Options{SpanExporter: spans})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, spans
}

// TestScenario_FailoverSignals verifies what a failover shows beyond the
// answer, through the front door: the trace joins the client's (one span
// for the request, one child per attempt, the failed attempt's failover
// event with reason rate_limited and the next target), each provider gets
// the client's trace with its attempt's span, and /metrics counts the
// failover and the GenAI operations and passes the promtool-equivalent lint;
// on every Envoy version the model plays.
func TestScenario_FailoverSignals(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		const traceID = "0af7651916cd43dd8448eb211c80319c"
		tel, spans := tracedTelemetry(t)
		s := newStack(t, v, stackOpts{telemetry: tel})
		s.needLocal("the server's in-process telemetry")
		s.setFaults("primary", fakellm.Fault{Status: 429, RetryAfter: "20"})
		s.mustOK(s.chat(option.WithHeader("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")), "secondary")
		s.waitSettled()

		got := spans.GetSpans()
		var req tracetest.SpanStub
		attempts := map[string]tracetest.SpanStub{}
		for _, sp := range got {
			if sp.Name == "llm_failover.request" {
				req = sp
			} else if strings.HasPrefix(sp.Name, "chat ") {
				attempts[sp.Name] = sp
			}
		}
		if req.SpanContext.TraceID().String() != traceID || req.Parent.SpanID().String() != "b7ad6b7169203331" {
			t.Fatalf("request span: got trace %s parent %s, want the client's trace %s and span", req.SpanContext.TraceID(), req.Parent.SpanID(), traceID)
		}
		primary, secondary := attempts["chat primary-model"], attempts["chat secondary-model"]
		if len(attempts) != 2 || primary.Parent.SpanID() != req.SpanContext.SpanID() || secondary.Parent.SpanID() != req.SpanContext.SpanID() {
			t.Fatalf("attempt spans: got %d (%v), want 2 children of the request span", len(attempts), got)
		}
		var failover map[string]string
		for _, e := range primary.Events {
			if e.Name == telemetry.EventFailover {
				failover = map[string]string{}
				for _, a := range e.Attributes {
					failover[string(a.Key)] = a.Value.String()
				}
			}
		}
		if failover["llm_failover.reason"] != "rate_limited" || failover["llm_failover.to_provider"] != "secondary" {
			t.Fatalf("failover event: got %v, want reason rate_limited to secondary", failover)
		}
		for name, sp := range map[string]tracetest.SpanStub{"primary": primary, "secondary": secondary} {
			rec := s.fakes[name].Requests()
			if len(rec) != 1 {
				t.Fatalf("%s: got %d requests, want 1", name, len(rec))
			}
			want := "00-" + traceID + "-" + sp.SpanContext.SpanID().String() + "-01"
			if tp := rec[0].Header.Get("traceparent"); tp != want {
				t.Errorf("%s got traceparent %q, want its attempt's %q", name, tp, want)
			}
		}

		var b strings.Builder
		if err := s.proc.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		text := b.String()
		for _, w := range []string{
			`llm_failover_failovers_total{chain="main",from_model="primary-model",from_provider="primary",reason="rate_limited",to_model="secondary-model",to_provider="secondary"} 1`,
			`gen_ai_client_operation_duration_seconds_count{error_type="rate_limited",gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="primary-model",llm_failover_provider="primary"} 1`,
			`llm_failover_breaker_transitions_total{from="closed",model="primary-model",provider="primary",reason="rate limited with retry-after",to="open"} 1`,
			`llm_failover_breaker_state{model="primary-model",provider="primary"} 1`,
		} {
			if !strings.Contains(text, w) {
				t.Errorf("metrics: got no %s", w)
			}
		}
		problems, err := promlint.New(strings.NewReader(text)).Lint()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
		// PROMTOOL names a promtool binary (go install
		// github.com/prometheus/prometheus/cmd/promtool@v0.316.0) to check
		// the page with promtool itself; CI runs promlint only (the same
		// lint rules; promtool's build is too slow for every CI run).
		if pt := os.Getenv("PROMTOOL"); pt != "" {
			cmd := exec.Command(pt, "check", "metrics")
			cmd.Stdin = strings.NewReader(text)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool check metrics: %v\n%s", err, out)
			}
		}
		if t.Failed() {
			t.Logf("metrics:\n%s", text)
		}
	})
}
