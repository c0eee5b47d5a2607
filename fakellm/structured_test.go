package fakellm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// testSchema exercises what structured-output schemas use: nested
// objects, arrays with minItems, enums, bounds, a nullable field, a $ref
// into $defs, formats and additionalProperties: false.
const testSchema = `{"type":"object","additionalProperties":false,
 "required":["city","days","unit","tags","when","owner","note"],
 "properties":{
  "city":{"type":"string","minLength":12},
  "days":{"type":"integer","minimum":3,"maximum":10},
  "ratio":{"type":"number","exclusiveMinimum":1.5},
  "unit":{"type":"string","enum":["celsius","fahrenheit"]},
  "tags":{"type":"array","items":{"type":"string"},"minItems":2},
  "when":{"type":"string","format":"date-time"},
  "owner":{"$ref":"#/$defs/person"},
  "note":{"anyOf":[{"type":"string"},{"type":"null"}]},
  "ok":{"type":["boolean","null"]}},
 "$defs":{"person":{"type":"object","additionalProperties":false,"required":["name"],
  "properties":{"name":{"type":"string"},"email":{"type":"string","format":"email"}}}}}`

// geminiSchema is testSchema's core in Gemini's Schema form (upper-case
// types, no $ref).
const geminiSchema = `{"type":"OBJECT","required":["city","days"],"properties":{
 "city":{"type":"STRING","minLength":12},"days":{"type":"INTEGER","minimum":3},
 "unit":{"type":"STRING","enum":["celsius","fahrenheit"]},"tags":{"type":"ARRAY","items":{"type":"STRING"}}}}`

// validate fails t unless doc is JSON valid against schema.
func validate(t *testing.T, schema, doc string) {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("schema.json", s); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("answer is not JSON: %v: %q", err, doc)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("answer %s is not valid against the schema: %v", doc, err)
	}
}

// TestStructured_JSONAndToolCallsInEveryShape verifies a request asking
// for JSON gets JSON valid against its schema and a request offering tools
// gets a call of the right tool with arguments valid against its
// parameters, in OpenAI's, Anthropic's and Gemini's shapes, streamed and
// not.
func TestStructured_JSONAndToolCallsInEveryShape(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "fake"})
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name   string
		path   string
		body   string
		schema string // what the answer must be valid against
		tool   string // the tool the answer must call; empty: JSON text
	}{
		{"openai json_schema", "/v1/chat/completions", `{"model":"m",` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":` + testSchema + `}}}`, testSchema, ""},
		{"openai json_object", "/v1/chat/completions", `{"model":"m",` + msgs + `,"response_format":{"type":"json_object"}}`, `{"type":"object"}`, ""},
		{"openai tools", "/v1/chat/completions", `{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"other","parameters":{"type":"object"}}},{"type":"function","function":{"name":"get_weather","parameters":` + testSchema + `}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`, testSchema, "get_weather"},
		{"openai tools auto", "/v1/chat/completions", `{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"get_weather","parameters":` + testSchema + `}}]}`, testSchema, "get_weather"},
		{"responses text.format", "/v1/responses", `{"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"w","strict":true,"schema":` + testSchema + `}}}`, testSchema, ""},
		{"responses tools", "/v1/responses", `{"model":"m","input":"hi","tools":[{"type":"function","name":"get_weather","parameters":` + testSchema + `}],"tool_choice":"required"}`, testSchema, "get_weather"},
		{"anthropic output_format", "/v1/messages", `{"model":"m","max_tokens":100,` + msgs + `,"output_format":{"type":"json_schema","schema":` + testSchema + `}}`, testSchema, ""},
		{"anthropic output_config.format", "/v1/messages", `{"model":"m","max_tokens":100,` + msgs + `,"output_config":{"format":{"type":"json_schema","schema":` + testSchema + `}}}`, testSchema, ""},
		{"anthropic tools", "/v1/messages", `{"model":"m","max_tokens":100,` + msgs + `,"tools":[{"name":"get_weather","description":"d","input_schema":` + testSchema + `}],"tool_choice":{"type":"any"}}`, testSchema, "get_weather"},
		{"gemini responseJsonSchema", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":` + testSchema + `}}`, testSchema, ""},
		{"gemini responseSchema", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":` + geminiSchema + `}}`, strings.ToLower(geminiSchema), ""},
		{"gemini tools", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","parametersJsonSchema":` + testSchema + `}]}]}`, testSchema, "get_weather"},
	} {
		for _, streamed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/streamed=%v", tc.name, streamed), func(t *testing.T) {
				path, body := tc.path, tc.body
				if streamed {
					if strings.Contains(path, ":generateContent") {
						path = strings.Replace(path, ":generateContent", ":streamGenerateContent?alt=sse", 1)
					} else {
						body = strings.Replace(body, `{"model":"m",`, `{"model":"m","stream":true,`, 1)
					}
				}
				resp, b := e.post(path, body)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, b)
				}
				tool, out, finish := reassemble(t, tc.path, streamed, b)
				if tool != tc.tool {
					t.Errorf("tool called %q, want %q", tool, tc.tool)
				}
				wantFinish := map[string]map[bool]string{
					"/v1/chat/completions":             {false: "stop", true: "tool_calls"},
					"/v1/messages":                     {false: "end_turn", true: "tool_use"},
					"/v1/responses":                    {false: "completed", true: "completed"},
					"/v1beta/models/g:generateContent": {false: "STOP", true: "STOP"},
				}[tc.path][tc.tool != ""]
				if finish != wantFinish {
					t.Errorf("finish reason %q, want %q", finish, wantFinish)
				}
				validate(t, tc.schema, out)
			})
		}
	}
}

// reassemble reads an answer of the API at path: the tool called (if
// any), the JSON text or arguments, and the finish reason.
func reassemble(t *testing.T, path string, streamed bool, b []byte) (tool, out, finish string) {
	t.Helper()
	var chunks []string
	if streamed {
		for _, ev := range parseSSE(t, b) {
			if ev.Data != "[DONE]" {
				chunks = append(chunks, ev.Data)
			}
		}
	} else {
		chunks = []string{string(b)}
	}
	var sb strings.Builder
	for _, c := range chunks {
		g := gjson.Parse(c)
		switch path {
		case "/v1/chat/completions":
			m := g.Get("choices.0.message")
			if streamed {
				m = g.Get("choices.0.delta")
			}
			sb.WriteString(m.Get("content").String())
			if n := m.Get("tool_calls.0.function.name").String(); n != "" {
				tool = n
			}
			sb.WriteString(m.Get("tool_calls.0.function.arguments").String())
			if f := g.Get("choices.0.finish_reason").String(); f != "" {
				finish = f
			}
		case "/v1/responses":
			r := g
			if streamed {
				r = g.Get("response")
				sb.WriteString(g.Get("delta").String())
				if n := g.Get("item.name").String(); n != "" {
					tool = n
				}
			} else {
				if it := r.Get("output.0"); it.Get("type").String() == "function_call" {
					tool = it.Get("name").String()
					sb.WriteString(it.Get("arguments").String())
				} else {
					sb.WriteString(it.Get("content.0.text").String())
				}
			}
			if st := r.Get("status").String(); st != "" {
				finish = st
			}
		case "/v1/messages":
			if !streamed {
				if g.Get("content.0.type").String() == "tool_use" {
					tool = g.Get("content.0.name").String()
					sb.WriteString(g.Get("content.0.input").Raw)
				} else {
					sb.WriteString(g.Get("content.0.text").String())
				}
				finish = g.Get("stop_reason").String()
				continue
			}
			if n := g.Get("content_block.name").String(); n != "" {
				tool = n
			}
			sb.WriteString(g.Get("delta.text").String())
			sb.WriteString(g.Get("delta.partial_json").String())
			if f := g.Get("delta.stop_reason").String(); f != "" {
				finish = f
			}
		default:
			p := g.Get("candidates.0.content.parts.0")
			if fc := p.Get("functionCall"); fc.Exists() {
				tool = fc.Get("name").String()
				sb.WriteString(fc.Get("args").Raw)
			}
			sb.WriteString(p.Get("text").String())
			if f := g.Get("candidates.0.finishReason").String(); f != "" {
				finish = f
			}
		}
	}
	return tool, sb.String(), finish
}

// TestStructured_ResponsesSDK verifies the official openai-go SDK reads
// fakellm's Responses API answers: text, a function call, and a streamed
// text whose events it accepts, ending in response.completed.
func TestStructured_ResponsesSDK(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "fake"})
	client := openai.NewClient(option.WithBaseURL(e.rs.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithHTTPClient(e.c), option.WithMaxRetries(0))
	ctx := context.Background()
	text := responses.ResponseNewParams{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}}
	got, err := client.Responses.New(ctx, text)
	if err != nil {
		t.Fatal(err)
	}
	if got.OutputText() != "Hello from fake (m)." || got.Usage.TotalTokens == 0 {
		t.Errorf("output text %q, usage %+v; want the greeting and usage", got.OutputText(), got.Usage)
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(testSchema), &params); err != nil {
		t.Fatal(err)
	}
	withTool := text
	withTool.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather", Parameters: params, Strict: openai.Bool(true)}}}
	got, err = client.Responses.New(ctx, withTool)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Output) != 1 || got.Output[0].Type != "function_call" || got.Output[0].Name != "get_weather" {
		t.Fatalf("output %+v, want one get_weather function_call", got.Output)
	}
	validate(t, testSchema, got.Output[0].AsFunctionCall().Arguments)

	stream := client.Responses.NewStreaming(ctx, text)
	var deltas strings.Builder
	var last string
	for stream.Next() {
		ev := stream.Current()
		if ev.Type == "response.output_text.delta" {
			deltas.WriteString(ev.Delta)
		}
		last = ev.Type
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if deltas.String() != "Hello from fake (m)." || last != "response.completed" {
		t.Errorf("streamed %q ending in %s, want the greeting ending in response.completed", deltas.String(), last)
	}
}

// TestStructured_ToolResultGetsText verifies a request whose last message
// is a tool result gets a text answer, not another tool call, in every
// shape, so an agent loop against fakellm ends.
func TestStructured_ToolResultGetsText(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "fake"})
	for _, tc := range []struct{ name, path, body, toolField string }{
		{"openai", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"sunny"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`, "choices.0.message.tool_calls"},
		{"anthropic", "/v1/messages", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"sunny"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}]}`, `content.#(type=="tool_use")`},
		{"responses", "/v1/responses", `{"model":"m","input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"sunny"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]}`, `output.#(type=="function_call")`},
		{"gemini", "/v1beta/models/g:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"r":"sunny"}}}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}]}`, "candidates.0.content.parts.0.functionCall"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b := e.post(tc.path, tc.body)
			if gjson.GetBytes(b, tc.toolField).Exists() {
				t.Errorf("got another tool call after a tool result: %s", b)
			}
			if !bytes.Contains(b, []byte("Hello from fake")) {
				t.Errorf("want the text answer, got %s", b)
			}
		})
	}
}

// TestStructured_OpenAISDK verifies the official openai-go SDK reads
// fakellm's tool calls and JSON answers, streamed (with its accumulator)
// and not.
func TestStructured_OpenAISDK(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "fake"})
	client := openai.NewClient(option.WithBaseURL(e.rs.URL+"/v1/"), option.WithAPIKey("sk-test"), option.WithHTTPClient(e.c), option.WithMaxRetries(0))
	var params map[string]any
	if err := json.Unmarshal([]byte(testSchema), &params); err != nil {
		t.Fatal(err)
	}
	tools := openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: "get_weather", Parameters: openai.FunctionParameters(params)})},
	}
	ctx := context.Background()
	got, err := client.Chat.Completions.New(ctx, tools)
	if err != nil {
		t.Fatal(err)
	}
	if calls := got.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Name != "get_weather" {
		t.Fatalf("tool calls %+v, want one of get_weather", calls)
	}
	validate(t, testSchema, got.Choices[0].Message.ToolCalls[0].Function.Arguments)

	stream := client.Chat.Completions.NewStreaming(ctx, tools)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if calls := acc.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Name != "get_weather" {
		t.Fatalf("streamed tool calls %+v, want one of get_weather", calls)
	}
	validate(t, testSchema, acc.Choices[0].Message.ToolCalls[0].Function.Arguments)

	jsonReq := openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
			JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "w", Schema: params, Strict: openai.Bool(true)}}},
	}
	got, err = client.Chat.Completions.New(ctx, jsonReq)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, testSchema, got.Choices[0].Message.Content)
}
