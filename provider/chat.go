package provider

import (
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/llm-failover/llm-failover/config"
	"github.com/tidwall/gjson"
)

// This file reads the client's OpenAI Chat Completions request and writes
// OpenAI responses, chunks and errors: the half every cross-format adapter
// (anthropic.go, gemini.go) shares.

// DefaultMaxTokens is the output-token limit sent to targets that require
// one (Anthropic) when the client set neither max_completion_tokens nor
// max_tokens and Endpoint.DefaultMaxTokens is 0.
const DefaultMaxTokens = 4096

// unsupported is the 400 for a request field the target cannot express.
func unsupported(ep *Endpoint, field, detail string) *Error {
	return &Error{Status: 400, Type: "invalid_request_error", Code: "unsupported_parameter", Param: field,
		Message: fmt.Sprintf("provider %q (%s) cannot express %q: %s", ep.Name, ep.API, field, detail)}
}

// badRequest is the 400 for a client body that is not a chat request.
func badRequest(param, msg string) *Error {
	return &Error{Status: 400, Type: "invalid_request_error", Param: param, Message: msg}
}

// chatRequest is the parsed client request. Its results point into the
// body: use them only while the body is unchanged.
type chatRequest struct {
	fields   map[string]gjson.Result // top-level members, the first of duplicates
	messages gjson.Result
}

func parseChat(body []byte) (chatRequest, error) {
	if !gjson.ValidBytes(body) {
		return chatRequest{}, badRequest("", "request body is not valid JSON")
	}
	root := gjson.Parse(str(body))
	if !root.IsObject() {
		return chatRequest{}, badRequest("", "request body is not a JSON object")
	}
	// one pass over the top level: the messages array is skipped once, not
	// once per field looked up
	c := chatRequest{fields: make(map[string]gjson.Result, 16)}
	root.ForEach(func(k, v gjson.Result) bool {
		if _, dup := c.fields[k.Str]; !dup {
			c.fields[k.Str] = v
		}
		return true
	})
	c.messages = c.get("messages")
	if !c.messages.IsArray() {
		return chatRequest{}, badRequest("messages", "messages must be an array")
	}
	return c, nil
}

// get is the top-level member k.
func (c chatRequest) get(k string) gjson.Result { return c.fields[k] }

// chatMessage is one message's members, read in one pass.
type chatMessage struct {
	role                         string
	content, toolCalls, toolCall gjson.Result // toolCall: tool_call_id
}

func readMessage(m gjson.Result) chatMessage {
	var cm chatMessage
	m.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "role":
			cm.role = v.String()
		case "content":
			cm.content = v
		case "tool_calls":
			cm.toolCalls = v
		case "tool_call_id":
			cm.toolCall = v
		}
		return true
	})
	return cm
}

// maxTokens is max_completion_tokens, else max_tokens.
func (c chatRequest) maxTokens() (int64, bool) {
	for _, k := range [...]string{"max_completion_tokens", "max_tokens"} {
		if v := c.get(k); v.Type == gjson.Number {
			return v.Int(), true
		}
	}
	return 0, false
}

// stops is "stop" as a list.
func (c chatRequest) stops() []string {
	s := c.get("stop")
	switch {
	case s.Type == gjson.String:
		return []string{s.String()}
	case s.IsArray():
		var out []string
		for _, v := range s.Array() {
			if v.Type == gjson.String {
				out = append(out, v.String())
			}
		}
		return out
	}
	return nil
}

// checkCommon rejects what neither Anthropic nor Gemini can express here.
func (c chatRequest) checkCommon(ep *Endpoint) error {
	if n := c.get("n"); n.Exists() && n.Type != gjson.Null && n.Int() != 1 {
		return unsupported(ep, "n", "only one choice (n=1) can be produced")
	}
	if lp := c.get("logprobs"); lp.Type == gjson.True {
		return unsupported(ep, "logprobs", "the target returns no log probabilities")
	}
	if tl := c.get("top_logprobs"); tl.Exists() && tl.Type != gjson.Null {
		return unsupported(ep, "top_logprobs", "the target returns no log probabilities")
	}
	if a := c.get("audio"); a.Exists() && a.Type != gjson.Null {
		return unsupported(ep, "audio", "the target answers with text only")
	}
	for _, m := range c.get("modalities").Array() {
		if m.String() != "text" {
			return unsupported(ep, "modalities", "the target answers with text only")
		}
	}
	return nil
}

// clamp bounds f to [lo, hi].
func clamp(f, lo, hi float64) float64 { return min(max(f, lo), hi) }

// contentText joins a message content's text (a string, or the text and
// refusal parts of an array).
func contentText(content gjson.Result) string {
	if content.Type == gjson.String {
		return content.String()
	}
	if !content.IsArray() {
		return ""
	}
	var sb strings.Builder
	content.ForEach(func(_, p gjson.Result) bool {
		switch p.Get("type").String() {
		case "text":
			sb.WriteString(p.Get("text").String())
		case "refusal":
			sb.WriteString(p.Get("refusal").String())
		}
		return true
	})
	return sb.String()
}

// dataURL splits "data:<mime>;base64,<data>".
func dataURL(u string) (mime, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mime, enc, _ := strings.Cut(meta, ";")
	if enc != "base64" {
		return "", "", false
	}
	return mime, data, true
}

// toolChoice is the client's tool_choice.
type toolChoice struct {
	mode string // "", "auto", "none", "required", "function"
	name string // for "function"
}

func (c chatRequest) toolChoice() toolChoice {
	tc := c.get("tool_choice")
	switch {
	case tc.Type == gjson.String:
		return toolChoice{mode: tc.String()}
	case tc.IsObject():
		if n := tc.Get("function.name").String(); n != "" {
			return toolChoice{mode: "function", name: n}
		}
	}
	return toolChoice{}
}

// responseFormat is the client's response_format.
type responseFormat struct {
	kind   string       // "", "text", "json_object", "json_schema"
	schema gjson.Result // json_schema.schema
	name   string
}

func (c chatRequest) responseFormat() responseFormat {
	rf := c.get("response_format")
	return responseFormat{kind: rf.Get("type").String(), schema: rf.Get("json_schema.schema"),
		name: rf.Get("json_schema.name").String()}
}

// endpointMaxTokens is the default output limit of ep.
func endpointMaxTokens(ep *Endpoint) int64 {
	if ep.DefaultMaxTokens > 0 {
		return int64(ep.DefaultMaxTokens)
	}
	return DefaultMaxTokens
}

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

// completion is a whole answer, written as an OpenAI chat.completion.
type completion struct {
	id, model string
	created   int64
	content   strings.Builder
	hasText   bool
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
	b = append(b, `,"refusal":null`...)
	if len(c.toolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, t := range c.toolCalls {
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
		b = append(b, ']')
	}
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

// appendErrorEvent writes an OpenAI-style in-stream error event naming the
// provider, then the stream's end.
func appendErrorEvent(b []byte, ep *Endpoint, typ, code, msg string) []byte {
	b = append(b, `data: {"error":{"message":`...)
	b = appendString(b, providerMessage(ep, msg))
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, code)
	}
	b = append(b, "}}\n\n"...)
	return append(b, doneEvent...)
}

// providerMessage prefixes msg with the provider's name and API.
func providerMessage(ep *Endpoint, msg string) string {
	if ep == nil {
		return msg
	}
	return fmt.Sprintf("%s (%s): %s", ep.Name, ep.API, msg)
}

// ErrorBody renders a provider's classified error as the client-facing
// OpenAI error JSON: {"error":{"message","type","param","code"}}. The message
// names the provider; type is the provider's error type when it is
// snake_case like OpenAI's (Anthropic's are), else one derived from the
// class (rate_limit_error, authentication_error, invalid_request_error,
// server_error); code is the provider's code, else its type (Gemini's
// status, e.g. RESOURCE_EXHAUSTED).
func ErrorBody(ep *Endpoint, c Classification) []byte {
	typ := c.Type
	if typ == "" || strings.ToLower(typ) != typ { // Gemini's RESOURCE_EXHAUSTED and the like
		typ = openAIType(c.Class)
	}
	code := c.Code
	if code == "" && c.Type != "" {
		code = c.Type
	}
	msg := c.Message
	if msg == "" {
		msg = fmt.Sprintf("upstream returned status %d (%s)", c.Status, c.Class)
	}
	b := append([]byte(nil), `{"error":{"message":`...)
	b = appendString(b, providerMessage(ep, msg))
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, code)
	}
	return append(b, "}}"...)
}

// openAIType is the OpenAI error type that best names a class.
func openAIType(c Class) string {
	switch c {
	case ClassRateLimited, ClassQuotaExhausted:
		return "rate_limit_error"
	case ClassAuth:
		return "authentication_error"
	case ClassInvalidRequest, ClassContextLength, ClassContentPolicy, ClassClientError:
		return "invalid_request_error"
	}
	return "server_error"
}

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

// register adds an adapter to For from an init function (the map is written
// only before main runs).
func register(api config.API, a Adapter) { extra[api] = a }

// buffered translates a whole (non-streamed) response body at its end.
type buffered struct {
	buf     []byte
	convert func([]byte) ([]byte, error)
}

func (t *buffered) Translate(chunk []byte, eos bool) ([]byte, error) {
	t.buf = append(t.buf, chunk...)
	if !eos {
		return nil, nil
	}
	return t.convert(t.buf)
}

func (t *buffered) ContentType() string { return "application/json" }

// errBadUpstream is a 2xx provider body that cannot be translated.
func errBadUpstream(msg string) *Error {
	return &Error{Status: 502, Type: "server_error", Code: "bad_upstream_response", Message: msg}
}

// str views b as a string without copying; for gjson lookups whose results
// are used before b changes.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func quote(s string) string { return strconv.Quote(s) }
func itoa(i int) string     { return strconv.Itoa(i) }
