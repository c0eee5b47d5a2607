package provider

import (
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// This file translates Messages answers and streams to the client's format and
// classifies their errors; anthropic.go rewrites requests.

func (anthropic) NewResponseTranslator(ep *Endpoint, req Request, env Env) ResponseTranslator {
	id, now := translatorID(env), translatorNow(env)
	if req.Stream {
		s := &anthropicStream{chunkStream: chunkStream{ep: ep, model: req.Model, fallbackID: "chatcmpl-" + id,
			created: now, includeUsage: req.IncludeUsage}}
		s.feed = s.event
		return s
	}
	return &buffered{convert: func(body []byte) ([]byte, error) {
		return anthropicCompletion(ep, body, req.Model, "chatcmpl-"+id, now)
	}}
}

// anthropicFinish maps a stop_reason to an OpenAI finish_reason.
func anthropicFinish(r string) string {
	switch r {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn, unknown
}

// anthropicTokens are a Messages usage object's counts. Streams send them in
// message_start and, cumulative, in message_delta; a field absent from a
// later object keeps its earlier value.
type anthropicTokens struct{ in, cacheWrite, cacheRead, out int64 }

func (t *anthropicTokens) read(u gjson.Result) {
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			t.in = v.Int()
		case "cache_creation_input_tokens":
			t.cacheWrite = v.Int()
		case "cache_read_input_tokens":
			t.cacheRead = v.Int()
		case "output_tokens":
			t.out = v.Int()
		}
		return true
	})
}

// usage is t in OpenAI's terms: prompt_tokens counts cache reads and writes.
func (t anthropicTokens) usage() usage {
	return usage{prompt: t.in + t.cacheWrite + t.cacheRead, completion: t.out, cached: t.cacheRead}
}

// anthropicCompletion translates a whole Messages response. Thinking blocks
// become the reasoning (reasoning.go) unless ep drops it; redacted_thinking
// blocks (encrypted) and signatures are never passed on.
func anthropicCompletion(ep *Endpoint, body []byte, model, fallbackID string, created int64) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, errBadUpstream("anthropic response is not valid JSON")
	}
	r := gjson.Parse(str(body)) // read in place: the answer is written anew before returning
	if !r.IsObject() || !r.Get("content").IsArray() {
		return nil, errBadUpstream("anthropic response is not a message (no content array)")
	}
	c := completion{id: r.Get("id").String(), model: r.Get("model").String(), created: created}
	if c.id == "" {
		c.id = fallbackID
	}
	if c.model == "" {
		c.model = model
	}
	pass := passReasoning(ep)
	r.Get("content").ForEach(func(_, blk gjson.Result) bool {
		switch blk.Get("type").String() {
		case "thinking":
			if pass {
				c.reasoning.add(blk.Get("thinking").String())
			}
		case "text":
			c.content.WriteString(blk.Get("text").String())
			c.hasText = true
		case "tool_use":
			c.toolCalls = append(c.toolCalls, toolCall{id: blk.Get("id").String(), name: blk.Get("name").String(),
				args: callArgs(blk.Get("input"))})
		}
		return true
	})
	c.finish = anthropicFinish(r.Get("stop_reason").String())
	var tok anthropicTokens
	tok.read(r.Get("usage"))
	c.usage = tok.usage()
	return c.appendJSON(make([]byte, 0, len(body)+256)), nil
}

// anthropicStream translates a Messages event stream into chat.completion.chunk events.
type anthropicStream struct {
	chunkStream
	blocks   []int  // content block index -> tool call index, -1 for others
	toolArgs []bool // tool call index -> some arguments were written
	tokens   anthropicTokens
	thinking reasoningStream
}

func (s *anthropicStream) Translate(chunk []byte, eos bool) ([]byte, error) {
	if s.translate(chunk, eos) {
		_ = s.fail("server_error", "stream_incomplete", "the stream ended before message_stop")
	}
	return s.out, nil
}

// event handles one Messages event; errStop ends the stream.
func (s *anthropicStream) event(ev Event) error {
	data := str(ev.Data)
	if s.stage >= streamStarted {
		if raw, ok := anthropicTextDelta(data); ok {
			if len(raw) > 2 {
				s.out = s.w.content(s.out, raw)
			}
			return nil
		}
		if raw, ok := anthropicThinkingDelta(data); ok {
			if len(raw) > 2 && passReasoning(s.ep) {
				s.out = s.thinking.delta(&s.w, s.out, raw)
			}
			return nil
		}
	}
	if !isObject(data) {
		if ev.Name == "ping" {
			return nil
		}
		return s.fail("server_error", "bad_event", "the provider sent an event that is not a JSON object")
	}
	typ := gjson.Get(data, "type")
	name := ev.Name
	if typ.Type == gjson.String {
		name = typ.Str
	}
	switch name {
	case "content_block_delta": // first: nearly every event is one
		s.start("", "")
		d := gjson.Get(data, "delta")
		switch d.Get("type").Str {
		case "text_delta":
			if t := d.Get("text"); t.Str != "" {
				s.out = s.w.content(s.out, rawString(t))
			}
		case "thinking_delta":
			if t := d.Get("thinking"); t.Str != "" && passReasoning(s.ep) {
				s.out = s.thinking.delta(&s.w, s.out, rawString(t))
			}
		case "input_json_delta":
			idx := int(gjson.Get(data, "index").Int())
			if pj := d.Get("partial_json"); idx >= 0 && idx < len(s.blocks) && s.blocks[idx] >= 0 && pj.Str != "" {
				t := s.blocks[idx]
				s.toolArgs[t] = true
				s.out = s.w.toolArgs(s.out, t, rawString(pj))
			}
		}
	case "message_start":
		m := gjson.Get(data, "message")
		s.start(m.Get("id").String(), m.Get("model").String())
		s.tokens.read(m.Get("usage"))
	case "content_block_start":
		s.start("", "")
		idx := int(gjson.Get(data, "index").Int())
		blk := gjson.Get(data, "content_block")
		for idx >= 0 && idx < 1<<16 && len(s.blocks) <= idx {
			s.blocks = append(s.blocks, -1)
		}
		switch blk.Get("type").String() {
		case "tool_use":
			t := len(s.toolArgs)
			s.toolArgs = append(s.toolArgs, false)
			if idx >= 0 && idx < len(s.blocks) {
				s.blocks[idx] = t
			}
			s.out = s.w.toolStart(s.out, t, blk.Get("id").String(), blk.Get("name").String(), `""`)
		case "text":
			if t := blk.Get("text"); t.String() != "" {
				s.out = s.w.content(s.out, rawString(t))
			}
		case "thinking":
			s.thinking.block()
			if t := blk.Get("thinking"); t.Str != "" && passReasoning(s.ep) {
				s.out = s.thinking.delta(&s.w, s.out, rawString(t))
			}
		}
	case "content_block_stop":
		idx := int(gjson.Get(data, "index").Int())
		if idx >= 0 && idx < len(s.blocks) && s.blocks[idx] >= 0 && !s.toolArgs[s.blocks[idx]] {
			t := s.blocks[idx]
			s.toolArgs[t] = true
			s.out = s.w.toolArgs(s.out, t, `"{}"`)
		}
	case "message_delta":
		s.start("", "")
		s.tokens.read(gjson.Get(data, "usage"))
		if s.stage < streamFinished {
			s.finish(anthropicFinish(gjson.Get(data, "delta.stop_reason").String()))
		}
	case "message_stop":
		s.start("", "")
		s.finish("stop")
		var u *usage
		if s.includeUsage {
			t := s.tokens.usage()
			u = &t
		}
		s.close(u)
		return errStop{}
	case "error":
		e := gjson.Get(data, "error")
		typ := e.Get("type").String()
		if typ == "" {
			typ = "api_error"
		}
		return s.fail(typ, typ, e.Get("message").String())
	}
	return nil
}

// The compact text and thinking deltas Anthropic sends for nearly every
// event; matched without a JSON parser.
const (
	textDeltaPrefix     = `{"type":"content_block_delta","index":`
	textDeltaMid        = `,"delta":{"type":"text_delta","text":`
	thinkingDeltaMid    = `,"delta":{"type":"thinking_delta","thinking":`
	compactDeltaClosing = `}}`
)

// anthropicTextDelta returns the text literal of a compact text_delta event.
func anthropicTextDelta(d string) (string, bool) { return anthropicCompactDelta(d, textDeltaMid) }

// anthropicThinkingDelta returns the thinking literal of a compact
// thinking_delta event.
func anthropicThinkingDelta(d string) (string, bool) {
	return anthropicCompactDelta(d, thinkingDeltaMid)
}

// anthropicCompactDelta returns the string literal of a compact
// content_block_delta event whose delta starts with mid.
func anthropicCompactDelta(d, mid string) (string, bool) {
	if !strings.HasPrefix(d, textDeltaPrefix) {
		return "", false
	}
	i := len(textDeltaPrefix)
	j := i
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		j++
	}
	if j == i || !strings.HasPrefix(d[j:], mid) {
		return "", false
	}
	raw, ok := strings.CutSuffix(d[j+len(mid):], compactDeltaClosing)
	if !ok || !jsonStringOK(raw) {
		return "", false
	}
	return raw, true
}

// JudgeEvent judges a Messages stream event: message_stop ends the stream;
// an error event is an error; a non-empty text or tool input delta, a
// tool_use block start or a message_delta (the stop reason) is content;
// message_start, ping, empty blocks and thinking (reasoning.go) are not.
func (anthropic) JudgeEvent(ev Event) Verdict {
	data := str(ev.Data)
	if _, ok := anthropicTextDelta(data); ok {
		return Verdict{Kind: EventContent}
	}
	if _, ok := anthropicThinkingDelta(data); ok {
		return Verdict{} // reasoning is not content (reasoning.go)
	}
	name := ev.Name
	if t := gjson.Get(data, "type"); t.Type == gjson.String {
		name = t.Str
	}
	switch name {
	case "message_stop":
		return Verdict{Kind: EventEnd}
	case "error":
		e := gjson.Get(data, "error")
		c := Classification{Class: ClassServerError, Status: 200, Type: e.Get("type").String(),
			Message: e.Get("message").String()}
		anthropicRefine(&c)
		return streamError(c)
	case "message_delta":
		return Verdict{Kind: EventContent}
	case "content_block_start":
		blk := gjson.Get(data, "content_block")
		if blk.Get("type").Str == "tool_use" || blk.Get("text").Str != "" {
			return Verdict{Kind: EventContent}
		}
	case "content_block_delta":
		d := gjson.Get(data, "delta")
		switch d.Get("type").Str {
		case "text_delta":
			if d.Get("text").Str != "" {
				return Verdict{Kind: EventContent}
			}
		case "input_json_delta":
			return Verdict{Kind: EventContent}
		}
	}
	return Verdict{}
}

func (anthropic) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	c := Classification{Class: ClassifyStatus(status), Status: status, RetryAfter: RetryAfter(h, now)}
	e := gjson.GetBytes(body, "error")
	if e.IsObject() {
		c.Type = e.Get("type").String()
		c.Message = e.Get("message").String()
	}
	anthropicRefine(&c)
	return c
}

// anthropicRefine sets the class from an Anthropic error type and message
// (https://docs.anthropic.com/en/api/errors).
func anthropicRefine(c *Classification) {
	refine(c)
	lower := strings.ToLower(c.Message)
	switch c.Type {
	case "overloaded_error":
		c.Class = ClassOverloaded
	case "rate_limit_error":
		c.Class = ClassRateLimited
	case "authentication_error", "permission_error":
		c.Class = ClassAuth
	case "billing_error":
		c.Class = ClassQuotaExhausted
	case "api_error":
		c.Class = ClassServerError
	case "timeout_error":
		c.Class = ClassTimeout
	case "request_too_large", "not_found_error":
		c.Class = ClassInvalidRequest
	case "invalid_request_error":
		switch {
		case strings.Contains(lower, "prompt is too long") || strings.Contains(lower, "context window") ||
			strings.Contains(lower, "context length"):
			c.Class = ClassContextLength
		case strings.Contains(lower, "credit balance") || strings.Contains(lower, "billing"):
			c.Class = ClassQuotaExhausted
		}
	}
	if c.Status == 529 && c.Type == "" {
		c.Class = ClassOverloaded
	}
}
