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
	c, err := parseChat(req.Body)
	if err != nil {
		return nil, err
	}
	if err := c.checkCommon(ep); err != nil {
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

	var system []string
	var turns []turn
	var perr error
	i := -1
	c.messages.ForEach(func(_, raw gjson.Result) bool {
		i++
		m := readMessage(raw)
		content := m.content
		switch role := m.role; role {
		case "system", "developer":
			if t := contentText(content); t != "" {
				system = append(system, t)
			}
		case "user":
			var blk []byte
			blk, perr = anthropicUserBlocks(ep, nil, content, i)
			turns = addTurn(turns, "user", blk)
		case "assistant":
			var blk []byte
			blk, perr = anthropicAssistantBlocks(nil, m, i)
			turns = addTurn(turns, "assistant", blk)
		case "tool":
			blk := append([]byte(nil), `{"type":"tool_result","tool_use_id":`...)
			blk = appendString(blk, m.toolCall.String())
			if t := contentText(content); t != "" {
				blk = append(blk, `,"content":`...)
				blk = appendString(blk, t)
			}
			blk = append(blk, '}')
			turns = addTurn(turns, "user", blk)
		default:
			perr = badRequest("messages", "unknown message role "+quote(role))
		}
		return perr == nil
	})
	if perr != nil {
		return nil, perr
	}
	rf := c.responseFormat()
	switch rf.kind {
	case "json_object":
		system = append(system, anthropicJSONInstruction)
	case "json_schema":
		system = append(system, anthropicJSONInstruction+" The object must conform to this JSON Schema:\n"+rf.schema.Raw)
	}
	if len(system) > 0 {
		b = append(b, `,"system":`...)
		b = appendString(b, strings.Join(system, "\n\n"))
	}
	b = append(b, `,"messages":[`...)
	for i, t := range turns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":"`...)
		b = append(b, t.role...)
		b = append(b, `","content":[`...)
		b = append(b, t.blocks...)
		b = append(b, `]}`...)
	}
	b = append(b, ']')
	// Newer Claude models reject temperature and top_p together: temperature wins.
	if t := c.get("temperature"); t.Type == gjson.Number {
		b = append(b, `,"temperature":`...)
		b = appendFloat(b, clamp(t.Float(), 0, 1))
	} else if p := c.get("top_p"); p.Type == gjson.Number {
		b = append(b, `,"top_p":`...)
		b = appendFloat(b, clamp(p.Float(), 0, 1))
	}
	if stops := c.stops(); len(stops) > 0 {
		b = append(b, `,"stop_sequences":[`...)
		for i, s := range stops {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
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
		n := 0
		tools.ForEach(func(_, t gjson.Result) bool {
			f := t.Get("function")
			if t.Get("type").String() != "function" || !f.IsObject() {
				perr = unsupported(ep, "tools", "only function tools can be sent")
				return false
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"name":`...)
			b = appendRawString(b, f.Get("name"))
			if d := f.Get("description"); d.Exists() {
				b = append(b, `,"description":`...)
				b = appendRawString(b, d)
			}
			b = append(b, `,"input_schema":`...)
			if p := f.Get("parameters"); p.IsObject() {
				b = append(b, p.Raw...)
			} else {
				b = append(b, `{"type":"object","properties":{}}`...)
			}
			b = append(b, '}')
			return true
		})
		if perr != nil {
			return nil, perr
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
		version = "2023-06-01"
	}
	p.Headers = append(p.Headers, Header{Key: "anthropic-version", Value: version})
	return p, nil
}

// turn is one message of a target that wants alternating roles; blocks are
// comma-separated JSON objects.
type turn struct {
	role   string
	blocks []byte
}

// addTurn appends blocks to the last turn when it has the same role.
func addTurn(turns []turn, role string, blocks []byte) []turn {
	if len(blocks) == 0 {
		return turns
	}
	if n := len(turns); n > 0 && turns[n-1].role == role {
		turns[n-1].blocks = append(append(turns[n-1].blocks, ','), blocks...)
		return turns
	}
	return append(turns, turn{role: role, blocks: blocks})
}

// anthropicUserBlocks writes a user content as Messages content blocks.
func anthropicUserBlocks(ep *Endpoint, b []byte, content gjson.Result, i int) ([]byte, error) {
	sep := func() {
		if len(b) > 0 {
			b = append(b, ',')
		}
	}
	if content.Type == gjson.String {
		if content.String() == "" {
			return b, nil
		}
		b = append(b, `{"type":"text","text":`...)
		b = appendRawString(b, content)
		return append(b, '}'), nil
	}
	if !content.IsArray() {
		return b, nil
	}
	var err error
	content.ForEach(func(_, p gjson.Result) bool {
		switch typ := p.Get("type").String(); typ {
		case "text":
			if t := p.Get("text"); t.String() != "" {
				sep()
				b = append(b, `{"type":"text","text":`...)
				b = appendRawString(b, t)
				b = append(b, '}')
			}
		case "image_url":
			u := p.Get("image_url.url").String()
			sep()
			if mime, data, ok := dataURL(u); ok {
				b = append(b, `{"type":"image","source":{"type":"base64","media_type":`...)
				b = appendString(b, mime)
				b = append(b, `,"data":`...)
				b = appendString(b, data)
				b = append(b, `}}`...)
			} else if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
				b = append(b, `{"type":"image","source":{"type":"url","url":`...)
				b = appendString(b, u)
				b = append(b, `}}`...)
			} else {
				err = badRequest("messages["+itoa(i)+"].content", "image_url.url must be a base64 data URL or an http(s) URL")
			}
		case "file":
			mime, data, ok := dataURL(p.Get("file.file_data").String())
			if !ok {
				err = unsupported(ep, "messages["+itoa(i)+"].content", "file parts need file_data as a base64 data URL")
				return false
			}
			sep()
			b = append(b, `{"type":"document","source":{"type":"base64","media_type":`...)
			b = appendString(b, mime)
			b = append(b, `,"data":`...)
			b = appendString(b, data)
			b = append(b, `}}`...)
		default:
			err = unsupported(ep, "messages["+itoa(i)+"].content", "content part type "+quote(typ))
		}
		return err == nil
	})
	return b, err
}

// anthropicAssistantBlocks writes an assistant message: text, then tool_use.
func anthropicAssistantBlocks(b []byte, m chatMessage, i int) ([]byte, error) {
	if m.content.Type == gjson.String {
		if m.content.Raw != `""` {
			b = append(b, `{"type":"text","text":`...)
			b = appendRawString(b, m.content)
			b = append(b, '}')
		}
	} else if t := contentText(m.content); t != "" {
		b = append(b, `{"type":"text","text":`...)
		b = appendString(b, t)
		b = append(b, '}')
	}
	var err error
	j := -1
	m.toolCalls.ForEach(func(_, tc gjson.Result) bool {
		j++
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendRawString(b, tc.Get("id"))
		b = append(b, `,"name":`...)
		b = appendRawString(b, tc.Get("function.name"))
		b = append(b, `,"input":`...)
		var in string
		in, err = toolArguments(tc.Get("function.arguments").String(), i, j)
		b = append(b, in...)
		b = append(b, '}')
		return err == nil
	})
	return b, err
}

// toolArguments is an assistant tool call's arguments as a JSON object.
func toolArguments(args string, i, j int) (string, error) {
	if strings.TrimSpace(args) == "" {
		return "{}", nil
	}
	if r := gjson.Parse(args); gjson.Valid(args) && r.IsObject() {
		return args, nil
	}
	return "", badRequest("messages["+itoa(i)+"].tool_calls["+itoa(j)+"].function.arguments",
		"tool call arguments must be a JSON object")
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

func (anthropic) InspectStreamStart(buf []byte) StreamStart {
	return inspectFirstEvent(buf, func(ev Event) *Classification {
		typ := gjson.GetBytes(ev.Data, "type").String()
		if ev.Name != "error" && typ != "error" {
			return nil
		}
		e := gjson.GetBytes(ev.Data, "error")
		c := Classification{Class: ClassServerError, Status: 200, Type: e.Get("type").String(),
			Message: e.Get("message").String()}
		anthropicRefine(&c)
		if c.Class == ClassInvalidRequest || c.Class == ClassClientError || c.Class == ClassSuccess {
			c.Class = ClassServerError
		}
		return &c
	})
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
