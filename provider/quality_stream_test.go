package provider

import "testing"

// TestJudgeStreamStart verifies what each wire format's stream says before
// its first content: a refusal, a finish for length or an empty finish
// fails its check; content first passes; checks off pass.
func TestJudgeStreamStart(t *testing.T) {
	const role = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
	tests := []struct {
		name, held string
		checks     QualityChecks
		want       QualityReason
	}{
		{"openai text first", role + "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n", allChecks, QualityOK},
		{"openai tool call first", role + "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\"}}]},\"finish_reason\":null}]}\n\n", allChecks, QualityOK},
		{"openai refusal delta", role + "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't\"},\"finish_reason\":null}]}\n\n", allChecks, QualityRefusal},
		{"openai refusal delta, check off", role + "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't\"},\"finish_reason\":null}]}\n\n", QualityChecks{Empty: true}, QualityOK},
		{"openai content_filter finish", role + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\n", allChecks, QualityRefusal},
		{"openai length before content", role + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n", allChecks, QualityTruncated},
		{"openai stop before content", role + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", allChecks, QualityEmpty},
		{"openai stop before content, empty off", role + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", QualityChecks{Refusal: true}, QualityOK},
		{"openai text with its finish", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"length\"}]}\n\n", allChecks, QualityOK},
		{"anthropic text first", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n", allChecks, QualityOK},
		{"anthropic refusal", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"}}\n\n", allChecks, QualityRefusal},
		{"anthropic max_tokens", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"}}\n\n", allChecks, QualityTruncated},
		{"anthropic end_turn", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n", allChecks, QualityEmpty},
		{"anthropic tool use", "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"name\":\"f\"}}\n\n", allChecks, QualityOK},
		{"gemini safety", "data: {\"candidates\":[{\"finishReason\":\"SAFETY\",\"index\":0}]}\r\n\r\n", allChecks, QualityRefusal},
		{"gemini blocked prompt", "data: {\"promptFeedback\":{\"blockReason\":\"OTHER\"}}\r\n\r\n", allChecks, QualityRefusal},
		{"gemini max tokens empty", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"MAX_TOKENS\"}]}\r\n\r\n", allChecks, QualityTruncated},
		{"gemini text", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\n", allChecks, QualityOK},
		{"gemini thought then stop", "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hmm\",\"thought\":true}]},\"finishReason\":\"STOP\"}]}\r\n\r\n", allChecks, QualityEmpty},
		{"responses refusal delta", "event: response.created\ndata: {\"type\":\"response.created\"}\n\nevent: response.refusal.delta\ndata: {\"type\":\"response.refusal.delta\",\"delta\":\"no\"}\n\n", allChecks, QualityRefusal},
		{"responses text", "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n", allChecks, QualityOK},
		{"responses incomplete", "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n", allChecks, QualityTruncated},
		{"responses completed empty", "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n", allChecks, QualityEmpty},
		{"nothing decided yet", role, allChecks, QualityOK},
		{"checks off", role + "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no\"}}]}\n\n", QualityChecks{}, QualityOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := JudgeStreamStart([]byte(tt.held), tt.checks); got.Reason != tt.want {
				t.Errorf("JudgeStreamStart = %v (%q), want %v", got.Reason, got.Message, tt.want)
			}
		})
	}
}
