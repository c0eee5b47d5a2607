package provider

import (
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// anthropic is the Anthropic Messages wire format
// (https://docs.anthropic.com/en/api/messages, streaming:
// https://docs.anthropic.com/en/docs/build-with-claude/streaming, errors:
// https://docs.anthropic.com/en/api/errors).
type anthropic struct{}

var _ Adapter = anthropic{}

// anthropicJSONInstruction is added to the system prompt for
// response_format json_object / json_schema: Messages has no JSON mode.
const anthropicJSONInstruction = "Respond with a single valid JSON object and nothing else: no prose, no code fences."

func (anthropic) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	c, err := parseChat(ep, req)
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
	tc := c.toolChoice()
	think := thinkingFor(ep, c, tc) // anthropic_reasoning.go
	b = append(b, `,"max_tokens":`...)
	b = appendInt(b, think.maxTokens)

	rf := c.responseFormat()
	native := nativeSchema(ep, c, rf)
	switch {
	case native:
	case rf.kind == "json_object":
		d.system = append(d.system, anthropicJSONInstruction)
	case rf.kind == "json_schema":
		d.system = append(d.system, anthropicJSONInstruction+" The object must conform to this JSON Schema:\n"+rf.schema.Raw)
	}
	if len(d.system) > 0 {
		b = append(b, `,"system":`...)
		b = appendString(b, d.systemText())
	}
	b = append(b, `,"messages":`...)
	b = appendTurns(b, d.turns, "assistant", "content")
	// Newer Claude models reject temperature and top_p together: temperature
	// wins. Thinking takes neither (extended thinking's "feature
	// compatibility"): both are dropped then.
	switch t, p := c.get("temperature"), c.get("top_p"); {
	case think.budget > 0:
	case t.Type == gjson.Number:
		b = append(b, `,"temperature":`...)
		b = appendFloat(b, clamp(t.Float(), 0, 1))
	case p.Type == gjson.Number:
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
	b = think.appendJSON(b)
	if native {
		b = appendOutputFormat(b, rf.schema)
	}
	if tools := c.get("tools"); tools.IsArray() && len(tools.Array()) > 0 {
		b = append(b, `,"tools":[`...)
		if b, err = appendFunctionTools(b, ep, tools, anthropicInputSchema); err != nil {
			return nil, err
		}
		b = append(b, ']')
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
			return nil, unknownToolChoice(tc.mode)
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

// Check walks the request as Prepare does, writing nothing.
func (anthropic) Check(ep *Endpoint, req Request) error {
	return checkChat(ep, req, turnWriter{
		user: func(m chatMessage, i int) ([]byte, error) {
			if m.content.Type != gjson.String && !m.content.IsArray() {
				return nil, nil
			}
			return userParts(ep, m.content, i, noParts{})
		},
		assistant: checkToolCalls,
		tool:      func(chatMessage, int) ([]byte, error) { return nil, nil },
	})
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
		b = appendAnthropicToolID(b, tc.Get("id")) // toolids.go
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
	b = appendAnthropicToolID(b, m.toolCall) // toolids.go
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
