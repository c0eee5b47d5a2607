package provider

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// This file reads the client's OpenAI Chat Completions request for the
// cross-format adapters (anthropic.go, gemini.go): the half they share.
// Answers in the client's format are written in respond.go, errors in
// errors.go.

// DefaultMaxTokens is the output-token limit sent to targets that require
// one (Anthropic) when the client set neither max_completion_tokens nor
// max_tokens and Endpoint.DefaultMaxTokens is 0.
const DefaultMaxTokens = 4096

// chatRequest is the parsed client request. Its results point into the
// body: use them only while the body is unchanged.
type chatRequest struct {
	fields   map[string]gjson.Result // top-level members, the first of duplicates
	messages gjson.Result
}

// parseChat reads the client's body for ep, a target of another wire
// format, and rejects what it cannot express (checkCommon).
func parseChat(ep *Endpoint, req Request) (chatRequest, error) {
	if !req.inspected && !gjson.ValidBytes(req.Body) {
		return chatRequest{}, badRequest("", "request body is not valid JSON")
	}
	root := gjson.Parse(str(req.Body))
	if !root.IsObject() {
		return chatRequest{}, badRequest("", "request body is not a JSON object")
	}
	// one pass over the top level: the messages array is skipped once, not
	// once per field looked up, and read as source text (eachMember)
	c := chatRequest{fields: make(map[string]gjson.Result, 16)}
	eachMember(root.Raw, func(k, raw string) {
		if _, dup := c.fields[k]; !dup {
			c.fields[k] = gjson.Parse(raw)
		}
	})
	c.messages = c.get("messages")
	if !c.messages.IsArray() {
		return chatRequest{}, badRequest("messages", "messages must be an array")
	}
	if err := c.checkCommon(ep); err != nil {
		return chatRequest{}, err
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

// readMessage reads message m's members (the last of duplicate keys wins).
func readMessage(m gjson.Result) chatMessage {
	var cm chatMessage
	cm.readAt(m.Raw, 0)
	return cm
}

// readAt reads the message whose source starts at s[i] and returns the
// index after it (a value that is not an object is a message with no
// members). A string content is a lazyString: unescaped only if its text is
// asked for.
func (cm *chatMessage) readAt(s string, i int) int {
	if end := membersAt(s, i, cm.member); end >= 0 {
		return end
	}
	*cm = chatMessage{}
	return valueEnd(s, i)
}

func (cm *chatMessage) member(k, raw string) {
	switch k {
	case "role":
		cm.role = gjson.Parse(raw).String()
	case "content":
		if raw[0] == '"' {
			cm.content = lazyString(raw)
		} else {
			cm.content = gjson.Parse(raw)
		}
	case "tool_calls":
		cm.toolCalls = gjson.Parse(raw)
	case "tool_call_id":
		cm.toolCall = gjson.Parse(raw)
	}
}

// turnWriter writes chat messages in a target's content format, one
// function per role. Each returns the message's blocks (comma-separated
// JSON objects; none drops the message) or the error that rejects the
// request; i is the message's index, for error paths. The walk
// (chatRequest.dialogue) calls them in message order. Functions rather
// than an interface: a writer's state (Gemini's call names) then stays on
// the caller's stack instead of escaping to the heap on every request.
type turnWriter struct {
	user, assistant, tool func(m chatMessage, i int) ([]byte, error)
}

// dialogue is the client's messages as Anthropic and Gemini take them: the
// system and developer text apart, the rest as turns of role "user" or
// "assistant", consecutive turns of one role merged and tool results sent
// as user turns.
type dialogue struct {
	system []string
	turns  []turn
}

// dialogue reads the messages in one pass, writing each with w.
func (c chatRequest) dialogue(w turnWriter) (dialogue, error) {
	var d dialogue
	var err error
	i := -1
	eachElement(c.messages.Raw, func(s string, at int) int {
		i++
		var m chatMessage
		end := m.readAt(s, at)
		var blk []byte
		switch m.role {
		case "system", "developer":
			if t := contentText(m.content); t != "" {
				d.system = append(d.system, t)
			}
		case "user":
			blk, err = w.user(m, i)
			d.turns = addTurn(d.turns, "user", blk)
		case "assistant":
			blk, err = w.assistant(m, i)
			d.turns = addTurn(d.turns, "assistant", blk)
		case "tool":
			blk, err = w.tool(m, i)
			d.turns = addTurn(d.turns, "user", blk)
		default:
			err = badRequest("messages", "unknown message role "+quote(m.role))
		}
		if err != nil {
			return at // stop
		}
		return end
	})
	if err != nil {
		return dialogue{}, err
	}
	return d, nil
}

// systemText is the system and developer text, one message a paragraph.
func (d dialogue) systemText() string { return strings.Join(d.system, "\n\n") }

// turn is one message of a target that wants alternating roles; blocks are
// comma-separated JSON objects.
type turn struct {
	role   string // "user" or "assistant"
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

// appendTurns writes turns as a JSON array of {"role":..., key:[blocks]},
// with assistant as the target's name for the assistant role.
func appendTurns(b []byte, turns []turn, assistant, key string) []byte {
	b = append(b, '[')
	for i, t := range turns {
		if i > 0 {
			b = append(b, ',')
		}
		role := t.role
		if role == "assistant" {
			role = assistant
		}
		b = append(b, `{"role":"`...)
		b = append(b, role...)
		b = append(b, `","`...)
		b = append(b, key...)
		b = append(b, `":[`...)
		b = append(b, t.blocks...)
		b = append(b, `]}`...)
	}
	return append(b, ']')
}

// appendFunctionTools writes the client's tools as comma-separated
// {"name","description",...} objects; schema writes the rest of each (the
// parameters, in the target's terms). Only function tools can be sent.
func appendFunctionTools(b []byte, ep *Endpoint, tools gjson.Result,
	schema func(b []byte, params gjson.Result) []byte) ([]byte, error) {
	var err error
	n := 0
	tools.ForEach(func(_, t gjson.Result) bool {
		var f gjson.Result
		if f, err = functionTool(ep, t); err != nil {
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
		b = schema(b, f.Get("parameters"))
		b = append(b, '}')
		return true
	})
	return b, err
}

// functionTool is tool t's function, or the refusal of a tool that is not one.
func functionTool(ep *Endpoint, t gjson.Result) (gjson.Result, error) {
	f := t.Get("function")
	if t.Get("type").String() != "function" || !f.IsObject() {
		return f, unsupported(ep, "tools", "only function tools can be sent")
	}
	return f, nil
}

// partWriter writes the parts of a user content in a target's format: each
// method appends one part, a JSON object, to b. A target that takes audio
// implements audioWriter too.
type partWriter interface {
	text(b []byte, t gjson.Result) []byte     // t: a non-empty text
	image(b []byte, mime, data string) []byte // data: base64
	imageURL(b []byte, u string) []byte       // u: an http(s) URL
	file(b []byte, mime, data string) []byte  // data: base64
}

// audioWriter writes an input_audio part (data: base64).
type audioWriter interface {
	audio(b []byte, format, data string) []byte
}

// userParts writes user content i with w: a string as one text part, else
// each part of it (as gjson's ForEach yields them); empty texts are dropped.
func userParts(ep *Endpoint, content gjson.Result, i int, w partWriter) ([]byte, error) {
	if content.Type == gjson.String {
		if emptyString(content) {
			return nil, nil
		}
		return w.text(nil, content), nil
	}
	var b []byte
	sep := func() {
		if len(b) > 0 {
			b = append(b, ',')
		}
	}
	var err error
	content.ForEach(func(_, p gjson.Result) bool {
		switch typ := p.Get("type").String(); typ {
		case "text":
			if t := p.Get("text"); t.String() != "" {
				sep()
				b = w.text(b, t)
			}
		case "image_url":
			u := p.Get("image_url.url").String()
			if mime, data, ok := dataURL(u); ok {
				sep()
				b = w.image(b, mime, data)
			} else if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
				sep()
				b = w.imageURL(b, u)
			} else {
				err = badRequest(contentPath(i), "image_url.url must be a base64 data URL or an http(s) URL")
			}
		case "input_audio":
			a, ok := w.(audioWriter)
			if !ok {
				err = unsupported(ep, contentPath(i), "content part type "+quote(typ))
				break
			}
			sep()
			b = a.audio(b, p.Get("input_audio.format").String(), p.Get("input_audio.data").String())
		case "file":
			mime, data, ok := dataURL(p.Get("file.file_data").String())
			if !ok {
				err = unsupported(ep, contentPath(i), "file parts need file_data as a base64 data URL")
				break
			}
			sep()
			b = w.file(b, mime, data)
		default:
			err = unsupported(ep, contentPath(i), "content part type "+quote(typ))
		}
		return err == nil
	})
	return b, err
}

// contentPath is the error path of message i's content.
func contentPath(i int) string { return "messages[" + itoa(i) + "].content" }

// eachToolCall calls fn for each tool call of m, message i, with its
// arguments as a JSON object; it stops at the first call whose arguments
// are not one.
func (m chatMessage) eachToolCall(i int, fn func(tc gjson.Result, args string)) error {
	var err error
	j := -1
	m.toolCalls.ForEach(func(_, tc gjson.Result) bool {
		j++
		var args string
		if args, err = toolArguments(tc.Get("function.arguments").String(), i, j); err != nil {
			return false
		}
		fn(tc, args)
		return true
	})
	return err
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
// Inspect flags the same fields (Inspection.OpenAIOnly) so that routing
// skips such targets; the two lists are kept apart on purpose, since they
// read odd values differently (n as a string or a fraction; of repeated
// keys Inspect heeds any, checkCommon the first): change one only together
// with the other.
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
		return stringText(content)
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

// str views b as a string without copying; for gjson lookups whose results
// are used before b changes.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func quote(s string) string { return strconv.Quote(s) }

func itoa(i int) string { return strconv.Itoa(i) }
