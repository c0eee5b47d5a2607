package fakellm

import (
	"strings"
	"testing"
)

// TestHistoryError: the fake refuses the tool-call histories each real API
// refuses, and accepts well-paired ones.
func TestHistoryError(t *testing.T) {
	tests := []struct {
		name  string
		shape Shape
		body  string
		want  string // a part of the refusal; "" for accepted
	}{
		{"openai paired", ShapeOpenAI, `{"messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"toolu_1"},{"id":"call_2"}]},{"role":"tool","tool_call_id":"call_2"},{"role":"tool","tool_call_id":"toolu_1"},{"role":"user","content":"more"}]}`, ""},
		{"openai unanswered call", ShapeOpenAI, `{"messages":[{"role":"assistant","tool_calls":[{"id":"call_1"}]},{"role":"user","content":"x"}]}`, "call_1"},
		{"openai stray tool message", ShapeOpenAI, `{"messages":[{"role":"user","content":"q"},{"role":"tool","tool_call_id":"call_9"}]}`, "preceeding"},
		{"anthropic paired", ShapeAnthropic, `{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"call_A-1"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_A-1"},{"type":"text","text":"more"}]}]}`, ""},
		{"anthropic id pattern", ShapeAnthropic, `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"functions.get:0"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"functions.get:0"}]}]}`, "should match pattern"},
		{"anthropic duplicate ids", ShapeAnthropic, `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a"},{"type":"tool_use","id":"a"}]}]}`, "unique"},
		{"anthropic missing result", ShapeAnthropic, `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a"}]},{"role":"user","content":[{"type":"text","text":"x"}]}]}`, "without `tool_result`"},
		{"anthropic stray result", ShapeAnthropic, `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"b"}]}]}`, "unexpected `tool_use_id`"},
		{"gemini paired", ShapeGemini, `{"contents":[{"role":"user","parts":[{"text":"q"}]},{"role":"model","parts":[{"functionCall":{"name":"w"}},{"functionCall":{"name":"v"}}]},{"role":"user","parts":[{"functionResponse":{"name":"w"}},{"functionResponse":{"name":"v"}}]}]}`, ""},
		{"gemini fewer responses", ShapeGemini, `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"w"}},{"functionCall":{"name":"v"}}]},{"role":"user","parts":[{"functionResponse":{"name":"w"}}]}]}`, "number of function response parts"},
		{"gemini stray response", ShapeGemini, `{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"w"}}]}]}`, "function response turn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := historyError(tt.shape, []byte(tt.body))
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("historyError = %q, want one containing %q", got, tt.want)
			}
		})
	}
}
