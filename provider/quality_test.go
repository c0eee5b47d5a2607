package provider

import (
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// allChecks turns every quality check on, truncation below half of max_tokens.
var allChecks = QualityChecks{Empty: true, InvalidJSON: true, TruncatedBelow: 0.5, Refusal: true}

// TestJudgeAnswer_ChatCompletions verifies each check on Chat Completions
// answers, and that an answer passing or a check turned off gives no verdict.
func TestJudgeAnswer_ChatCompletions(t *testing.T) {
	const schemaReq = `{"max_tokens":100,"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}}}}`
	chat := func(msg, finish string, completion int) string {
		return `{"object":"chat.completion","choices":[{"index":0,"message":` + msg + `,"finish_reason":"` + finish +
			`"}],"usage":{"prompt_tokens":5,"completion_tokens":` + itoa(completion) + `}}`
	}
	tests := []struct {
		name   string
		req    string
		answer string
		checks QualityChecks
		want   QualityReason
	}{
		{"good text", `{}`, chat(`{"role":"assistant","content":"hi"}`, "stop", 1), allChecks, QualityOK},
		{"null content no tool calls is empty", `{}`, chat(`{"role":"assistant","content":null}`, "stop", 0), allChecks, QualityEmpty},
		{"whitespace content is empty", `{}`, chat(`{"role":"assistant","content":" \n"}`, "stop", 1), allChecks, QualityEmpty},
		{"empty with the check off passes", `{}`, chat(`{"role":"assistant","content":""}`, "stop", 0), QualityChecks{Refusal: true}, QualityOK},
		{"tool call without content is not empty", `{}`, chat(`{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}`, "tool_calls", 3), allChecks, QualityOK},
		{"refusal field", `{}`, chat(`{"role":"assistant","content":null,"refusal":"I can't help with that."}`, "stop", 5), allChecks, QualityRefusal},
		{"content_filter finish is a refusal", `{}`, chat(`{"role":"assistant","content":""}`, "content_filter", 0), allChecks, QualityRefusal},
		{"refusal with the check off is neither empty nor failed", `{}`, chat(`{"role":"assistant","content":""}`, "content_filter", 0), QualityChecks{Empty: true}, QualityOK},
		{"length far below max_tokens is truncated", `{"max_tokens":100}`, chat(`{"role":"assistant","content":"Once upon"}`, "length", 2), allChecks, QualityTruncated},
		{"max_completion_tokens wins over max_tokens", `{"max_tokens":4,"max_completion_tokens":100}`, chat(`{"role":"assistant","content":"Once"}`, "length", 3), allChecks, QualityTruncated},
		{"length at the share passes", `{"max_tokens":100}`, chat(`{"role":"assistant","content":"long"}`, "length", 50), allChecks, QualityOK},
		{"length at max_tokens passes", `{"max_tokens":100}`, chat(`{"role":"assistant","content":"long"}`, "length", 100), allChecks, QualityOK},
		{"length without max_tokens is truncated", `{}`, chat(`{"role":"assistant","content":"long"}`, "length", 1000), allChecks, QualityTruncated},
		{"length with truncation off passes", `{}`, chat(`{"role":"assistant","content":"long"}`, "length", 1000), QualityChecks{Empty: true}, QualityOK},
		{"empty answer cut for length is truncated", `{"max_tokens":100}`, chat(`{"role":"assistant","content":""}`, "length", 0), allChecks, QualityTruncated},
		{"json_object answered with prose", `{"response_format":{"type":"json_object"}}`, chat(`{"role":"assistant","content":"Sure! {\"a\":1}"}`, "stop", 5), allChecks, QualityInvalidJSON},
		{"json_object answered with an array", `{"response_format":{"type":"json_object"}}`, chat(`{"role":"assistant","content":"[1]"}`, "stop", 5), allChecks, QualityInvalidJSON},
		{"json_object answered with an object", `{"response_format":{"type":"json_object"}}`, chat(`{"role":"assistant","content":" {\"a\":1} "}`, "stop", 5), allChecks, QualityOK},
		{"json_schema answered valid", schemaReq, chat(`{"role":"assistant","content":"{\"n\":3}"}`, "stop", 5), allChecks, QualityOK},
		{"json_schema answered against the schema", schemaReq, chat(`{"role":"assistant","content":"{\"n\":\"three\"}"}`, "stop", 5), allChecks, QualityInvalidJSON},
		{"json_schema missing a required field", schemaReq, chat(`{"role":"assistant","content":"{}"}`, "stop", 5), allChecks, QualityInvalidJSON},
		{"invalid JSON with the check off passes", schemaReq, chat(`{"role":"assistant","content":"nope"}`, "stop", 5), QualityChecks{Empty: true}, QualityOK},
		{"prose without a JSON request passes", `{}`, chat(`{"role":"assistant","content":"nope"}`, "stop", 5), allChecks, QualityOK},
		{"a schema with an external ref judges JSON validity only", `{"response_format":{"type":"json_schema","json_schema":{"schema":{"$ref":"https://example.invalid/s.json"}}}}`, chat(`{"role":"assistant","content":"{\"x\":1}"}`, "stop", 5), allChecks, QualityOK},
		{"second choice empty fails", `{}`, `{"choices":[{"message":{"content":"a"},"finish_reason":"stop"},{"message":{"content":""},"finish_reason":"stop"}]}`, allChecks, QualityEmpty},
		{"content parts carry text", `{}`, chat(`{"role":"assistant","content":[{"type":"text","text":"hi"}]}`, "stop", 1), allChecks, QualityOK},
		{"not JSON is not judged", `{}`, `not json`, allChecks, QualityOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeAnswer(ChatCompletions, []byte(tt.req), []byte(tt.answer), tt.checks)
			if got.Reason != tt.want {
				t.Errorf("JudgeAnswer = %v (%q), want %v", got.Reason, got.Message, tt.want)
			}
			if got.Failed() && got.Message == "" {
				t.Errorf("verdict %v has no message", got.Reason)
			}
		})
	}
}

// TestJudgeAnswer_Responses verifies each check on Responses objects.
func TestJudgeAnswer_Responses(t *testing.T) {
	resp := func(status, reason, content string, used int) string {
		inc := "null"
		if reason != "" {
			inc = `{"reason":"` + reason + `"}`
		}
		return `{"object":"response","status":"` + status + `","incomplete_details":` + inc +
			`,"output":[{"type":"message","role":"assistant","content":[` + content + `]}],"usage":{"input_tokens":3,"output_tokens":` + itoa(used) + `}}`
	}
	text := func(s string) string { return `{"type":"output_text","text":` + quote(s) + `,"annotations":[]}` }
	tests := []struct {
		name, req, answer string
		want              QualityReason
	}{
		{"good", `{}`, resp("completed", "", text("hi"), 1), QualityOK},
		{"no output text", `{}`, resp("completed", "", ``, 0), QualityEmpty},
		{"refusal part", `{}`, resp("completed", "", `{"type":"refusal","refusal":"no"}`, 1), QualityRefusal},
		{"incomplete for content_filter", `{}`, resp("incomplete", "content_filter", ``, 0), QualityRefusal},
		{"incomplete for max_output_tokens far below", `{"max_output_tokens":100}`, resp("incomplete", "max_output_tokens", text("Once"), 1), QualityTruncated},
		{"incomplete for max_output_tokens at the cap", `{"max_output_tokens":100}`, resp("incomplete", "max_output_tokens", text("Once"), 100), QualityOK},
		{"function call only", `{}`, `{"status":"completed","output":[{"type":"function_call","name":"f","arguments":"{}"}]}`, QualityOK},
		{"text.format json_schema invalid", `{"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object","required":["a"]}}}}`, resp("completed", "", text(`{"b":1}`), 3), QualityInvalidJSON},
		{"text.format json_schema valid", `{"text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object","required":["a"]}}}}`, resp("completed", "", text(`{"a":1}`), 3), QualityOK},
		{"text.format json_object prose", `{"text":{"format":{"type":"json_object"}}}`, resp("completed", "", text(`ok`), 3), QualityInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgeAnswer(Responses, []byte(tt.req), []byte(tt.answer), allChecks)
			if got.Reason != tt.want {
				t.Errorf("JudgeAnswer = %v (%q), want %v", got.Reason, got.Message, tt.want)
			}
		})
	}
}

// TestJudgeAnswer_EachProvider verifies that each wire format's way of
// saying refusal, truncation and empty reaches the judge through its
// translator to Chat Completions and to Responses.
func TestJudgeAnswer_EachProvider(t *testing.T) {
	tests := []struct {
		name string
		api  config.API
		raw  string
		want QualityReason
	}{
		{"openai refusal", config.APIOpenAI, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":3}}`, QualityRefusal},
		{"azure content filter", config.APIAzureOpenAI, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":1,"completion_tokens":0}}`, QualityRefusal},
		{"openai empty", config.APIOpenAI, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":0}}`, QualityEmpty},
		{"anthropic refusal", config.APIAnthropic, `{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"refusal","usage":{"input_tokens":1,"output_tokens":0}}`, QualityRefusal},
		{"anthropic truncated", config.APIAnthropic, `{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"Once"}],"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":2}}`, QualityTruncated},
		{"anthropic empty", config.APIAnthropic, `{"id":"msg_1","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":0}}`, QualityEmpty},
		{"gemini safety", config.APIGemini, `{"candidates":[{"finishReason":"SAFETY","index":0}],"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1}}`, QualityRefusal},
		{"gemini blocked prompt", config.APIGemini, `{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":1}}`, QualityRefusal},
		{"gemini truncated", config.APIGemini, `{"candidates":[{"content":{"role":"model","parts":[{"text":"Once"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3}}`, QualityTruncated},
		{"gemini empty", config.APIGemini, `{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1,"totalTokenCount":1}}`, QualityEmpty},
	}
	for _, c := range []*ClientAPI{ChatCompletions, Responses} {
		for _, tt := range tests {
			t.Run(c.Name+"/"+tt.name, func(t *testing.T) {
				a := c.Adapter(tt.api)
				if c == Responses && (tt.api == config.APIOpenAI || tt.api == config.APIAzureOpenAI) {
					t.Skip("Responses answers pass unchanged from OpenAI and Azure: TestJudgeAnswer_Responses")
				}
				req := `{"model":"m","max_tokens":100,"max_output_tokens":100,"input":"hi","messages":[{"role":"user","content":"hi"}]}`
				if c == Responses && tt.api != config.APIOpenAI && tt.api != config.APIAzureOpenAI {
					req = `{"model":"m","max_output_tokens":100,"input":"hi"}`
				}
				ep := &Endpoint{Name: "p", API: tt.api}
				out, err := a.NewResponseTranslator(ep, Request{Model: "m", Body: []byte(req)}, testEnv()).Translate([]byte(tt.raw), true)
				if err != nil {
					t.Fatalf("Translate: %v", err)
				}
				got := JudgeAnswer(c, []byte(req), out, allChecks)
				if got.Reason != tt.want {
					t.Errorf("JudgeAnswer(%s) = %v (%q), want %v", out, got.Reason, got.Message, tt.want)
				}
			})
		}
	}
}

// TestQualityReason_String verifies the names the trace, metrics and
// audit events show, and the fallback for an unknown value.
func TestQualityReason_String(t *testing.T) {
	var names []string
	for _, r := range QualityReasons() {
		names = append(names, r.String())
	}
	if got, want := strings.Join(names, ","), "empty,invalid_json,truncated,refusal"; got != want {
		t.Errorf("reasons = %s, want %s", got, want)
	}
	if got := QualityReason(99).String(); got != "quality(99)" {
		t.Errorf("unknown reason = %q", got)
	}
}

// BenchmarkJudgeAnswer measures the quality checks' cost per held answer,
// against the baseline of reading the answer's choices only (gjson), in
// the same run.
func BenchmarkJudgeAnswer(b *testing.B) {
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"{\"name\":\"Ada\",\"age\":36,\"tags\":[\"math\",\"code\"]}","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70}}`)
	schemaReq := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"who"}],"max_tokens":200,"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"}}},"required":["name","age"]}}}}`)
	plainReq := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"who"}],"max_tokens":200}`)
	plain := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Ada Lovelace was a mathematician.","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":50,"completion_tokens":20,"total_tokens":70}}`)
	b.Run("baseline-read-content", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = gjson.GetBytes(plain, "choices.0.message.content")
		}
	})
	b.Run("text-all-checks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if JudgeAnswer(ChatCompletions, plainReq, plain, allChecks).Failed() {
				b.Fatal("failed")
			}
		}
	})
	b.Run("json-schema-all-checks", func(b *testing.B) {
		var j QualityJudge // its cache keeps the compiled schema, as the server's does
		b.ReportAllocs()
		for b.Loop() {
			if v := j.Judge(ChatCompletions, schemaReq, answer, allChecks); v.Failed() {
				b.Fatal(v.Message)
			}
		}
	})
	b.Run("json-schema-uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if v := JudgeAnswer(ChatCompletions, schemaReq, answer, allChecks); v.Failed() {
				b.Fatal(v.Message)
			}
		}
	})
	b.Run("checks-off", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			JudgeAnswer(ChatCompletions, schemaReq, answer, QualityChecks{})
		}
	})
}

// TestQualityJudge_CachesSchemasBounded verifies a judge compiles a schema
// once, judges the same with it as without a cache, and never holds more
// than maxCachedSchemas.
func TestQualityJudge_CachesSchemasBounded(t *testing.T) {
	var j QualityJudge
	answer := []byte(`{"choices":[{"message":{"content":"{\"n\":\"x\"}"},"finish_reason":"stop"}]}`)
	for i := range maxCachedSchemas + 3 {
		req := []byte(`{"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"n":{"type":"integer"}},"title":"s` + itoa(i) + `"}}}}`)
		if got := j.Judge(ChatCompletions, req, answer, allChecks); got.Reason != QualityInvalidJSON {
			t.Fatalf("schema %d: cached judge says %v, want invalid_json", i, got.Reason)
		}
		if got := j.Judge(ChatCompletions, req, answer, allChecks); got.Reason != QualityInvalidJSON {
			t.Fatalf("schema %d again: %v, want invalid_json", i, got.Reason)
		}
		if n := len(j.schemas); n > maxCachedSchemas {
			t.Fatalf("cache holds %d schemas, want at most %d", n, maxCachedSchemas)
		}
	}
}
