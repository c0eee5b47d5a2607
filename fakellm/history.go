package fakellm

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// The fake refuses a tool-call history the real API refuses, with a 400
// in that API's error shape, so a translation that breaks a conversation
// moved between APIs fails as it would in production:
//
//   - OpenAI chat completions: an assistant message with tool_calls must be
//     followed by tool messages answering each tool_call_id, and a tool
//     message must answer a call of the assistant message before it
//     (https://platform.openai.com/docs/guides/function-calling; the API's
//     400 "An assistant message with 'tool_calls' must be followed by tool
//     messages responding to each 'tool_call_id'").
//   - Anthropic Messages: a tool_use id must match ^[a-zA-Z0-9_-]+$ (the
//     API's 400 "String should match pattern '^[a-zA-Z0-9_-]+$'", seen by
//     clients replaying ids of other providers, e.g. HKUDS/nanobot#4356),
//     ids are unique, each tool_use has a tool_result in the next (user)
//     message and each tool_result answers a tool_use of the message before
//     (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use).
//   - Gemini: a model turn's functionCall parts are answered by the next
//     turn's functionResponse parts, as many and with the same names in
//     the same order, and a functionResponse turn follows a functionCall
//     turn (https://ai.google.dev/gemini-api/docs/function-calling; the
//     API's 400 "Please ensure that the number of function response parts
//     is equal to the number of function call parts of the function call turn").

// historyError is why the request's tool-call history would be refused
// by the API of shape, or "".
func historyError(shape Shape, body []byte) string {
	switch shape {
	case ShapeOpenAI:
		return openAIHistory(gjson.GetBytes(body, "messages").Array())
	case ShapeAnthropic:
		return anthropicHistory(gjson.GetBytes(body, "messages").Array())
	case ShapeGemini:
		return geminiHistory(gjson.GetBytes(body, "contents").Array())
	}
	return ""
}

// historyErrorBody is msg as a 400 in the error shape of shape.
func historyErrorBody(shape Shape, msg string) []byte {
	switch shape {
	case ShapeAnthropic:
		return mustJSON(map[string]any{"type": "error", "error": map[string]string{"type": "invalid_request_error", "message": msg}})
	case ShapeGemini:
		return mustJSON(map[string]any{"error": map[string]any{"code": 400, "message": msg, "status": "INVALID_ARGUMENT"}})
	}
	return mustJSON(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "param": "messages", "code": nil}})
}

func openAIHistory(msgs []gjson.Result) string {
	var open []string // call ids of the last assistant message not yet answered
	answerable := map[string]bool{}
	for i, m := range msgs {
		role := m.Get("role").String()
		if role == "tool" {
			id := m.Get("tool_call_id").String()
			if !answerable[id] {
				return fmt.Sprintf("Invalid parameter: messages[%d]: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (tool_call_id %q).", i, id)
			}
			delete(answerable, id)
			open = slices.DeleteFunc(open, func(s string) bool { return s == id })
			continue
		}
		if len(open) > 0 {
			return "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + strings.Join(open, ", ")
		}
		clear(answerable)
		if role == "assistant" {
			for _, tc := range m.Get("tool_calls").Array() {
				id := tc.Get("id").String()
				open = append(open, id)
				answerable[id] = true
			}
		}
	}
	return ""
}

var anthropicToolID = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func anthropicHistory(msgs []gjson.Result) string {
	seen := map[string]bool{}
	var prevUses []string // tool_use ids of the previous (assistant) message
	for i, m := range msgs {
		var uses, results []string
		for j, b := range m.Get("content").Array() {
			switch b.Get("type").String() {
			case "tool_use":
				id := b.Get("id").String()
				if !anthropicToolID.MatchString(id) {
					return fmt.Sprintf("messages.%d.content.%d.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'", i, j)
				}
				if seen[id] {
					return fmt.Sprintf("messages.%d.content.%d: `tool_use` ids must be unique", i, j)
				}
				seen[id] = true
				uses = append(uses, id)
			case "tool_result":
				results = append(results, b.Get("tool_use_id").String())
			}
		}
		for _, r := range results {
			if !slices.Contains(prevUses, r) {
				return fmt.Sprintf("messages.%d.content: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, r)
			}
		}
		for _, u := range prevUses {
			if !slices.Contains(results, u) {
				return fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i-1, u)
			}
		}
		prevUses = uses
	}
	return ""
}

func geminiHistory(contents []gjson.Result) string {
	var calls []string // function names called by the previous turn
	for i, c := range contents {
		var names, responses []string
		for _, p := range c.Get("parts").Array() {
			if fc := p.Get("functionCall"); fc.Exists() {
				names = append(names, fc.Get("name").String())
			}
			if fr := p.Get("functionResponse"); fr.Exists() {
				responses = append(responses, fr.Get("name").String())
			}
		}
		if len(responses) > 0 && len(calls) == 0 {
			return fmt.Sprintf("contents[%d]: Please ensure that function response turn comes immediately after a function call turn.", i)
		}
		if len(calls) > 0 && (len(responses) != len(calls) || !slices.Equal(responses, calls)) {
			return fmt.Sprintf("contents[%d]: Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn (%d calls %v, %d responses %v).", i, len(calls), calls, len(responses), responses)
		}
		calls = names
	}
	return ""
}
