package provider

import (
	"strings"

	"github.com/tidwall/gjson"
)

// This file writes answers in the client's format: whole completions,
// stream chunks, usage.

// usage is a response's token counts in OpenAI's terms: Prompt includes
// cached and cache-write tokens, Completion includes reasoning tokens.
type usage struct {
	prompt, completion, total, cached, reasoning int64
}

func (u usage) appendJSON(b []byte) []byte {
	total := u.total
	if total == 0 {
		total = u.prompt + u.completion
	}
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, u.prompt)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, u.completion)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, total)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.cached)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, u.reasoning)
	return append(b, `}}`...)
}

// toolCall is one function call of an answer.
type toolCall struct{ id, name, args string }

// appendToolCalls appends `,"tool_calls":[...]` in Chat Completions' shape,
// or nothing when there are no calls.
func appendToolCalls(b []byte, calls []toolCall) []byte {
	if len(calls) == 0 {
		return b
	}
	b = append(b, `,"tool_calls":[`...)
	for i, t := range calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, t.id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendString(b, t.name)
		b = append(b, `,"arguments":`...)
		b = appendString(b, t.args)
		b = append(b, `}}`...)
	}
	return append(b, ']')
}

// callArgs is a provider's function call arguments as raw JSON: r's text,
// "{}" when absent.
func callArgs(r gjson.Result) string {
	if r.Raw == "" {
		return "{}"
	}
	return r.Raw
}

// completion is a whole answer, written as an OpenAI chat.completion.
type completion struct {
	id, model string
	created   int64
	content   strings.Builder
	hasText   bool
	reasoning reasoningText // reasoning.go
	toolCalls []toolCall
	finish    string
	usage     usage
}

func (c *completion) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.id)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = appendInt(b, c.created)
	b = append(b, `,"model":`...)
	b = appendString(b, c.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if c.hasText || len(c.toolCalls) == 0 {
		b = appendString(b, c.content.String())
	} else {
		b = append(b, "null"...)
	}
	b = c.reasoning.appendJSON(b)
	b = append(b, `,"refusal":null`...)
	b = appendToolCalls(b, c.toolCalls)
	b = append(b, `},"logprobs":null,"finish_reason":`...)
	b = appendString(b, c.finish)
	b = append(b, `}],"usage":`...)
	b = c.usage.appendJSON(b)
	return append(b, '}')
}

// chunkWriter writes chat.completion.chunk events for one stream.
type chunkWriter struct {
	prefix []byte // `data: {"id":...,"model":...,"choices":[`
}

func (w *chunkWriter) init(id, model string, created int64) {
	b := append(w.prefix[:0], `data: {"id":`...)
	b = appendString(b, id)
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = appendInt(b, created)
	b = append(b, `,"model":`...)
	b = appendString(b, model)
	w.prefix = append(b, `,"choices":[`...)
}

const (
	deltaOpen  = `{"index":0,"delta":{`
	deltaClose = `},"logprobs":null,"finish_reason":null}]}` + "\n\n"
)

func (w *chunkWriter) role(b []byte) []byte {
	b = append(b, w.prefix...)
	return append(b, deltaOpen+`"role":"assistant","content":""`+deltaClose...)
}

// content writes a content delta; raw is a JSON string literal.
func (w *chunkWriter) content(b []byte, raw string) []byte {
	b = append(b, w.prefix...)
	b = append(b, deltaOpen+`"content":`...)
	b = append(b, raw...)
	return append(b, deltaClose...)
}

// toolStart opens tool call idx; args is a JSON string literal.
func (w *chunkWriter) toolStart(b []byte, idx int, id, name, args string) []byte {
	b = append(b, w.prefix...)
	b = append(b, deltaOpen+`"tool_calls":[{"index":`...)
	b = appendInt(b, int64(idx))
	b = append(b, `,"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"arguments":`...)
	b = append(b, args...)
	return append(b, `}}]`+deltaClose...)
}

// toolArgs continues tool call idx; raw is a JSON string literal.
func (w *chunkWriter) toolArgs(b []byte, idx int, raw string) []byte {
	b = append(b, w.prefix...)
	b = append(b, deltaOpen+`"tool_calls":[{"index":`...)
	b = appendInt(b, int64(idx))
	b = append(b, `,"function":{"arguments":`...)
	b = append(b, raw...)
	return append(b, `}}]`+deltaClose...)
}

func (w *chunkWriter) finish(b []byte, reason string) []byte {
	b = append(b, w.prefix...)
	b = append(b, `{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
	b = appendString(b, reason)
	return append(b, "}]}\n\n"...)
}

func (w *chunkWriter) usage(b []byte, u usage) []byte {
	b = append(b, w.prefix...)
	b = append(b, `],"usage":`...)
	b = u.appendJSON(b)
	return append(b, "}\n\n"...)
}

const doneEvent = "data: [DONE]\n\n"

// translatorID is the id of an answer: the provider's own when it gives one.
func translatorID(env Env) string {
	if env.ID != nil {
		if id := env.ID(); id != "" {
			return id
		}
	}
	return "0"
}

// translatorNow is the answer's "created" time.
func translatorNow(env Env) int64 {
	if env.Now != nil {
		return env.Now().Unix()
	}
	return wallNow().Unix()
}

// buffered translates a whole (non-streamed) response body at its end.
type buffered struct {
	buf     []byte
	convert func([]byte) ([]byte, error)
}

func (t *buffered) Translate(chunk []byte, eos bool) ([]byte, error) {
	if eos && t.buf == nil {
		// The whole answer in one piece (the processor holds answers until
		// whole): read in place, not copied.
		return t.convert(chunk)
	}
	t.buf = append(t.buf, chunk...)
	if !eos {
		return nil, nil
	}
	return t.convert(t.buf)
}

func (t *buffered) ContentType() string { return "application/json" }
