package fakellm_test

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/fakellm"
)

// TestQualityAnswers verifies each quality answer kind in every provider's
// shape, JSON and streamed: a 200 whose body says what the kind promises
// (doc in quality.go), and nothing of the normal greeting where it must
// not be.
func TestQualityAnswers(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "q"})
	const (
		rsPath  = "/v1/responses"
		gmSPath = "/v1beta/models/gem:streamGenerateContent?alt=sse"
	)
	tests := []struct {
		name, path, body, kind string
		want                   []string // substrings of the body
		notWant                []string
	}{
		{"openai empty", oaPath, `{"model":"m"}`, "empty_answer", []string{`"content":""`, `"finish_reason":"stop"`}, []string{"Hello"}},
		{"openai empty stream", oaPath, `{"model":"m","stream":true}`, "empty_answer", []string{`"finish_reason":"stop"`, "[DONE]"}, []string{"Hello"}},
		{"openai not json", oaPath, `{"model":"m","response_format":{"type":"json_object"}}`, "not_json", []string{`Sure! Here is`}, nil},
		{"openai truncated", oaPath, `{"model":"m"}`, "truncated", []string{`"content":"Hello "`, `"finish_reason":"length"`, `"completion_tokens":1`}, []string{`"finish_reason":"stop"`}},
		{"openai truncated stream", oaPath, `{"model":"m","stream":true}`, "truncated", []string{`"finish_reason":"length"`}, []string{"Hello"}},
		{"openai refusal", oaPath, `{"model":"m"}`, "refusal", []string{`"content":null`, `"refusal":"I'm sorry`}, []string{"Hello"}},
		{"openai refusal stream", oaPath, `{"model":"m","stream":true}`, "refusal", []string{`"delta":{"refusal":"I'm sorry`}, []string{"Hello"}},
		{"anthropic empty", anPath, `{"model":"m"}`, "empty_answer", []string{`"text":""`, `"stop_reason":"end_turn"`}, []string{"Hello"}},
		{"anthropic truncated", anPath, `{"model":"m"}`, "truncated", []string{`"stop_reason":"max_tokens"`, `"text":"Hello "`}, nil},
		{"anthropic truncated stream", anPath, `{"model":"m","stream":true}`, "truncated", []string{`"stop_reason":"max_tokens"`}, []string{"Hello"}},
		{"anthropic refusal", anPath, `{"model":"m"}`, "refusal", []string{`"content":[]`, `"stop_reason":"refusal"`}, []string{"Hello"}},
		{"anthropic refusal stream", anPath, `{"model":"m","stream":true}`, "refusal", []string{`"stop_reason":"refusal"`, "message_stop"}, []string{"Hello"}},
		{"gemini empty stream", gmSPath, `{}`, "empty_answer", []string{`"text":""`, `"finishReason":"STOP"`}, []string{"Hello"}},
		{"gemini truncated", gmPath, `{}`, "truncated", []string{`"finishReason":"MAX_TOKENS"`}, nil},
		{"gemini refusal", gmPath, `{}`, "refusal", []string{`"finishReason":"SAFETY"`}, []string{"Hello", `"parts"`}},
		{"gemini refusal stream", gmSPath, `{}`, "refusal", []string{`"finishReason":"SAFETY"`}, []string{"Hello", `"parts"`}},
		{"responses empty", rsPath, `{"model":"m","input":"hi"}`, "empty_answer", []string{`"text":""`, `"status":"completed"`}, []string{"Hello"}},
		{"responses truncated", rsPath, `{"model":"m","input":"hi"}`, "truncated", []string{`"status":"incomplete"`, `"reason":"max_output_tokens"`}, nil},
		{"responses truncated stream", rsPath, `{"model":"m","input":"hi","stream":true}`, "truncated", []string{"event: response.incomplete", `"reason":"max_output_tokens"`}, []string{"response.completed"}},
		{"responses refusal", rsPath, `{"model":"m","input":"hi"}`, "refusal", []string{`"type":"refusal"`}, []string{"Hello"}},
		{"responses refusal stream", rsPath, `{"model":"m","input":"hi","stream":true}`, "refusal", []string{"event: response.refusal.delta", `"type":"refusal"`}, []string{"Hello", "output_text.delta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(tt.path, tt.body, "x-fake-fault", tt.kind)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, b)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body has no %s:\n%s", w, b)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(string(b), w) {
					t.Errorf("body has %s:\n%s", w, b)
				}
			}
			if strings.Contains(tt.body, `"stream":true`) || strings.Contains(tt.path, "alt=sse") {
				parseSSE(t, b) // a well-formed stream
			}
		})
	}
}
