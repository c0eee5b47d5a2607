package fakellm

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// output is what a request asks the answer to be instead of the greeting:
// JSON valid against a schema (OpenAI response_format, Anthropic
// output_format, Gemini responseSchema / responseJsonSchema) or a call of
// one of the tools it offers.
type output struct {
	// schema is the JSON Schema the answer's text must satisfy; jsonOut
	// without a schema asks for any JSON object (json_object).
	schema  gjson.Result
	jsonOut bool
	// tool is the tool to call (name and parameter schema); empty name:
	// no tool call.
	tool toolSpec
}

// toolSpec is an offered tool.
type toolSpec struct {
	name   string
	params gjson.Result
}

// parseOutput reads what a request of shape asks for. A request whose last
// message is a tool result gets text (or JSON), not another tool call, so
// an agent loop ends.
func parseOutput(shape Shape, body []byte) output {
	var o output
	get := func(path string) gjson.Result { return gjson.GetBytes(body, path) }
	var tools []toolSpec
	var choice, forced string // choice: auto, none, required
	switch shape {
	case ShapeOpenAI:
		// https://platform.openai.com/docs/guides/structured-outputs and
		// https://platform.openai.com/docs/guides/function-calling
		switch get("response_format.type").String() {
		case "json_schema":
			o.jsonOut, o.schema = true, get("response_format.json_schema.schema")
		case "json_object":
			o.jsonOut = true
		}
		for _, t := range get("tools").Array() {
			if t.Get("type").String() == "function" {
				tools = append(tools, toolSpec{t.Get("function.name").String(), t.Get("function.parameters")})
			}
		}
		tc := get("tool_choice")
		choice = tc.String()
		if tc.IsObject() {
			choice, forced = "required", tc.Get("function.name").String()
		}
		if last := get("messages.@reverse.0.role").String(); last == "tool" || last == "function" {
			tools = nil
		}
	case ShapeResponses:
		// https://platform.openai.com/docs/api-reference/responses/create:
		// text.format and flat function tools.
		switch get("text.format.type").String() {
		case "json_schema":
			o.jsonOut, o.schema = true, get("text.format.schema")
		case "json_object":
			o.jsonOut = true
		}
		for _, t := range get("tools").Array() {
			if t.Get("type").String() == "function" {
				tools = append(tools, toolSpec{t.Get("name").String(), t.Get("parameters")})
			}
		}
		tc := get("tool_choice")
		choice = tc.String()
		if tc.IsObject() {
			choice, forced = "required", tc.Get("name").String()
		}
		if get("input.@reverse.0.type").String() == "function_call_output" {
			tools = nil
		}
	case ShapeAnthropic:
		// https://docs.anthropic.com/en/docs/build-with-claude/structured-outputs
		// and https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use
		// output_config.format is the current field, output_format the
		// earlier beta's; llm-failover sends the current one.
		for _, path := range []string{"output_config.format", "output_format"} {
			if f := get(path); f.Get("type").String() == "json_schema" {
				o.jsonOut, o.schema = true, f.Get("schema")
				break
			}
		}
		for _, t := range get("tools").Array() {
			if t.Get("name").Exists() && t.Get("input_schema").Exists() {
				tools = append(tools, toolSpec{t.Get("name").String(), t.Get("input_schema")})
			}
		}
		switch tc := get("tool_choice"); tc.Get("type").String() {
		case "none":
			choice = "none"
		case "any":
			choice = "required"
		case "tool":
			choice, forced = "required", tc.Get("name").String()
		}
		for _, b := range get("messages.@reverse.0.content").Array() {
			if b.Get("type").String() == "tool_result" {
				tools = nil
			}
		}
	case ShapeGemini:
		// https://ai.google.dev/gemini-api/docs/structured-output and
		// https://ai.google.dev/gemini-api/docs/function-calling
		gc := get("generationConfig")
		if s := gc.Get("responseJsonSchema"); s.Exists() {
			o.jsonOut, o.schema = true, s
		} else if s := gc.Get("responseSchema"); s.Exists() {
			o.jsonOut, o.schema = true, geminiSchema(s)
		} else if gc.Get("responseMimeType").String() == "application/json" {
			o.jsonOut = true
		}
		for _, t := range get("tools").Array() {
			for _, f := range t.Get("functionDeclarations").Array() {
				p := f.Get("parametersJsonSchema")
				if !p.Exists() {
					p = geminiSchema(f.Get("parameters"))
				}
				tools = append(tools, toolSpec{f.Get("name").String(), p})
			}
		}
		fc := get("toolConfig.functionCallingConfig")
		switch fc.Get("mode").String() {
		case "NONE":
			choice = "none"
		case "ANY":
			choice = "required"
			if names := fc.Get("allowedFunctionNames").Array(); len(names) > 0 {
				forced = names[0].String()
			}
		}
		for _, p := range get("contents.@reverse.0.parts").Array() {
			if p.Get("functionResponse").Exists() {
				tools = nil
			}
		}
	}
	if len(tools) == 0 || choice == "none" {
		return o
	}
	o.tool = tools[0]
	if i := slices.IndexFunc(tools, func(t toolSpec) bool { return t.name == forced }); i >= 0 {
		o.tool = tools[i]
	}
	return o
}

// geminiSchema turns a Gemini Schema (OpenAPI 3.0 subset, upper-case type
// names such as "OBJECT") into JSON Schema for the generator.
func geminiSchema(s gjson.Result) gjson.Result {
	if !s.Exists() {
		return s
	}
	var v any
	if json.Unmarshal([]byte(s.Raw), &v) != nil {
		return s
	}
	var lower func(any) any
	lower = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "type" {
					if t, ok := e.(string); ok {
						x[k] = strings.ToLower(t)
						continue
					}
				}
				x[k] = lower(e)
			}
		case []any:
			for i, e := range x {
				x[i] = lower(e)
			}
		}
		return v
	}
	return gjson.ParseBytes(mustJSON(lower(v)))
}

// exampleJSON is a value valid against schema: every property (required
// or not), an enum's or const's first value, minimums met, the first
// branch of anyOf/oneOf, local $refs followed. It is deterministic.
func exampleJSON(schema gjson.Result) []byte {
	return mustJSON((&exampler{root: schema}).value(schema, 0))
}

type exampler struct {
	root  gjson.Result
	nodes int // values made so far
}

// Bounds that keep a hostile or recursive schema from making a huge answer:
// the nesting followed, the values made, an array's items and a string's
// length.
const (
	maxDepth     = 16
	maxNodes     = 10000
	maxItems     = 100
	maxStringLen = 10000
)

func (e *exampler) value(s gjson.Result, depth int) any {
	e.nodes++
	if depth > maxDepth || e.nodes > maxNodes || !s.IsObject() {
		if depth == 0 {
			return map[string]any{"answer": "ok"}
		}
		return nil
	}
	if ref := s.Get("$ref").String(); strings.HasPrefix(ref, "#/") {
		path := strings.ReplaceAll(strings.TrimPrefix(ref, "#/"), "/", ".")
		return e.value(e.root.Get(path), depth+1)
	}
	if c := s.Get("const"); c.Exists() {
		return c.Value()
	}
	if en := s.Get("enum").Array(); len(en) > 0 {
		return en[0].Value()
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if br := s.Get(k).Array(); len(br) > 0 {
			for _, b := range br { // the first branch that is not null
				if b.Get("type").String() != "null" {
					return e.value(b, depth+1)
				}
			}
			return nil
		}
	}
	if all := s.Get("allOf").Array(); len(all) > 0 {
		out := map[string]any{}
		for _, b := range all {
			if m, ok := e.value(b, depth+1).(map[string]any); ok {
				for k, v := range m {
					out[k] = v
				}
			}
		}
		return out
	}
	t := s.Get("type")
	typ := t.String()
	if t.IsArray() { // ["string", "null"]: the first that is not null
		for _, x := range t.Array() {
			if typ = x.String(); typ != "null" {
				break
			}
		}
	}
	if typ == "" && s.Get("properties").Exists() {
		typ = "object"
	}
	switch typ {
	case "object":
		out := map[string]any{}
		s.Get("properties").ForEach(func(k, p gjson.Result) bool {
			out[k.String()] = e.value(p, depth+1)
			return true
		})
		return out
	case "array":
		n := min(max(1, int(s.Get("minItems").Int())), maxItems)
		if mx := s.Get("maxItems"); mx.Exists() {
			n = max(0, min(n, int(mx.Int())))
		}
		out := make([]any, n)
		for i := range out {
			out[i] = e.value(s.Get("items"), depth+1)
		}
		return out
	case "string":
		return exampleString(s)
	case "integer":
		return exampleNumber(s, true)
	case "number":
		return exampleNumber(s, false)
	case "boolean":
		return true
	case "null":
		return nil
	}
	return "example"
}

// exampleString is a string of the schema's format, at least minLength
// long and at most maxLength.
func exampleString(s gjson.Result) string {
	v := "example"
	switch s.Get("format").String() {
	case "date-time":
		v = "2026-01-01T00:00:00Z"
	case "date":
		v = "2026-01-01"
	case "time":
		v = "00:00:00Z"
	case "email":
		v = "user@example.com"
	case "uri":
		v = "https://example.com/"
	case "uuid":
		v = "00000000-0000-4000-8000-000000000000"
	}
	if n := min(int(s.Get("minLength").Int()), maxStringLen); len(v) < n {
		v += strings.Repeat("x", n-len(v))
	}
	if mx := s.Get("maxLength"); mx.Exists() && len(v) > int(mx.Int()) {
		v = v[:max(0, mx.Int())]
	}
	return v
}

// exampleNumber is a number within the schema's bounds: 1 unless a bound
// excludes it.
func exampleNumber(s gjson.Result, integer bool) any {
	v := 1.0
	if m := s.Get("minimum"); m.Exists() && v < m.Float() {
		v = m.Float()
	}
	if m := s.Get("exclusiveMinimum"); m.Exists() && v <= m.Float() {
		v = m.Float() + 1
	}
	if m := s.Get("maximum"); m.Exists() && v > m.Float() {
		v = m.Float()
	}
	if m := s.Get("exclusiveMaximum"); m.Exists() && v >= m.Float() {
		v = m.Float() - 1
	}
	if integer {
		return int64(v)
	}
	return v
}

// pieces splits s into stream deltas of about n bytes (at least one).
func pieces(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// toolCallID is the id of an answer's tool call in the shape's form.
func toolCallID(prefix string, a *answer) string { return fmt.Sprintf("%s_%s", prefix, a.id) }
