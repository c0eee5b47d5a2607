package provider

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/tidwall/gjson"
)

var classifyNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestRetryAfter verifies every header form and that an explicit retry
// hint wins over bucket-reset headers.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": " 1.5 "}, 1500 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": "Thu, 01 Jan 2026 00:00:30 GMT"}, 30 * time.Second},
		{"http date in the past", map[string]string{"Retry-After": "Wed, 31 Dec 2025 23:00:00 GMT"}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"ms", map[string]string{"Retry-After-Ms": "250"}, 250 * time.Millisecond},
		{"larger of the two hints", map[string]string{"Retry-After": "1", "Retry-After-Ms": "2500"}, 2500 * time.Millisecond},
		{"hint wins over resets", map[string]string{"Retry-After": "2", "X-Ratelimit-Reset-Tokens": "6m0s",
			"Anthropic-Ratelimit-Tokens-Reset": "2026-01-01T00:01:00Z"}, 2 * time.Second},
		{"openai durations", map[string]string{"X-Ratelimit-Reset-Requests": "20ms", "X-Ratelimit-Reset-Tokens": "1m30s"}, 90 * time.Second},
		{"reset seconds", map[string]string{"X-Ratelimit-Reset": "12"}, 12 * time.Second},
		{"reset epoch seconds", map[string]string{"X-Ratelimit-Reset": "1767225620"}, 20 * time.Second},
		{"reset epoch ms", map[string]string{"X-Ratelimit-Reset": "1767225605000"}, 5 * time.Second},
		{"anthropic reset", map[string]string{"Anthropic-Ratelimit-Requests-Reset": "2026-01-01T00:00:42Z"}, 42 * time.Second},
		{"week or more ignored", map[string]string{"Retry-After": "700000"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.h {
				h.Set(k, v)
			}
			if got := RetryAfter(h, classifyNow); got != tt.want {
				t.Errorf("RetryAfter(%v): got %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

// TestClassify verifies each adapter's error classification on the
// providers' documented error bodies.
func TestClassify(t *testing.T) {
	tests := []struct {
		api    config.API
		status int
		body   string
		h      map[string]string
		want   Class
		retry  time.Duration
	}{
		// OpenAI
		{config.APIOpenAI, 429, `{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM)","type":"tokens","code":"rate_limit_exceeded"}}`, map[string]string{"Retry-After": "3"}, ClassRateLimited, 3 * time.Second},
		{config.APIOpenAI, 429, `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}`, nil, ClassQuotaExhausted, 0},
		{config.APIOpenAI, 400, `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}`, nil, ClassContextLength, 0},
		{config.APIOpenAI, 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, nil, ClassAuth, 0},
		{config.APIOpenAI, 500, `not json`, nil, ClassServerError, 0},
		{config.APIOpenAI, 503, ``, nil, ClassOverloaded, 0},
		{config.APIOpenAI, 504, ``, nil, ClassTimeout, 0},
		{config.APIOpenAI, 404, `{"error":{"message":"The model does not exist","type":"invalid_request_error","code":"model_not_found"}}`, nil, ClassInvalidRequest, 0},
		{config.APIOpenAI, 409, ``, nil, ClassClientError, 0},
		// Anthropic (https://docs.anthropic.com/en/api/errors)
		{config.APIAnthropic, 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, nil, ClassOverloaded, 0},
		{config.APIAnthropic, 500, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, nil, ClassOverloaded, 0},
		{config.APIAnthropic, 529, ``, nil, ClassOverloaded, 0},
		{config.APIAnthropic, 429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`, map[string]string{"retry-after": "11"}, ClassRateLimited, 11 * time.Second},
		{config.APIAnthropic, 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, nil, ClassAuth, 0},
		{config.APIAnthropic, 403, `{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission"}}`, nil, ClassAuth, 0},
		{config.APIAnthropic, 402, `{"type":"error","error":{"type":"billing_error","message":"There was an issue with your billing"}}`, nil, ClassQuotaExhausted, 0},
		{config.APIAnthropic, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}`, nil, ClassContextLength, 0},
		{config.APIAnthropic, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}`, nil, ClassQuotaExhausted, 0},
		{config.APIAnthropic, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}`, nil, ClassInvalidRequest, 0},
		{config.APIAnthropic, 404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}`, nil, ClassInvalidRequest, 0},
		{config.APIAnthropic, 413, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}`, nil, ClassInvalidRequest, 0},
		{config.APIAnthropic, 500, `{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, nil, ClassServerError, 0},
		// Gemini (https://ai.google.dev/gemini-api/docs/troubleshooting)
		{config.APIGemini, 429, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`, nil, ClassRateLimited, 0},
		{config.APIGemini, 429, `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`, nil, ClassRateLimited, 37 * time.Second},
		{config.APIGemini, 429, `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}`, nil, ClassQuotaExhausted, 0},
		{config.APIGemini, 503, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`, nil, ClassOverloaded, 0},
		{config.APIGemini, 500, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`, nil, ClassServerError, 0},
		{config.APIGemini, 504, `{"error":{"code":504,"message":"Deadline exceeded","status":"DEADLINE_EXCEEDED"}}`, nil, ClassTimeout, 0},
		{config.APIGemini, 403, `{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}`, nil, ClassAuth, 0},
		{config.APIGemini, 400, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`, nil, ClassAuth, 0},
		{config.APIGemini, 400, `{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}`, nil, ClassContextLength, 0},
		{config.APIGemini, 400, `{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`, nil, ClassInvalidRequest, 0},
		{config.APIGemini, 400, `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`, nil, ClassAuth, 0},
		{config.APIGemini, 404, `[{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}]`, nil, ClassInvalidRequest, 0},
		// Azure OpenAI
		{config.APIAzureOpenAI, 400, `{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"hate":{"filtered":true,"severity":"high"}}}}}`, nil, ClassContentPolicy, 0},
		{config.APIAzureOpenAI, 429, `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier."}}`, map[string]string{"retry-after": "6"}, ClassRateLimited, 6 * time.Second},
		{config.APIAzureOpenAI, 401, `{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}`, nil, ClassAuth, 0},
	}
	for _, tt := range tests {
		name := string(tt.api) + "/" + itoa(tt.status) + "/" + gjson.Get(tt.body, "error.type|error.status|error.code|0.error.status").String()
		t.Run(name, func(t *testing.T) {
			a, err := For(tt.api)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range tt.h {
				h.Set(k, v)
			}
			c := a.Classify(tt.status, h, []byte(tt.body), classifyNow)
			if c.Class != tt.want || c.Status != tt.status || c.RetryAfter != tt.retry {
				t.Errorf("Classify(%d, %s): got %v status %d retry %v, want %v status %d retry %v",
					tt.status, tt.body, c.Class, c.Status, c.RetryAfter, tt.want, tt.status, tt.retry)
			}
		})
	}
}

// TestStreamMonitor_JudgesEvents verifies, per wire format, which events
// are content, the terminal event or an error (with its class): an error
// after a role chunk, message_start or ping is still found before content.
func TestStreamMonitor_JudgesEvents(t *testing.T) {
	tests := []struct {
		name    string
		api     config.API
		in      string
		content bool
		ended   bool
		fail    bool
		class   Class
	}{
		{"anthropic overloaded first", config.APIAnthropic, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", false, false, true, ClassOverloaded},
		{"anthropic rate limit", config.APIAnthropic, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n", false, false, true, ClassRateLimited},
		{"anthropic invalid request in stream", config.APIAnthropic, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"?\"}}\n\n", false, false, true, ClassServerError},
		{"anthropic ping", config.APIAnthropic, "event: ping\ndata: {\"type\": \"ping\"}\n\n", false, false, false, 0},
		{"anthropic start, ping, then overloaded", config.APIAnthropic, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", false, false, true, ClassOverloaded},
		{"anthropic empty text block is not content", config.APIAnthropic, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n", false, false, false, 0},
		{"anthropic text delta", config.APIAnthropic, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n", true, false, false, 0},
		{"anthropic message_stop ends", config.APIAnthropic, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", true, true, false, 0},
		{"anthropic incomplete event", config.APIAnthropic, "event: error\ndata: {\"type\":\"error\"", false, false, false, 0},
		{"gemini unavailable", config.APIGemini, "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":\"UNAVAILABLE\"}}\n\n", false, false, true, ClassOverloaded},
		{"gemini exhausted", config.APIGemini, "data: {\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\"}}\r\n\r\n", false, false, true, ClassRateLimited},
		{"gemini no candidates", config.APIGemini, "data: {\"candidates\":[]}\n\n", false, false, false, 0},
		{"gemini empty text then error", config.APIGemini, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"}}]}\n\ndata: {\"error\":{\"code\":503,\"status\":\"UNAVAILABLE\"}}\n\n", false, false, true, ClassOverloaded},
		{"gemini text", config.APIGemini, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"},\"index\": 0}]}\n\n", true, false, false, 0},
		{"gemini finishReason ends", config.APIGemini, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]},\"finishReason\":\"STOP\"}]}\n\n", true, true, false, 0},
		{"openai role chunk then error", config.APIOpenAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n", false, false, true, ClassServerError},
		{"openai content", config.APIOpenAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", true, false, false, 0},
		{"openai tool call", config.APIOpenAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0}]}}]}\n\n", true, false, false, 0},
		{"openai DONE ends", config.APIOpenAI, "data: [DONE]\n\n", true, true, false, 0},
		{"azure content filter", config.APIAzureOpenAI, "data: {\"error\":{\"message\":\"content management policy\",\"code\":\"content_filter\"}}\n\n", false, false, true, ClassContentPolicy},
		{"azure prompt filter results", config.APIAzureOpenAI, "data: {\"choices\":[],\"prompt_filter_results\":[]}\n\n", false, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := For(tt.api)
			m := NewStreamMonitor(a)
			for i := 0; i < len(tt.in); i += 7 { // in arbitrary chunks
				m.Feed([]byte(tt.in[i:min(i+7, len(tt.in))]))
			}
			if m.Content() != tt.content || m.Ended() != tt.ended || (m.Failure() != nil) != tt.fail {
				t.Fatalf("got content=%v ended=%v failure=%+v, want %v %v %v", m.Content(), m.Ended(), m.Failure(), tt.content, tt.ended, tt.fail)
			}
			if tt.fail && m.Failure().Class != tt.class {
				t.Errorf("class: got %v, want %v", m.Failure().Class, tt.class)
			}
		})
	}
}

// TestOpenAIAnswer_RejectsWhatIsNotACompletion verifies that a whole
// OpenAI-format answer passes unchanged only when it is a chat completion.
func TestOpenAIAnswer_RejectsWhatIsNotACompletion(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"completion", `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`, true},
		{"html", `<html><body>502 Bad Gateway</body></html>`, false},
		{"invalid json", `{"choices":[`, false},
		{"empty", ``, false},
		{"other object", `{"status":"ok"}`, false},
	}
	for _, api := range []config.API{config.APIOpenAI, config.APIAzureOpenAI} {
		for _, tt := range tests {
			t.Run(string(api)+"/"+tt.name, func(t *testing.T) {
				a, _ := For(api)
				tr := a.NewResponseTranslator(&Endpoint{}, Request{}, Env{})
				out, err := tr.Translate([]byte(tt.body), true)
				if (err == nil) != tt.ok {
					t.Fatalf("err: got %v, want ok=%v", err, tt.ok)
				}
				if tt.ok && (string(out) != tt.body || tr.ContentType() != "") {
					t.Fatalf("got %q (content type %q), want the body unchanged", out, tr.ContentType())
				}
			})
		}
	}
}

// TestErrorBody verifies the client-facing error names the provider and
// keeps the provider's type and code.
func TestErrorBody(t *testing.T) {
	ep := &Endpoint{Name: "claude", API: config.APIAnthropic}
	a, _ := For(config.APIAnthropic)
	c := a.Classify(529, nil, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`), classifyNow)
	got := string(ErrorBody(ep, c))
	want := `{"error":{"message":"claude (anthropic): Overloaded","type":"overloaded_error","param":null,"code":"overloaded_error"}}`
	if got != want {
		t.Errorf("ErrorBody: got %s, want %s", got, want)
	}
	got = string(ErrorBody(ep, Classification{Class: ClassServerError, Status: 502}))
	if !strings.Contains(got, `"type":"server_error"`) || !strings.Contains(got, "502") {
		t.Errorf("ErrorBody without a body: got %s", got)
	}
}

// TestFor verifies every configured API has an adapter.
func TestFor(t *testing.T) {
	for _, api := range []config.API{config.APIOpenAI, config.APIOpenAICompatible, config.APIAnthropic, config.APIGemini, config.APIAzureOpenAI} {
		if a, err := For(api); err != nil || a == nil {
			t.Errorf("For(%q): got %v, %v; want an adapter", api, a, err)
		}
	}
	if _, err := For("nope"); err == nil {
		t.Errorf("For(nope): got nil error, want ErrUnsupportedAPI")
	}
}

// TestPrepare_DefaultMaxTokens verifies Anthropic gets Endpoint.DefaultMaxTokens,
// else DefaultMaxTokens, when the client sets no limit, and the client's own
// limit otherwise.
func TestPrepare_DefaultMaxTokens(t *testing.T) {
	a, _ := For(config.APIAnthropic)
	tests := []struct {
		body string
		def  int
		want int64
	}{
		{`{"messages":[{"role":"user","content":"hi"}]}`, 0, DefaultMaxTokens},
		{`{"messages":[{"role":"user","content":"hi"}]}`, 1000, 1000},
		{`{"messages":[{"role":"user","content":"hi"}],"max_tokens":7}`, 1000, 7},
		{`{"messages":[{"role":"user","content":"hi"}],"max_tokens":7,"max_completion_tokens":9}`, 0, 9},
	}
	for _, tt := range tests {
		ep := Endpoint{Name: "c", API: config.APIAnthropic, BasePath: "/v1", DefaultMaxTokens: tt.def}
		p, err := a.Prepare(&ep, Request{Body: []byte(tt.body), Model: "claude"})
		if err != nil {
			t.Fatal(err)
		}
		if got := gjson.GetBytes(p.Body, "max_tokens").Int(); got != tt.want {
			t.Errorf("%s with default %d: max_tokens got %d, want %d", tt.body, tt.def, got, tt.want)
		}
	}
}

// TestErrorBody_GeminiStatusIsCode verifies Gemini's upper-case status goes
// to code and the type is derived from the class.
func TestErrorBody_GeminiStatusIsCode(t *testing.T) {
	ep := &Endpoint{Name: "g", API: config.APIGemini}
	a, _ := For(config.APIGemini)
	c := a.Classify(429, nil, []byte(`{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`), classifyNow)
	got := string(ErrorBody(ep, c))
	want := `{"error":{"message":"g (gemini): Resource has been exhausted","type":"rate_limit_error","param":null,"code":"RESOURCE_EXHAUSTED"}}`
	if got != want {
		t.Errorf("ErrorBody: got %s, want %s", got, want)
	}
}

// TestErrorBody_EchoedKeyRedactedInTypeAndCode verifies a provider error
// whose type or code echoes the endpoint's key (or anything key-shaped)
// reaches the client without it, as its message does.
func TestErrorBody_EchoedKeyRedactedInTypeAndCode(t *testing.T) {
	ep := &Endpoint{Name: "a", API: config.APIAnthropic, AuthValue: "secret-anthropic-value"}
	c := Classification{Class: ClassInvalidRequest, Status: 400, Type: "bad_secret-anthropic-value", Code: "sk-ant-api03-AbCdEf123456"}
	got := string(ErrorBody(ep, c))
	if strings.Contains(got, "secret-anthropic-value") || strings.Contains(got, "sk-ant-api03") || !strings.Contains(got, "[redacted]") {
		t.Errorf("ErrorBody: got %s, want type and code redacted", got)
	}
}

// TestStreamMonitor_FailureOutlivesTheChunk verifies the failure's texts are
// the monitor's own: the caller may reuse the chunk it fed.
func TestStreamMonitor_FailureOutlivesTheChunk(t *testing.T) {
	for _, api := range []config.API{config.APIOpenAI, config.APIAnthropic, config.APIGemini} {
		a, _ := For(api)
		m := NewStreamMonitor(a)
		m.Feed([]byte(": keep-alive\n\n")) // later whole events are framed in place
		chunk := []byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"status\":\"UNAVAILABLE\",\"message\":\"Overloaded now\"}}\n\n")
		m.Feed(chunk)
		for i := range chunk {
			chunk[i] = 'x'
		}
		if f := m.Failure(); f == nil || f.Message != "Overloaded now" {
			t.Errorf("%s: failure after the chunk was reused: got %+v, want message %q", api, f, "Overloaded now")
		}
	}
}
