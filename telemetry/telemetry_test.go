package telemetry_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/telemetry"
)

// newTelemetry builds a Telemetry from a telemetry section with its defaults.
func newTelemetry(t *testing.T, yaml string) *telemetry.Telemetry {
	t.Helper()
	c, err := config.Parse([]byte(`
providers: [{name: openai, api: openai, host: api.openai.com}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: openai, model: gpt-4o}]}]
` + yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tel, err := telemetry.New(c.Telemetry, telemetry.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

// recordEverything records one of each signal, with hostile values.
func recordEverything(tel *telemetry.Telemetry) {
	tel.CountAttempt("openai", "gpt-4o\tbad", "success")
	tel.CountRefused("plan_missing", 0)
	tel.CountRejected("model_not_found")
	tel.CountPlanned("premium", 2)
	tel.CountFailover(context.Background(), telemetry.Failover{Chain: "premium", FromProvider: "openai", FromModel: "gpt-4o",
		ToProvider: "groq", ToModel: "llama", Reason: "rate_limited", Added: 250 * time.Millisecond})
	tel.CountTransition("openai", "gpt-4o", "closed", "open", "consecutive failures")
	tel.RecordOperation(context.Background(), telemetry.Operation{GenAIProvider: "openai", Target: "openai", RequestModel: "gpt-4o",
		ResponseModel: "gpt-4o-2024-08-06\n", Duration: time.Second, TimeToFirstToken: 200 * time.Millisecond,
		Usage: &telemetry.Usage{Input: 12, Output: 34}})
	tel.RecordOperation(context.Background(), telemetry.Operation{GenAIProvider: "anthropic", Target: "claude", RequestModel: "claude-x",
		ErrorType: "overloaded", Duration: 2 * time.Second})
}

// scrape is the /metrics page as a Prometheus server asking for text gets it.
func scrape(t *testing.T, tel *telemetry.Telemetry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	tel.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: got %d, want 200", rec.Code)
	}
	return rec.Body.String()
}

// TestMetrics_PromlintClean verifies /metrics passes the promtool-equivalent
// lint and parses, with a tab and a newline in model names.
func TestMetrics_PromlintClean(t *testing.T) {
	tel := newTelemetry(t, "telemetry: {metrics: {legacy_token_usage: true}}\n")
	if _, err := tel.ObserveGauges(telemetry.Gauges{
		Breakers: func(yield func(telemetry.BreakerGauge)) {
			yield(telemetry.BreakerGauge{Provider: "openai", Model: "gpt-4o", State: 1})
		},
		Streams: func() int64 { return 3 },
	}); err != nil {
		t.Fatalf("ObserveGauges: %v", err)
	}
	recordEverything(tel)
	text := scrape(t, tel)
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("lint: %v\n%s", err, text)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Fatalf("parse: got %v, want the page to parse\n%s", err, text)
	}
	var b bytes.Buffer
	if err := tel.WriteText(&b); err != nil || b.Len() == 0 {
		t.Fatalf("WriteText: got %d bytes, %v; want the page", b.Len(), err)
	}
}

// TestMetrics_GenAINamesAndAttributes verifies the GenAI semantic-convention
// families and ours appear under their Prometheus names with their attributes.
func TestMetrics_GenAINamesAndAttributes(t *testing.T) {
	tel := newTelemetry(t, "telemetry: {metrics: {legacy_token_usage: true}}\n")
	recordEverything(tel)
	text := scrape(t, tel)
	for _, want := range []string{
		`gen_ai_client_operation_duration_seconds_bucket{error_type="overloaded",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="claude-x",llm_failover_provider="claude",le="2.56"} 1`,
		`gen_ai_client_inference_usage_input_tokens_total{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o-2024-08-06_",llm_failover_provider="openai"} 12`,
		`gen_ai_client_inference_usage_output_tokens_total{`,
		`gen_ai_client_inference_operation_input_tokens_bucket{`,
		`gen_ai_client_inference_operation_output_tokens_count{`,
		`gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o-2024-08-06_",gen_ai_token_type="output",llm_failover_provider="openai"} 34`,
		`gen_ai_server_time_to_first_token_seconds_count{`,
		`llm_failover_attempts_total{model="gpt-4o_bad",outcome="success",provider="openai"} 1`,
		`llm_failover_attempts_refused_total{reason="plan_missing"} 0`,
		`llm_failover_requests_rejected_total{code="model_not_found"} 1`,
		`llm_failover_requests_planned_total{chain="premium"} 1`,
		`llm_failover_plan_length_count{chain="premium"} 1`,
		`llm_failover_failovers_total{chain="premium",from_model="gpt-4o",from_provider="openai",reason="rate_limited",to_model="llama",to_provider="groq"} 1`,
		`llm_failover_failover_added_latency_seconds_sum{chain="premium",reason="rate_limited"} 0.25`,
		`llm_failover_breaker_transitions_total{from="closed",model="gpt-4o",provider="openai",reason="consecutive failures",to="open"} 1`,
		`target_info{service_name="llm-failover"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("got no line with %s in\n%s", want, text)
		}
	}
}

// TestMetrics_LegacyTokenUsageOffByDefault verifies gen_ai.client.token.usage
// appears only when telemetry.metrics.legacy_token_usage is set.
func TestMetrics_LegacyTokenUsageOffByDefault(t *testing.T) {
	tel := newTelemetry(t, "")
	recordEverything(tel)
	if text := scrape(t, tel); strings.Contains(text, "gen_ai_client_token_usage") {
		t.Fatalf("got gen_ai_client_token_usage without the setting, want none")
	}
}

// TestMetrics_ResponseModelsBounded verifies a provider naming ever new
// response models adds at most max_label_values series, the rest "_other".
func TestMetrics_ResponseModelsBounded(t *testing.T) {
	tel := newTelemetry(t, "telemetry: {metrics: {max_label_values: 3}}\n")
	for i := range 10 {
		tel.RecordOperation(context.Background(), telemetry.Operation{GenAIProvider: "openai", Target: "openai", RequestModel: "gpt-4o",
			ResponseModel: "m" + strings.Repeat("x", i), Duration: time.Second})
	}
	text := scrape(t, tel)
	if got := strings.Count(text, "gen_ai_client_operation_duration_seconds_count{"); got != 4 {
		t.Errorf("series: got %d, want 4 (3 models and _other)\n%s", got, text)
	}
	if !strings.Contains(text, `gen_ai_response_model="_other",llm_failover_provider="openai"} 7`) {
		t.Errorf("got no _other series with 7 operations\n%s", text)
	}
}

// TestSanitize verifies attribute values lose control characters and
// invalid UTF-8 and are cut at 128 bytes on a rune boundary.
func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"gpt-4o", "gpt-4o"},
		{"a\tb\nc", "a_b_c"},
		{"bad\xffutf8", "bad_utf8"},
		{strings.Repeat("é", 100), strings.Repeat("é", 64)},
	}
	for _, tt := range tests {
		if got := telemetry.Sanitize(tt.in); got != tt.want {
			t.Errorf("Sanitize(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestGenAIProvider verifies the well-known gen_ai.provider.name values.
func TestGenAIProvider(t *testing.T) {
	tests := []struct{ name, api, want string }{
		{"openai", "openai", "openai"},
		{"groq", "openai-compatible", "groq"},
		{"my-proxy", "openai-compatible", "openai"},
		{"claude", "anthropic", "anthropic"},
		{"g", "gemini", "gcp.gemini"},
		{"az", "azure-openai", "azure.ai.openai"},
		{"x", "future-api", "_OTHER"},
	}
	for _, tt := range tests {
		if got := telemetry.GenAIProvider(tt.name, tt.api); got != tt.want {
			t.Errorf("GenAIProvider(%q, %q): got %q, want %q", tt.name, tt.api, got, tt.want)
		}
	}
}

// FuzzSanitize verifies any value sanitizes to short valid UTF-8 without
// control characters, and that sanitizing is idempotent.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "gpt-4o", "a\tb", "\xff\xfe", strings.Repeat("é", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := telemetry.Sanitize(s)
		if len(got) > 128 || strings.ContainsFunc(got, func(r rune) bool { return r < ' ' || r == 0x7f || r == 0xfffd }) {
			t.Fatalf("Sanitize(%q) = %q: too long or not clean", s, got)
		}
		if again := telemetry.Sanitize(got); again != got {
			t.Fatalf("Sanitize not idempotent: %q then %q", got, again)
		}
	})
}

// TestRecordOperation_CachedSetsCountAlike verifies an operation recorded
// twice with the same labels (the second from the attribute set cache) and
// once with another error type land in the series they would without a
// cache: two in one, one in the other.
func TestRecordOperation_CachedSetsCountAlike(t *testing.T) {
	tel := newTelemetry(t, "")
	op := telemetry.Operation{GenAIProvider: "openai", Target: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024", Duration: time.Second,
		Usage: &telemetry.Usage{Input: 3, Output: 5}}
	tel.RecordOperation(context.Background(), op)
	tel.RecordOperation(context.Background(), op)
	op.ErrorType = "timeout"
	tel.RecordOperation(context.Background(), op)
	tel.CountAttempt("openai", "gpt-4o", "success")
	tel.CountAttempt("openai", "gpt-4o", "success")
	var b strings.Builder
	if err := tel.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_response_model="gpt-4o-2024",llm_failover_provider="openai"} 2`,
		`error_type="timeout"`,
		`llm_failover_attempts_total{model="gpt-4o",outcome="success",provider="openai"} 2`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s in\n%s", want, b.String())
		}
	}
}
