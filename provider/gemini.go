package provider

import (
	"net/url"
	"path"
	"strings"

	"github.com/tidwall/gjson"
)

// gemini is the Gemini API generateContent wire format
// (https://ai.google.dev/api/generate-content, function calling:
// https://ai.google.dev/gemini-api/docs/function-calling, errors:
// https://ai.google.dev/gemini-api/docs/troubleshooting).
type gemini struct{}

var _ Adapter = gemini{}

// geminiThoughtSignature is Gemini's documented placeholder signature for
// function calls that did not come from Gemini itself (another provider
// answered the earlier turn); Gemini 3 rejects function calls without one.
const geminiThoughtSignature = "skip_thought_signature_validator"

func (gemini) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	c, err := parseChat(ep, req)
	if err != nil {
		return nil, err
	}
	w := geminiTurns{ep: ep, names: map[string]string{}, calls: &geminiCalls{messages: c.messages}}
	d, err := c.dialogue(turnWriter{user: w.user, assistant: w.assistant, tool: w.tool})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(req.Body)+256)
	b = append(b, '{')
	if len(d.system) > 0 {
		b = append(b, `"systemInstruction":{"parts":[{"text":`...)
		b = appendString(b, d.systemText())
		b = append(b, `}]},`...)
	}
	b = append(b, `"contents":`...)
	b = appendTurns(b, d.turns, "model", "parts")

	if tools := c.get("tools"); tools.IsArray() && len(tools.Array()) > 0 {
		b = append(b, `,"tools":[{"functionDeclarations":[`...)
		if b, err = appendFunctionTools(b, ep, tools, geminiParameters); err != nil {
			return nil, err
		}
		b = append(b, `]}]`...)
		switch tc := c.toolChoice(); tc.mode {
		case "", "auto":
		case "none":
			b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}`...)
		case "required":
			b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}`...)
		case "function":
			b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":[`...)
			b = appendString(b, tc.name)
			b = append(b, `]}}`...)
		default:
			return nil, unknownToolChoice(tc.mode)
		}
	}

	g := len(b)
	b = append(b, `,"generationConfig":{`...)
	open := len(b)
	if mt, ok := c.maxTokens(); ok {
		b = appendKey(b, "maxOutputTokens")
		b = appendInt(b, mt)
	}
	if t := c.get("temperature"); t.Type == gjson.Number {
		b = appendKey(b, "temperature")
		b = appendFloat(b, clamp(t.Float(), 0, 2))
	}
	if p := c.get("top_p"); p.Type == gjson.Number {
		b = appendKey(b, "topP")
		b = appendFloat(b, clamp(p.Float(), 0, 1))
	}
	if stops := c.stops(); len(stops) > 0 {
		b = appendKey(b, "stopSequences")
		b = appendStrings(b, stops)
	}
	for _, k := range [...][2]string{{"presence_penalty", "presencePenalty"}, {"frequency_penalty", "frequencyPenalty"}} {
		if v := c.get(k[0]); v.Type == gjson.Number {
			b = appendKey(b, k[1])
			b = appendFloat(b, v.Float())
		}
	}
	if s := c.get("seed"); s.Type == gjson.Number {
		b = appendKey(b, "seed")
		b = appendInt(b, s.Int())
	}
	switch rf := c.responseFormat(); rf.kind {
	case "json_object":
		b = appendKey(b, "responseMimeType")
		b = append(b, `"application/json"`...)
	case "json_schema":
		b = appendKey(b, "responseMimeType")
		b = append(b, `"application/json"`...)
		if rf.schema.IsObject() {
			b = appendKey(b, "responseJsonSchema")
			b = append(b, rf.schema.Raw...)
		}
	}
	b = appendGeminiThinking(b, ep, c) // gemini_reasoning.go
	if len(b) == open {
		b = b[:g]
	} else {
		b = append(b, '}')
	}
	b = append(b, '}')

	model := strings.TrimPrefix(req.Model, "models/")
	p := &Prepared{Path: ep.BasePath + "/models/" + url.PathEscape(model) + ":generateContent", Body: b}
	if req.Stream {
		p.Path = ep.BasePath + "/models/" + url.PathEscape(model) + ":streamGenerateContent?alt=sse"
	}
	if ep.AuthValue != "" {
		p.Headers = append(p.Headers, Header{Key: ep.AuthHeader, Value: ep.AuthValue})
	}
	return p, nil
}

// Check walks the request as Prepare does, writing nothing.
func (gemini) Check(ep *Endpoint, req Request) error {
	ids := map[string]bool{} // earlier assistant tool calls, as geminiTurns.names
	return checkChat(ep, req, turnWriter{
		user: func(m chatMessage, i int) ([]byte, error) { return userParts(ep, m.content, i, noPartsAudio{}) },
		assistant: func(m chatMessage, i int) ([]byte, error) {
			return nil, m.eachToolCall(i, func(tc gjson.Result, _ string) { ids[tc.Get("id").String()] = true })
		},
		tool: func(m chatMessage, i int) ([]byte, error) {
			if id := m.toolCall.String(); !ids[id] {
				return nil, geminiUnknownCall(i, id)
			}
			return nil, nil
		},
	})
}

// geminiParameters writes a tool's parameters, when it has them.
func geminiParameters(b []byte, params gjson.Result) []byte {
	if !params.IsObject() {
		return b
	}
	b = append(b, `,"parametersJsonSchema":`...)
	return append(b, params.Raw...)
}

// geminiTurns writes chat messages as Gemini parts. names is each earlier
// assistant tool call's function name by call id: a functionResponse must
// repeat the name, and tool messages give only the id.
type geminiTurns struct {
	ep    *Endpoint
	names map[string]string
	calls *geminiCalls // the order of calls and results (toolids.go)
}

// assistant writes an assistant message: text, then functionCall parts.
func (w geminiTurns) assistant(m chatMessage, i int) ([]byte, error) {
	var b []byte
	if t := contentText(m.content); t != "" {
		b = append(b, `{"text":`...)
		b = appendString(b, t)
		b = append(b, '}')
	}
	group := w.calls.newGroup()
	err := m.eachToolCall(i, func(tc gjson.Result, args string) {
		name := tc.Get("function.name").String()
		w.names[tc.Get("id").String()] = name
		w.calls.add(group, tc.Get("id").String())
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"functionCall":{"name":`...)
		b = appendString(b, name)
		b = append(b, `,"args":`...)
		b = append(b, args...)
		b = append(b, `},"thoughtSignature":"`+geminiThoughtSignature+`"}`...)
	})
	return b, err
}

// tool writes tool message i, and the other results of its assistant
// message's calls that follow it, as functionResponse parts in the order of
// the calls (geminiCalls.results): Gemini pairs calls and responses by name
// and order.
func (w geminiTurns) tool(m chatMessage, i int) ([]byte, error) {
	id := m.toolCall.String()
	if _, ok := w.names[id]; !ok {
		return nil, geminiUnknownCall(i, id)
	}
	var b []byte
	for _, r := range w.calls.results(m, i) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = w.functionResponse(b, r)
	}
	return b, nil
}

// functionResponse writes tool message m as a functionResponse part: its
// content when that is a JSON object, else {"content": text}.
func (w geminiTurns) functionResponse(b []byte, m chatMessage) []byte {
	name := w.names[m.toolCall.String()]
	b = append(b, `{"functionResponse":{"name":`...)
	b = appendString(b, name)
	b = append(b, `,"response":`...)
	t := contentText(m.content)
	if r := gjson.Parse(t); gjson.Valid(t) && r.IsObject() {
		b = append(b, t...)
	} else {
		b = append(b, `{"content":`...)
		b = appendString(b, t)
		b = append(b, '}')
	}
	return append(b, `}}`...)
}

// geminiUnknownCall refuses tool message i, whose call id names no earlier call.
func geminiUnknownCall(i int, id string) *Error {
	return badRequest("messages["+itoa(i)+"].tool_call_id",
		"no earlier assistant tool call has id "+quote(id)+" (Gemini needs the function name)")
}

// user writes a user content as text, inlineData and fileData parts.
func (w geminiTurns) user(m chatMessage, i int) ([]byte, error) {
	return userParts(w.ep, m.content, i, geminiParts{})
}

// geminiParts writes user content parts as Gemini parts.
type geminiParts struct{}

var (
	_ partWriter  = geminiParts{}
	_ audioWriter = geminiParts{}
)

func (geminiParts) text(b []byte, t gjson.Result) []byte {
	b = append(b, `{"text":`...)
	b = appendRawString(b, t)
	return append(b, '}')
}

func (geminiParts) image(b []byte, mime, data string) []byte { return geminiInline(b, mime, data) }

func (geminiParts) imageURL(b []byte, u string) []byte {
	b = append(b, `{"fileData":{"mimeType":`...)
	b = appendString(b, imageMIME(u))
	b = append(b, `,"fileUri":`...)
	b = appendString(b, u)
	return append(b, `}}`...)
}

func (geminiParts) file(b []byte, mime, data string) []byte { return geminiInline(b, mime, data) }

func (geminiParts) audio(b []byte, format, data string) []byte {
	return geminiInline(b, "audio/"+format, data)
}

// geminiInline writes an inlineData part.
func geminiInline(b []byte, mime, data string) []byte {
	b = append(b, `{"inlineData":{"mimeType":`...)
	b = appendString(b, mime)
	b = append(b, `,"data":`...)
	b = appendString(b, data)
	return append(b, `}}`...)
}

// imageMIME guesses an image URL's type from its extension (Gemini's
// fileData needs one); JPEG when unknown.
func imageMIME(u string) string {
	p := u
	if pu, err := url.Parse(u); err == nil {
		p = pu.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	}
	return "image/jpeg"
}
