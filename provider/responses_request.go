package provider

import (
	"strings"

	"github.com/tidwall/gjson"
)

// This file writes a Responses request as the Chat Completions request the
// OpenAI-compatible, Anthropic and Gemini adapters take
// (https://platform.openai.com/docs/api-reference/responses/create):
//
//   - instructions becomes the first system message; input as a string
//     one user message; input items in order: messages (roles user,
//     system, developer, assistant; parts input_text / output_text / text,
//     input_image with an image_url, input_file with file_data, refusal),
//     function_call items as assistant tool calls (consecutive ones and a
//     preceding assistant message merged into one message),
//     function_call_output items as tool messages. Reasoning items are
//     dropped: another provider cannot continue them.
//   - tools (function tools only), tool_choice (auto, none, required, a
//     named function), parallel_tool_calls, text.format (json_object,
//     json_schema as response_format), max_output_tokens
//     (max_completion_tokens), temperature, top_p, user, reasoning.effort
//     (reasoning_effort), stream (with include_usage, so the answer ends
//     with its usage).
//   - Refused with a 400 naming the field, since the target cannot serve
//     them: previous_response_id, store: true, conversation, prompt,
//     background, top_logprobs, hosted tools, item references, file and
//     image ids (state OpenAI holds).
//   - Dropped: metadata, include, truncation, service_tier,
//     prompt_cache_key, safety_identifier, stream_options, text.verbosity.

// chatMsg is one chat message being written.
type chatMsg struct {
	role       string
	content    []byte // a JSON value; nil is null
	toolCalls  []toolCall
	toolCallID string
}

// chatFromResponses is the Chat Completions body for the Responses body b,
// or the 400 refusing what ep cannot serve. Unless inspected, b is
// validated first.
func chatFromResponses(ep *Endpoint, b []byte, inspected bool) ([]byte, error) {
	if !inspected && !gjson.ValidBytes(b) {
		return nil, badRequest("", "request body is not valid JSON")
	}
	root := gjson.Parse(str(b))
	if !root.IsObject() {
		return nil, badRequest("", "request body is not a JSON object")
	}
	f := make(map[string]gjson.Result, 16)
	root.ForEach(func(k, v gjson.Result) bool {
		if _, dup := f[k.Str]; !dup {
			f[k.Str] = v
		}
		return true
	})
	if err := refuseStateful(ep, f); err != nil {
		return nil, err
	}
	var msgs []chatMsg
	if in := f["instructions"]; in.Type == gjson.String && in.Str != "" {
		msgs = append(msgs, chatMsg{role: "system", content: appendRawString(nil, in)})
	}
	input := f["input"]
	switch {
	case input.Type == gjson.String:
		msgs = append(msgs, chatMsg{role: "user", content: appendRawString(nil, input)})
	case input.IsArray():
		var err error
		if msgs, err = inputMessages(ep, input, msgs); err != nil {
			return nil, err
		}
	default:
		return nil, badRequest("input", errResponsesInput.Error())
	}

	out := make([]byte, 0, len(b)+64)
	out = append(out, `{"model":`...)
	out = appendRawString(out, f["model"])
	out = append(out, `,"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			out = append(out, ',')
		}
		out = m.appendJSON(out)
	}
	out = append(out, ']')
	out, err := appendResponsesTools(ep, out, f)
	if err != nil {
		return nil, err
	}
	if rf := responseFormatOf(f["text"].Get("format")); rf != nil {
		out = appendKey(out, "response_format")
		out = append(out, rf...)
	}
	if n := f["max_output_tokens"]; n.Type == gjson.Number {
		out = appendKey(out, "max_completion_tokens")
		out = append(out, n.Raw...)
	}
	for _, k := range []string{"temperature", "top_p"} {
		if v := f[k]; v.Type == gjson.Number {
			out = appendKey(out, k)
			out = append(out, v.Raw...)
		}
	}
	if u := f["user"]; u.Type == gjson.String {
		out = appendKey(out, "user")
		out = appendRawString(out, u)
	}
	if e := f["reasoning"].Get("effort"); e.Type == gjson.String {
		out = appendKey(out, "reasoning_effort")
		out = appendRawString(out, e)
	}
	if f["stream"].Type == gjson.True {
		out = append(out, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(out, '}'), nil
}

// refuseStateful refuses the fields that need state or features only
// OpenAI holds.
func refuseStateful(ep *Endpoint, f map[string]gjson.Result) error {
	if v := f["previous_response_id"]; v.Type == gjson.String && v.Str != "" {
		return unsupported(ep, "previous_response_id", "the response it continues is stored by another provider")
	}
	if f["store"].Type == gjson.True {
		return unsupported(ep, "store", "the target stores no responses; send store: false")
	}
	for _, k := range []string{"conversation", "prompt", "background", "top_logprobs"} {
		if v := f[k]; v.Exists() && v.Type != gjson.Null && v.Type != gjson.False {
			return unsupported(ep, k, "only OpenAI's Responses API serves it")
		}
	}
	return nil
}

// inputMessages appends the chat messages of the input items to msgs.
func inputMessages(ep *Endpoint, input gjson.Result, msgs []chatMsg) ([]chatMsg, error) {
	var err error
	i := -1
	input.ForEach(func(_, item gjson.Result) bool {
		i++
		path := "input[" + itoa(i) + "]"
		typ := item.Get("type").Str
		if typ == "" && item.Get("role").Exists() {
			typ = "message"
		}
		switch typ {
		case "message":
			var m chatMsg
			if m, err = inputMessage(ep, item, path); err != nil {
				return false
			}
			msgs = append(msgs, m)
		case "function_call":
			call := toolCall{id: item.Get("call_id").String(), name: item.Get("name").String(), args: item.Get("arguments").String()}
			if call.id == "" || call.name == "" {
				err = badRequest(path, "a function_call item needs call_id and name")
				return false
			}
			if call.args == "" {
				call.args = "{}"
			}
			if n := len(msgs); n > 0 && msgs[n-1].role == "assistant" {
				msgs[n-1].toolCalls = append(msgs[n-1].toolCalls, call)
			} else {
				msgs = append(msgs, chatMsg{role: "assistant", toolCalls: []toolCall{call}})
			}
		case "function_call_output":
			id := item.Get("call_id").String()
			if id == "" {
				err = badRequest(path, "a function_call_output item needs call_id")
				return false
			}
			out := item.Get("output")
			var text string
			if out.Type == gjson.String {
				text = out.Str
			} else {
				text = partsText(out)
			}
			msgs = append(msgs, chatMsg{role: "tool", toolCallID: id, content: appendString(nil, text)})
		case "reasoning":
			// another provider's reasoning: nothing a target can continue
		default:
			if typ == "" {
				err = badRequest(path, "an input item needs a type or a role")
			} else {
				err = unsupported(ep, path, "input items of type "+quote(typ)+" are served by OpenAI's Responses API only")
			}
			return false
		}
		return true
	})
	return msgs, err
}

// inputMessage is one message item as a chat message.
func inputMessage(ep *Endpoint, item gjson.Result, path string) (chatMsg, error) {
	role := item.Get("role").String()
	switch role {
	case "user", "system", "developer", "assistant":
	default:
		return chatMsg{}, badRequest(path+".role", "role must be user, system, developer or assistant, not "+quote(role))
	}
	m := chatMsg{role: role}
	c := item.Get("content")
	if c.Type == gjson.String {
		m.content = appendRawString(nil, c)
		return m, nil
	}
	if !c.IsArray() {
		return chatMsg{}, badRequest(path+".content", "content must be a string or an array of parts")
	}
	if role != "user" {
		// chat takes text only in these roles
		m.content = appendString(nil, partsText(c))
		return m, nil
	}
	b := []byte{'['}
	var err error
	j := -1
	c.ForEach(func(_, p gjson.Result) bool {
		j++
		pp := path + ".content[" + itoa(j) + "]"
		if len(b) > 1 {
			b = append(b, ',')
		}
		switch p.Get("type").Str {
		case "input_text", "output_text", "text":
			b = append(b, `{"type":"text","text":`...)
			b = appendRawString(b, p.Get("text"))
			b = append(b, '}')
		case "input_image":
			u := p.Get("image_url")
			if u.Type != gjson.String || u.Str == "" {
				err = unsupported(ep, pp, "an image is sent by image_url; file ids name files OpenAI stores")
				return false
			}
			b = append(b, `{"type":"image_url","image_url":{"url":`...)
			b = appendRawString(b, u)
			if d := p.Get("detail"); d.Type == gjson.String {
				b = append(b, `,"detail":`...)
				b = appendRawString(b, d)
			}
			b = append(b, `}}`...)
		case "input_file":
			d := p.Get("file_data")
			if d.Type != gjson.String || d.Str == "" {
				err = unsupported(ep, pp, "a file is sent by file_data; file ids and URLs name files OpenAI fetches")
				return false
			}
			b = append(b, `{"type":"file","file":{"file_data":`...)
			b = appendRawString(b, d)
			if n := p.Get("filename"); n.Type == gjson.String {
				b = append(b, `,"filename":`...)
				b = appendRawString(b, n)
			}
			b = append(b, `}}`...)
		default:
			err = unsupported(ep, pp, "content parts of type "+quote(p.Get("type").String())+" cannot be translated")
			return false
		}
		return true
	})
	if err != nil {
		return chatMsg{}, err
	}
	m.content = append(b, ']')
	return m, nil
}

// partsText joins the text of Responses content parts.
func partsText(parts gjson.Result) string {
	var sb strings.Builder
	parts.ForEach(func(_, p gjson.Result) bool {
		switch p.Get("type").Str {
		case "input_text", "output_text", "text":
			sb.WriteString(p.Get("text").String())
		case "refusal":
			sb.WriteString(p.Get("refusal").String())
		}
		return true
	})
	return sb.String()
}

func (m chatMsg) appendJSON(b []byte) []byte {
	b = append(b, `{"role":`...)
	b = appendString(b, m.role)
	b = append(b, `,"content":`...)
	if m.content == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, m.content...)
	}
	b = appendToolCalls(b, m.toolCalls)
	if m.toolCallID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = appendString(b, m.toolCallID)
	}
	return append(b, '}')
}

// appendResponsesTools appends tools, tool_choice and parallel_tool_calls
// to b, refusing tools other than functions.
func appendResponsesTools(ep *Endpoint, b []byte, f map[string]gjson.Result) ([]byte, error) {
	if tools := f["tools"]; tools.IsArray() && len(tools.Array()) > 0 {
		b = appendKey(b, "tools")
		b = append(b, '[')
		var err error
		i := -1
		tools.ForEach(func(_, t gjson.Result) bool {
			i++
			if typ := t.Get("type").Str; typ != "function" {
				err = unsupported(ep, "tools["+itoa(i)+"]", "only function tools can be translated, not "+quote(typ))
				return false
			}
			name := t.Get("name")
			if name.Type != gjson.String || name.Str == "" {
				err = badRequest("tools["+itoa(i)+"].name", "a function tool needs a name")
				return false
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"function","function":{"name":`...)
			b = appendRawString(b, name)
			if d := t.Get("description"); d.Type == gjson.String {
				b = append(b, `,"description":`...)
				b = appendRawString(b, d)
			}
			if p := t.Get("parameters"); p.IsObject() {
				b = append(b, `,"parameters":`...)
				b = append(b, p.Raw...)
			}
			if s := t.Get("strict"); s.IsBool() {
				b = append(b, `,"strict":`...)
				b = append(b, s.Raw...)
			}
			b = append(b, `}}`...)
			return true
		})
		if err != nil {
			return nil, err
		}
		b = append(b, ']')
	}
	switch tc := f["tool_choice"]; {
	case tc.Type == gjson.String:
		switch tc.Str {
		case "auto", "none", "required":
			b = appendKey(b, "tool_choice")
			b = appendString(b, tc.Str)
		default:
			return nil, badRequest("tool_choice", "tool_choice must be auto, none, required or a function")
		}
	case tc.IsObject():
		name := tc.Get("name")
		if tc.Get("type").Str != "function" || name.Type != gjson.String {
			return nil, unsupported(ep, "tool_choice", "only a named function can be translated")
		}
		b = append(b, `,"tool_choice":{"type":"function","function":{"name":`...)
		b = appendRawString(b, name)
		b = append(b, `}}`...)
	}
	if p := f["parallel_tool_calls"]; p.IsBool() {
		b = appendKey(b, "parallel_tool_calls")
		b = append(b, p.Raw...)
	}
	return b, nil
}

// responseFormatOf is the chat response_format for a Responses
// text.format, or nil (plain text).
func responseFormatOf(format gjson.Result) []byte {
	switch format.Get("type").Str {
	case "json_object":
		return []byte(`{"type":"json_object"}`)
	case "json_schema":
		b := []byte(`{"type":"json_schema","json_schema":{"name":`)
		name := format.Get("name")
		if name.Type == gjson.String {
			b = appendRawString(b, name)
		} else {
			b = append(b, `"response"`...)
		}
		if d := format.Get("description"); d.Type == gjson.String {
			b = append(b, `,"description":`...)
			b = appendRawString(b, d)
		}
		if s := format.Get("schema"); s.IsObject() {
			b = append(b, `,"schema":`...)
			b = append(b, s.Raw...)
		}
		if s := format.Get("strict"); s.IsBool() {
			b = append(b, `,"strict":`...)
			b = append(b, s.Raw...)
		}
		return append(b, `}}`...)
	}
	return nil
}
