package provider

import (
	"net/http"
	"strings"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/tidwall/gjson"
)

// anthropic is the Anthropic Messages wire format
// (https://docs.anthropic.com/en/api/messages, streaming:
// https://docs.anthropic.com/en/docs/build-with-claude/streaming, errors:
// https://docs.anthropic.com/en/api/errors).
type anthropic struct{}

var _ Adapter = anthropic{}

func init() { register(config.APIAnthropic, anthropic{}) }

// anthropicJSONInstruction is added to the system prompt for
// response_format json_object / json_schema: Messages has no JSON mode.
const anthropicJSONInstruction = "Respond with a single valid JSON object and nothing else: no prose, no code fences."

func (anthropic) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	c, err := parseChat(ep, req.Body)
	if err != nil {
		return nil, err
	}
	w := anthropicTurns{ep}
	d, err := c.dialogue(turnWriter{user: w.user, assistant: w.assistant, tool: w.tool})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(req.Body)+256)
	b = append(b, `{"model":`...)
	b = appendString(b, req.Model)
	mt, ok := c.maxTokens()
	if !ok {
		mt = endpointMaxTokens(ep)
	}
	b = append(b, `,"max_tokens":`...)
	b = appendInt(b, mt)

	rf := c.responseFormat()
	switch rf.kind {
	case "json_object":
		d.system = append(d.system, anthropicJSONInstruction)
	case "json_schema":
		d.system = append(d.system, anthropicJSONInstruction+" The object must conform to this JSON Schema:\n"+rf.schema.Raw)
	}
	if len(d.system) > 0 {
		b = append(b, `,"system":`...)
		b = appendString(b, d.systemText())
	}
	b = append(b, `,"messages":`...)
	b = appendTurns(b, d.turns, "assistant", "content")
	// Newer Claude models reject temperature and top_p together: temperature wins.
	if t := c.get("temperature"); t.Type == gjson.Number {
		b = append(b, `,"temperature":`...)
		b = appendFloat(b, clamp(t.Float(), 0, 1))
	} else if p := c.get("top_p"); p.Type == gjson.Number {
		b = append(b, `,"top_p":`...)
		b = appendFloat(b, clamp(p.Float(), 0, 1))
	}
	if stops := c.stops(); len(stops) > 0 {
		b = append(b, `,"stop_sequences":`...)
		b = appendStrings(b, stops)
	}
	if req.Stream {
		b = append(b, `,"stream":true`...)
	}
	if u := c.get("user"); u.Type == gjson.String && u.String() != "" {
		b = append(b, `,"metadata":{"user_id":`...)
		b = appendRawString(b, u)
		b = append(b, '}')
	}
	if tools := c.get("tools"); tools.IsArray() && len(tools.Array()) > 0 {
		b = append(b, `,"tools":[`...)
		if b, err = appendFunctionTools(b, ep, tools, anthropicInputSchema); err != nil {
			return nil, err
		}
		b = append(b, ']')
		tc := c.toolChoice()
		noParallel := c.get("parallel_tool_calls").Type == gjson.False
		var kind string
		switch tc.mode {
		case "", "auto":
			kind = `{"type":"auto"`
			if !noParallel {
				kind = ""
			}
		case "none":
			kind, noParallel = `{"type":"none"`, false
		case "required":
			kind = `{"type":"any"`
		case "function":
			kind = `{"type":"tool","name":` + string(appendString(nil, tc.name))
		default:
			return nil, badRequest("tool_choice", "unknown tool_choice "+quote(tc.mode))
		}
		if kind != "" {
			b = append(b, `,"tool_choice":`...)
			b = append(b, kind...)
			if noParallel {
				b = append(b, `,"disable_parallel_tool_use":true`...)
			}
			b = append(b, '}')
		}
	}
	b = append(b, '}')

	p := &Prepared{Path: ep.BasePath + "/messages", Body: b}
	if ep.AuthValue != "" {
		p.Headers = append(p.Headers, Header{Key: ep.AuthHeader, Value: ep.AuthValue})
	}
	version := ep.APIVersion
	if version == "" {
		version = config.DefaultAnthropicVersion
	}
	p.Headers = append(p.Headers, Header{Key: "anthropic-version", Value: version})
	return p, nil
}

// anthropicInputSchema writes a tool's parameters as its input_schema,
// which Messages requires.
func anthropicInputSchema(b []byte, params gjson.Result) []byte {
	b = append(b, `,"input_schema":`...)
	if params.IsObject() {
		return append(b, params.Raw...)
	}
	return append(b, `{"type":"object","properties":{}}`...)
}

// anthropicTurns writes chat messages as Messages content blocks.
type anthropicTurns struct{ ep *Endpoint }

// user writes a user content as text, image and document blocks; a
// content that is neither a string nor an array has none.
func (w anthropicTurns) user(m chatMessage, i int) ([]byte, error) {
	if m.content.Type != gjson.String && !m.content.IsArray() {
		return nil, nil
	}
	return userParts(w.ep, m.content, i, anthropicParts{})
}

// assistant writes an assistant message: text, then tool_use blocks.
func (anthropicTurns) assistant(m chatMessage, i int) ([]byte, error) {
	var b []byte
	if m.content.Type == gjson.String {
		if m.content.Raw != `""` {
			b = anthropicParts{}.text(b, m.content)
		}
	} else if t := contentText(m.content); t != "" {
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, t)
		b = append(b, '}')
	}
	err := m.eachToolCall(i, func(tc gjson.Result, args string) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendRawString(b, tc.Get("id"))
		b = append(b, `,"name":`...)
		b = appendRawString(b, tc.Get("function.name"))
		b = append(b, `,"input":`...)
		b = append(b, args...)
		b = append(b, '}')
	})
	return b, err
}

// tool writes a tool message as a tool_result block.
func (anthropicTurns) tool(m chatMessage, _ int) ([]byte, error) {
	b := append([]byte(nil), `{"type":"tool_result","tool_use_id":`...)
	b = appendString(b, m.toolCall.String())
	if t := contentText(m.content); t != "" {
		b = append(b, `,"content":`...)
		b = appendString(b, t)
	}
	return append(b, '}'), nil
}

// anthropicParts writes user content parts as Messages content blocks.
type anthropicParts struct{}

var _ partWriter = anthropicParts{}

func (anthropicParts) text(b []byte, t gjson.Result) []byte {
	b = append(b, `{"type":"text","text":`...)
	b = appendRawString(b, t)
	return append(b, '}')
}

func (anthropicParts) image(b []byte, mime, data string) []byte {
	return anthropicBase64(b, "image", mime, data)
}

func (anthropicParts) imageURL(b []byte, u string) []byte {
	b = append(b, `{"type":"image","source":{"type":"url","url":`...)
	b = appendString(b, u)
	return append(b, `}}`...)
}

func (anthropicParts) file(b []byte, mime, data string) []byte {
	return anthropicBase64(b, "document", mime, data)
}

// anthropicBase64 writes a block of type typ with a base64 source.
func anthropicBase64(b []byte, typ, mime, data string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","source":{"type":"base64","media_type":`...)
	b = appendString(b, mime)
	b = append(b, `,"data":`...)
	b = appendString(b, data)
	return append(b, `}}`...)
}

func (anthropic) NewResponseTranslator(ep *Endpoint, req Request, env Env) ResponseTranslator {
	id, now := translatorID(env), translatorNow(env)
	if req.Stream {
		return &anthropicStream{ep: ep, model: req.Model, fallbackID: "chatcmpl-" + id, created: now,
			includeUsage: req.IncludeUsage}
	}
	return &buffered{convert: func(body []byte) ([]byte, error) {
		return anthropicCompletion(body, req.Model, "chatcmpl-"+id, now)
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

// anthropicCompletion translates a whole Messages response.
func anthropicCompletion(body []byte, model, fallbackID string, created int64) ([]byte, error) {
	if !gjson.ValidBytes(body) {
		return nil, errBadUpstream("anthropic response is not valid JSON")
	}
	r := gjson.ParseBytes(body)
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
	r.Get("content").ForEach(func(_, blk gjson.Result) bool {
		switch blk.Get("type").String() {
		case "text":
			c.content.WriteString(blk.Get("text").String())
			c.hasText = true
		case "tool_use":
			args := blk.Get("input").Raw
			if args == "" {
				args = "{}"
			}
			c.toolCalls = append(c.toolCalls, toolCall{id: blk.Get("id").String(), name: blk.Get("name").String(), args: args})
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
	ep           *Endpoint
	model        string
	fallbackID   string
	created      int64
	includeUsage bool

	r        SSEReader
	w        chunkWriter
	out      []byte
	started  bool
	finished bool   // finish chunk written
	done     bool   // [DONE] written
	blocks   []int  // content block index -> tool call index, -1 for others
	toolArgs []bool // tool call index -> some arguments were written
	tokens   anthropicTokens
	feed     func(Event) error
}

func (s *anthropicStream) ContentType() string { return "text/event-stream" }

func (s *anthropicStream) Translate(chunk []byte, eos bool) ([]byte, error) {
	if s.done {
		return nil, nil
	}
	s.out = make([]byte, 0, 2*len(chunk)+256)
	if s.feed == nil {
		s.feed = s.event
	}
	_ = s.r.Feed(chunk, s.feed)
	if eos && !s.done {
		s.out = appendErrorEvent(s.out, s.ep, "server_error", "stream_incomplete", "the stream ended before message_stop")
		s.done = true
	}
	return s.out, nil
}

func (s *anthropicStream) start(id, model string) {
	if s.started {
		return
	}
	s.started = true
	if id == "" {
		id = s.fallbackID
	}
	if model == "" {
		model = s.model
	}
	s.w.init(id, model, s.created)
	s.out = s.w.role(s.out)
}

// event handles one Messages event; errStop ends the stream.
func (s *anthropicStream) event(ev Event) error {
	data := str(ev.Data)
	if s.started {
		if raw, ok := anthropicTextDelta(data); ok {
			if len(raw) > 2 {
				s.out = s.w.content(s.out, raw)
			}
			return nil
		}
	}
	if !isObject(data) {
		if ev.Name == "ping" {
			return nil
		}
		s.out = appendErrorEvent(s.out, s.ep, "server_error", "bad_event", "the provider sent an event that is not a JSON object")
		s.done = true
		return errStop{}
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
		if !s.finished {
			s.finished = true
			s.out = s.w.finish(s.out, anthropicFinish(gjson.Get(data, "delta.stop_reason").String()))
		}
	case "message_stop":
		s.start("", "")
		if !s.finished {
			s.finished = true
			s.out = s.w.finish(s.out, "stop")
		}
		if s.includeUsage {
			s.out = s.w.usage(s.out, s.tokens.usage())
		}
		s.out = append(s.out, doneEvent...)
		s.done = true
		return errStop{}
	case "error":
		e := gjson.Get(data, "error")
		typ := e.Get("type").String()
		if typ == "" {
			typ = "api_error"
		}
		s.out = appendErrorEvent(s.out, s.ep, typ, typ, e.Get("message").String())
		s.done = true
		return errStop{}
	}
	return nil
}

// The compact text delta Anthropic sends for nearly every event; matched
// without a JSON parser.
const (
	textDeltaPrefix = `{"type":"content_block_delta","index":`
	textDeltaMid    = `,"delta":{"type":"text_delta","text":`
)

// anthropicTextDelta returns the text literal of a compact text_delta event.
func anthropicTextDelta(d string) (string, bool) {
	if !strings.HasPrefix(d, textDeltaPrefix) {
		return "", false
	}
	i := len(textDeltaPrefix)
	j := i
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		j++
	}
	if j == i || !strings.HasPrefix(d[j:], textDeltaMid) {
		return "", false
	}
	raw, ok := strings.CutSuffix(d[j+len(textDeltaMid):], "}}")
	if !ok || !jsonStringOK(raw) {
		return "", false
	}
	return raw, true
}

// JudgeEvent judges a Messages stream event: message_stop ends the stream;
// an error event is an error; a non-empty text, tool input or thinking-free
// delta, a tool_use block start or a message_delta (the stop reason) is
// content; message_start, ping and empty blocks are not.
func (anthropic) JudgeEvent(ev Event) Verdict {
	data := str(ev.Data)
	if _, ok := anthropicTextDelta(data); ok {
		return Verdict{Kind: EventContent}
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
		if c.Class == ClassInvalidRequest || c.Class == ClassClientError || c.Class == ClassSuccess {
			c.Class = ClassServerError
		}
		return Verdict{Kind: EventError, Failure: &c}
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
