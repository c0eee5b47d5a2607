package provider

import (
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// This file asks Anthropic for what the client's reasoning_effort and
// strict json_schema mean in Messages terms: extended thinking
// (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking)
// and structured outputs
// (https://docs.claude.com/en/docs/build-with-claude/structured-outputs).

// reasoningBudget is the thinking budget in tokens for an OpenAI
// reasoning_effort, the table Gemini's OpenAI compatibility layer uses
// (https://ai.google.dev/gemini-api/docs/openai#thinking: low 1K, medium
// 8K, high 24K); 0 for none, absent and unknown values, which ask for no
// thinking. 1024 is also Anthropic's smallest budget.
func reasoningBudget(effort gjson.Result) int64 {
	switch effort.Str {
	case "minimal", "low":
		return 1024
	case "medium":
		return 8192
	case "high", "xhigh":
		return 24576
	}
	return 0
}

// anthropicMinBudget is the smallest budget_tokens Messages accepts.
const anthropicMinBudget = 1024

// anthropicThinking is what Prepare sends for the client's reasoning_effort:
// budget 0 sends no thinking; maxTokens is the max_tokens to send.
type anthropicThinking struct{ budget, maxTokens int64 }

// thinkingFor decides extended thinking for c. It is on when ep passes
// reasoning and the client set a reasoning_effort other than none, except
// where Messages refuses it: a forced tool choice (required or a named
// function), and a conversation that does not end with a user message
// (an assistant prefill, or tool results answering tool calls whose
// thinking blocks the client could not send back). budget_tokens must be
// below max_tokens, which counts thinking as OpenAI's
// max_completion_tokens counts reasoning: a client limit caps the budget
// (no thinking below the 1024 minimum); without one, max_tokens is the
// endpoint's default plus the budget.
func thinkingFor(ep *Endpoint, c chatRequest, tc toolChoice) anthropicThinking {
	mt, clientMax := c.maxTokens()
	if !clientMax {
		mt = endpointMaxTokens(ep)
	}
	off := anthropicThinking{maxTokens: mt}
	budget := reasoningBudget(c.get("reasoning_effort"))
	if budget == 0 || !passReasoning(ep) || tc.mode == "required" || tc.mode == "function" ||
		lastRole(c.messages) != "user" {
		return off
	}
	if !clientMax {
		return anthropicThinking{budget: budget, maxTokens: mt + budget}
	}
	budget = min(budget, mt-1)
	if budget < anthropicMinBudget {
		return off
	}
	return anthropicThinking{budget: budget, maxTokens: mt}
}

// appendJSON writes `,"thinking":{...}` when thinking is on.
func (t anthropicThinking) appendJSON(b []byte) []byte {
	if t.budget == 0 {
		return b
	}
	b = append(b, `,"thinking":{"type":"enabled","budget_tokens":`...)
	b = appendInt(b, t.budget)
	return append(b, '}')
}

// lastRole is the role of the last message that is not a system or
// developer message (Anthropic takes those apart, in "system").
func lastRole(messages gjson.Result) string {
	role := ""
	messages.ForEach(func(_, m gjson.Result) bool {
		switch r := m.Get("role").String(); r {
		case "system", "developer":
		default:
			role = r
		}
		return true
	})
	return role
}

// nativeSchema reports whether the client's json_schema goes to ep as
// Anthropic's output_config.format: a strict schema (OpenAI's strict mode
// asks what Anthropic's constrained decoding needs: every object closed
// with additionalProperties false) to a provider that has not asked for
// the prompt instruction instead.
func nativeSchema(ep *Endpoint, c chatRequest, rf responseFormat) bool {
	return rf.kind == "json_schema" && rf.schema.IsObject() &&
		c.get("response_format").Get("json_schema.strict").Type == gjson.True &&
		ep.StructuredOutput != config.StructuredOutputPrompt
}

// appendOutputFormat writes `,"output_config":{"format":...}` for schema.
func appendOutputFormat(b []byte, schema gjson.Result) []byte {
	b = append(b, `,"output_config":{"format":{"type":"json_schema","schema":`...)
	b = append(b, schema.Raw...)
	return append(b, `}}`...)
}
