package provider

import "github.com/llm-failover/llm-failover/config"

// This file is where a provider's reasoning goes in the client's format:
// Anthropic thinking blocks
// (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking)
// and Gemini thought summaries
// (https://ai.google.dev/gemini-api/docs/thinking#summaries) become
// ReasoningField in chat completions, the field OpenAI-compatible clients
// (DeepSeek, vLLM, OpenRouter and their SDK readers) take reasoning from:
// message.reasoning_content in an answer, delta.reasoning_content in a
// stream chunk. A translation of chat answers to another client API (the
// Responses API's reasoning items) reads the same two places.
//
// Endpoint.Reasoning (config providers[].reasoning) drops it instead.
// Reasoning never counts as stream content (JudgeEvent): a stream that
// failed while the model was still thinking can fail over, and what it
// thought is discarded with the rest of the held attempt.

// ReasoningField is the chat completion member that carries a provider's
// reasoning: in choices[0].message of an answer and in choices[0].delta of
// a stream chunk, a string; absent when there is none or it is dropped.
const ReasoningField = "reasoning_content"

// reasoningSeparator joins two reasoning blocks of one answer (Anthropic's
// interleaved thinking, several Gemini thought parts).
const reasoningSeparator = "\n\n"

// passReasoning reports whether ep sends reasoning on to the client.
func passReasoning(ep *Endpoint) bool {
	return ep == nil || ep.Reasoning != config.ReasoningDrop
}

// reasoning writes a reasoning delta; raw is a JSON string literal.
func (w *chunkWriter) reasoning(b []byte, raw string) []byte {
	b = append(b, w.prefix...)
	b = append(b, deltaOpen+`"`+ReasoningField+`":`...)
	b = append(b, raw...)
	return append(b, deltaClose...)
}

// reasoningText gathers an answer's reasoning blocks.
type reasoningText struct {
	b      []byte
	blocks int
}

// add appends one block's text (a decoded string).
func (r *reasoningText) add(t string) {
	if t == "" {
		return
	}
	if r.blocks > 0 {
		r.b = append(r.b, reasoningSeparator...)
	}
	r.blocks++
	r.b = append(r.b, t...)
}

// extend continues the current block with t (a decoded string): Gemini's
// thought parts are pieces of one summary.
func (r *reasoningText) extend(t string) {
	if t == "" {
		return
	}
	if r.blocks == 0 {
		r.blocks = 1
	}
	r.b = append(r.b, t...)
}

// appendJSON writes `,"reasoning_content":"..."` when there is any.
func (r *reasoningText) appendJSON(b []byte) []byte {
	if r.blocks == 0 {
		return b
	}
	b = append(b, `,"`+ReasoningField+`":`...)
	return appendString(b, string(r.b))
}

// reasoningStream tracks the reasoning blocks of one stream, so that the
// second block's first delta is preceded by the separator.
type reasoningStream struct {
	blocks  int  // blocks that have written text
	current bool // the current block has written text
}

// block marks the start of a new reasoning block.
func (r *reasoningStream) block() { r.current = false }

// delta writes raw (a JSON string literal, not "") as a reasoning delta of the current block.
func (r *reasoningStream) delta(w *chunkWriter, b []byte, raw string) []byte {
	if !r.current {
		if r.blocks > 0 {
			b = w.reasoning(b, `"`+jsonEscapedSeparator+`"`)
		}
		r.blocks++
		r.current = true
	}
	return w.reasoning(b, raw)
}

// jsonEscapedSeparator is reasoningSeparator inside a JSON string literal.
const jsonEscapedSeparator = `\n\n`
