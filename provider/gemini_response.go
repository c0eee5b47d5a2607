package provider

import (
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// This file translates generateContent answers and streams to the client's format and
// classifies their errors; gemini.go rewrites requests.

func (gemini) NewResponseTranslator(ep *Endpoint, req Request, env Env) ResponseTranslator {
	id, now := translatorID(env), translatorNow(env)
	if req.Stream {
		s := &geminiStream{chunkStream: chunkStream{ep: ep, model: req.Model, fallbackID: "chatcmpl-" + id, created: now,
			includeUsage: req.IncludeUsage}, base: id}
		s.feed = s.event
		return s
	}
	return &buffered{convert: func(body []byte) ([]byte, error) {
		return geminiCompletion(ep, body, req.Model, id, now)
	}}
}

// geminiFinish maps a finishReason to an OpenAI finish_reason.
func geminiFinish(r string, tools bool) string {
	switch r {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
		"IMAGE_RECITATION":
		return "content_filter"
	}
	if tools {
		return "tool_calls"
	}
	return "stop" // STOP, MALFORMED_FUNCTION_CALL, OTHER, LANGUAGE, unknown
}

// geminiUsage reads usageMetadata.
func geminiUsage(u gjson.Result, into *usage) {
	if !u.IsObject() {
		return
	}
	var n usage
	var candidates int64
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "promptTokenCount", "toolUsePromptTokenCount":
			n.prompt += v.Int()
		case "candidatesTokenCount":
			candidates = v.Int()
		case "totalTokenCount":
			n.total = v.Int()
		case "cachedContentTokenCount":
			n.cached = v.Int()
		case "thoughtsTokenCount":
			n.reasoning = v.Int()
		}
		return true
	})
	n.completion = candidates + n.reasoning
	*into = n
}

// geminiToolID is a function call's id: Gemini's own when it sends one.
func geminiToolID(fc gjson.Result, base string, n int) string {
	if id := fc.Get("id").String(); id != "" {
		return id
	}
	return "call_" + base + "_" + itoa(n)
}

// geminiCompletion translates a whole GenerateContentResponse.
func geminiCompletion(ep *Endpoint, body []byte, model, base string, created int64) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, errBadUpstream("gemini response is not valid JSON")
	}
	r := gjson.Parse(str(body)) // read in place: the answer is written anew before returning
	if !r.IsObject() || !r.Get("candidates").IsArray() && !r.Get("promptFeedback").Exists() {
		return nil, errBadUpstream("gemini response is not a GenerateContentResponse (no candidates)")
	}
	c := completion{id: r.Get("responseId").String(), model: r.Get("modelVersion").String(), created: created}
	if c.id == "" {
		c.id = "chatcmpl-" + base
	}
	if c.model == "" {
		c.model = model
	}
	v := viewGemini(r)
	pass := passReasoning(ep)
	v.parts(func(text, fc gjson.Result, thought bool) {
		switch {
		case fc.Exists():
			c.toolCalls = append(c.toolCalls, toolCall{id: geminiToolID(fc, base, len(c.toolCalls)),
				name: fc.Get("name").String(), args: callArgs(fc.Get("args"))})
		case thought:
			if pass {
				c.reasoning.extend(text.String())
			}
		default:
			c.content.WriteString(text.String())
			c.hasText = true
		}
	})
	switch {
	case v.cand.Exists():
		c.finish = geminiFinish(v.finish.String(), len(c.toolCalls) > 0)
	case v.feedback.Get("blockReason").Exists():
		c.finish = "content_filter"
	default:
		c.finish = "stop"
	}
	geminiUsage(r.Get("usageMetadata"), &c.usage)
	return c.appendJSON(make([]byte, 0, len(body)+256)), nil
}

// geminiStream translates streamGenerateContent?alt=sse events (each a
// partial GenerateContentResponse) into chat.completion.chunk events.
type geminiStream struct {
	chunkStream
	base     string // the answer id's base, for tool call ids
	tools    int
	usageRaw []byte // the latest usageMetadata
	thoughts reasoningStream
}

func (s *geminiStream) Translate(chunk []byte, eos bool) ([]byte, error) {
	if !s.translate(chunk, eos) {
		return s.out, nil
	}
	if s.stage < streamFinished {
		_ = s.fail("server_error", "stream_incomplete", "the stream ended before a finishReason")
		return s.out, nil
	}
	var u *usage
	if s.includeUsage {
		u = new(usage)
		geminiUsage(gjson.Parse(string(s.usageRaw)), u)
	}
	s.close(u)
	return s.out, nil
}

func (s *geminiStream) event(ev Event) error {
	data := str(ev.Data)
	if s.stage == streamStarted {
		if lit, ok := geminiTextChunk(data); ok {
			if u := gjson.Get(data, "usageMetadata"); u.Exists() {
				s.usageRaw = append(s.usageRaw[:0], u.Raw...)
			}
			if lit != `""` {
				s.out = s.w.content(s.out, lit)
			}
			return nil
		}
	}
	if !isObject(data) {
		return s.fail("server_error", "bad_event", "the provider sent an event that is not a JSON object")
	}
	v := viewGemini(gjson.Parse(data))
	if v.err.Exists() {
		c := Classification{Class: ClassServerError}
		geminiError(&c, v.err)
		if c.Code == "" {
			c.Code = "UNKNOWN"
		}
		return s.fail(openAIType(c.Class), c.Code, c.Message)
	}
	s.start(v.id, v.model)
	if v.usage.Exists() {
		// cumulative: keep the latest, read it once at the end
		s.usageRaw = append(s.usageRaw[:0], v.usage.Raw...)
	}
	if s.stage >= streamFinished {
		return nil
	}
	v.parts(func(text, fc gjson.Result, thought bool) {
		switch {
		case fc.Exists():
			s.out = s.w.toolStart(s.out, s.tools, geminiToolID(fc, s.base, s.tools), fc.Get("name").String(),
				string(appendString(nil, callArgs(fc.Get("args")))))
			s.tools++
		case thought:
			// One stream of thought: Gemini splits a summary over events,
			// so its parts are one reasoning block.
			if text.Str != "" && passReasoning(s.ep) {
				s.out = s.thoughts.delta(&s.w, s.out, rawString(text))
			}
		case text.Str != "" || text.Raw != `""`:
			s.out = s.w.content(s.out, rawString(text))
		}
	})
	switch {
	case v.finish.Exists():
		s.finish(geminiFinish(v.finish.String(), s.tools > 0))
	case !v.cand.Exists() && v.feedback.Get("blockReason").Exists():
		s.finish("content_filter")
	}
	return nil
}

// The start of the event Gemini sends for nearly every piece of a streamed
// text answer, as its JSON printer writes it; matched without a parser.
const (
	geminiTextPrefix = `{"candidates": [{"content": {"parts": [{"text": `
	geminiTextMid    = `}],"role": "model"},"index": 0}]`
)

// geminiTextChunk returns the text literal of a one-part text event that
// has no finishReason.
func geminiTextChunk(d string) (string, bool) {
	rest, ok := strings.CutPrefix(d, geminiTextPrefix)
	if !ok || len(rest) == 0 || rest[0] != '"' {
		return "", false
	}
	end := -1
	for i := 1; i < len(rest); i++ {
		if rest[i] == '\\' {
			i++
			continue
		}
		if rest[i] == '"' {
			end = i + 1
			break
		}
	}
	if end < 0 || !strings.HasPrefix(rest[end:], geminiTextMid) || !jsonStringOK(rest[:end]) {
		return "", false
	}
	return rest[:end], true
}

// geminiView is a GenerateContentResponse read in one pass over its keys.
type geminiView struct {
	err, usage, feedback gjson.Result
	cand, content        gjson.Result // candidates[0] and its content
	finish               gjson.Result
	id, model            string
}

func viewGemini(r gjson.Result) geminiView {
	var v geminiView
	r.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "candidates":
			val.ForEach(func(_, c gjson.Result) bool {
				v.cand = c
				return false
			})
		case "usageMetadata":
			v.usage = val
		case "error":
			v.err = val
		case "promptFeedback":
			v.feedback = val
		case "responseId":
			v.id = val.String()
		case "modelVersion":
			v.model = val.String()
		}
		return true
	})
	v.cand.ForEach(func(k, val gjson.Result) bool {
		switch k.Str {
		case "content":
			v.content = val
		case "finishReason":
			v.finish = val
		}
		return true
	})
	return v
}

// parts calls fn for each part of the first candidate: text (with fc
// absent; thought marks a thought summary) or a function call.
func (v *geminiView) parts(fn func(text, fc gjson.Result, thought bool)) {
	v.content.Get("parts").ForEach(func(_, p gjson.Result) bool {
		var text, fc gjson.Result
		thought := false
		p.ForEach(func(k, val gjson.Result) bool {
			switch k.Str {
			case "text":
				text = val
			case "functionCall":
				fc = val
			case "thought":
				thought = val.Bool()
			}
			return true
		})
		if fc.Exists() || text.Exists() {
			fn(text, fc, thought && !fc.Exists())
		}
		return true
	})
}

// JudgeEvent judges a GenerateContentResponse event: an error object is an
// error; a candidate's finishReason (or a prompt blocked without candidates)
// ends the stream; a text or functionCall part is content, a thought
// summary (reasoning.go) is not.
func (gemini) JudgeEvent(ev Event) Verdict {
	data := str(ev.Data)
	if _, ok := geminiTextChunk(data); ok {
		return Verdict{Kind: EventContent}
	}
	if !isObject(data) {
		return Verdict{}
	}
	v := viewGemini(gjson.Parse(data))
	if v.err.Exists() {
		c := Classification{Class: ClassServerError, Status: 200}
		geminiError(&c, v.err)
		return streamError(c)
	}
	if v.finish.Exists() || !v.cand.Exists() && v.feedback.Get("blockReason").Exists() {
		return Verdict{Kind: EventEnd}
	}
	content := false
	v.parts(func(text, fc gjson.Result, thought bool) {
		content = content || fc.Exists() || text.Str != "" && !thought
	})
	if content {
		return Verdict{Kind: EventContent}
	}
	return Verdict{}
}

func (gemini) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	c := Classification{Class: ClassifyStatus(status), Status: status, RetryAfter: RetryAfter(h, now)}
	root := gjson.ParseBytes(body)
	if root.IsArray() {
		root = root.Get("0")
	}
	if e := root.Get("error"); e.IsObject() {
		geminiError(&c, e)
	}
	return c
}

// geminiError classifies a google.rpc.Status error object
// (https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes).
func geminiError(c *Classification, e gjson.Result) {
	c.Type = e.Get("status").String()
	c.Code = c.Type
	c.Message = e.Get("message").String()
	lower := strings.ToLower(c.Message)
	details := e.Get("details")
	reason := func(want string) bool {
		found := false
		details.ForEach(func(_, d gjson.Result) bool {
			found = d.Get("reason").String() == want
			return !found
		})
		return found
	}
	switch c.Type {
	case "RESOURCE_EXHAUSTED":
		c.Class = ClassRateLimited
		details.ForEach(func(_, d gjson.Result) bool {
			d.Get("violations").ForEach(func(_, v gjson.Result) bool {
				if strings.Contains(v.Get("quotaId").String(), "PerDay") {
					c.Class = ClassQuotaExhausted
				}
				return true
			})
			if rd := d.Get("retryDelay").String(); rd != "" && c.RetryAfter == 0 {
				if dur, err := time.ParseDuration(rd); err == nil && dur > 0 {
					c.RetryAfter = dur
				}
			}
			return true
		})
	case "UNAVAILABLE":
		c.Class = ClassOverloaded
	case "INTERNAL", "UNKNOWN":
		c.Class = ClassServerError
	case "DEADLINE_EXCEEDED":
		c.Class = ClassTimeout
	case "PERMISSION_DENIED", "UNAUTHENTICATED":
		c.Class = ClassAuth
	case "FAILED_PRECONDITION":
		// free tier unavailable in the region, billing not enabled: this
		// account cannot serve, another target may
		c.Class = ClassAuth
	case "NOT_FOUND":
		c.Class = ClassInvalidRequest
	case "INVALID_ARGUMENT":
		switch {
		case reason("API_KEY_INVALID") || strings.Contains(lower, "api key not valid") ||
			strings.Contains(lower, "api key expired"):
			c.Class = ClassAuth
		case strings.Contains(lower, "token count") || strings.Contains(lower, "maximum number of tokens") ||
			strings.Contains(lower, "too many tokens") || strings.Contains(lower, "context"):
			c.Class = ClassContextLength
		case strings.Contains(lower, "safety") || strings.Contains(lower, "prohibited"):
			c.Class = ClassContentPolicy
		default:
			c.Class = ClassInvalidRequest
		}
	}
}
