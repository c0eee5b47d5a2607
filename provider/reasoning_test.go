package provider

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// translateWith feeds body whole to a fresh translator for ep.
func translateWith(t *testing.T, ep Endpoint, model string, body []byte, stream bool) []byte {
	t.Helper()
	a, err := For(ep.API)
	if err != nil {
		t.Fatal(err)
	}
	tr := a.NewResponseTranslator(&ep, Request{Model: model, Stream: stream}, testEnv())
	out, err := tr.Translate(body, true)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// streamedReasoning reads a translated stream with the OpenAI SDK's SSE
// decoder and joins the reasoning_content of its deltas, as a client that
// shows reasoning does.
func streamedReasoning(t *testing.T, stream []byte) string {
	t.Helper()
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(stream))}
	s := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var sb strings.Builder
	for s.Next() {
		for _, c := range s.Current().Choices {
			if f, ok := c.Delta.JSON.ExtraFields[ReasoningField]; ok {
				var part string
				if err := json.Unmarshal([]byte(f.Raw()), &part); err != nil {
					t.Fatalf("delta.%s is not a string: %s", ReasoningField, f.Raw())
				}
				sb.WriteString(part)
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("SDK stream error: %v\n%s", err, stream)
	}
	return sb.String()
}

// answerReasoning is message.reasoning_content of a translated answer, read
// with the OpenAI SDK's types.
func answerReasoning(t *testing.T, body []byte) (string, bool) {
	t.Helper()
	var c openai.ChatCompletion
	if err := json.Unmarshal(body, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("answer: %v\n%s", err, body)
	}
	f, ok := c.Choices[0].Message.JSON.ExtraFields[ReasoningField]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal([]byte(f.Raw()), &s); err != nil {
		t.Fatalf("message.%s is not a string: %s", ReasoningField, f.Raw())
	}
	return s, true
}

// reasoningVectors are the provider answers with reasoning, as stream and
// answer twins, and the reasoning a client must read from both.
var reasoningVectors = []struct {
	api  config.API
	name string
	want string
}{
	{config.APIAnthropic, "thinking_max_tokens", "Let me count."},
	{config.APIAnthropic, "interleaved_thinking", "The user asks for the weather; I need the tool.\n\nParis it is."},
	{config.APIGemini, "thoughts", "**Weighing the question**\n\nThe user wants one sentence about \"AI\"."},
}

// TestReasoning_ClientReadsSameFromStreamAndAnswer verifies that Anthropic
// thinking and Gemini thought summaries reach the client as
// reasoning_content, the same text whether streamed or not (read with the
// OpenAI SDK; redacted thinking and signatures never appear).
func TestReasoning_ClientReadsSameFromStreamAndAnswer(t *testing.T) {
	for _, v := range reasoningVectors {
		t.Run(string(v.api)+"/"+v.name, func(t *testing.T) {
			tg := targetFor(v.api)
			dir := filepath.Join("testdata", "responses", string(v.api))
			js, err := os.ReadFile(filepath.Join(dir, v.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			sse, err := os.ReadFile(filepath.Join(dir, v.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			whole := translateWith(t, tg.ep, tg.model, js, false)
			got, ok := answerReasoning(t, whole)
			if !ok || got != v.want {
				t.Errorf("answer reasoning: got %q (present %v), want %q", got, ok, v.want)
			}
			if got := streamedReasoning(t, translateWith(t, tg.ep, tg.model, sse, true)); got != v.want {
				t.Errorf("streamed reasoning: got %q, want %q", got, v.want)
			}
			for _, secret := range []string{"signature", "EqQBCgIYAhIM", "EmwKAhgBEgy3va3pzix"} {
				if bytes.Contains(whole, []byte(secret)) {
					t.Errorf("answer carries %q: %s", secret, whole)
				}
			}
		})
	}
}

// TestReasoning_DroppedBySetting verifies that with reasoning: drop no
// answer or stream of any vector carries reasoning_content, and that the
// rest of each thinking vector's translation is its golden file
// (*.drop.golden).
func TestReasoning_DroppedBySetting(t *testing.T) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini} {
		files, _ := filepath.Glob(filepath.Join("testdata", "responses", string(api), "*"))
		for _, f := range files {
			if strings.HasSuffix(f, ".golden") {
				continue
			}
			t.Run(strings.TrimPrefix(f, "testdata/responses/"), func(t *testing.T) {
				body, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				tg := targetFor(api)
				tg.ep.Reasoning = config.ReasoningDrop
				got := translateWith(t, tg.ep, tg.model, body, strings.HasSuffix(f, ".sse"))
				if bytes.Contains(got, []byte(ReasoningField)) {
					t.Errorf("reasoning: drop still sends %s:\n%s", ReasoningField, got)
				}
				for _, v := range reasoningVectors {
					if v.api == api && strings.HasPrefix(filepath.Base(f), v.name+".") {
						golden(t, f+".drop.golden", got)
					}
				}
			})
		}
	}
}

// TestJudgeEvent_ReasoningIsNotContent verifies that thinking and thought
// events never count as content: a stream failing while the model thinks
// can still fail over.
func TestJudgeEvent_ReasoningIsNotContent(t *testing.T) {
	cases := []struct {
		api  config.API
		data string
	}{
		{config.APIAnthropic, `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`},
		{config.APIAnthropic, `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}`},
		{config.APIAnthropic, `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}`},
		{config.APIAnthropic, `{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"Emw"}}`},
		{config.APIGemini, `{"candidates": [{"content": {"parts": [{"text": "Hmm.","thought": true}],"role": "model"},"index": 0}]}`},
	}
	for _, c := range cases {
		a, err := For(c.api)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.JudgeEvent(Event{Data: []byte(c.data)}).Kind; got != EventOther {
			t.Errorf("%s %s: got %v, want %v", c.api, c.data, got, EventOther)
		}
	}
}

// TestPrepare_ReasoningAndStructuredOutputSettings verifies what the
// provider settings change in a rewritten request: reasoning: drop asks
// Anthropic and Gemini for no thinking, structured_output: prompt sends a
// strict schema to Anthropic as the instruction, and the Anthropic
// thinking budget respects the client's output limit.
func TestPrepare_ReasoningAndStructuredOutputSettings(t *testing.T) {
	const effort = `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high"`
	const strict = `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema",` +
		`"json_schema":{"name":"p","strict":true,"schema":{"type":"object","properties":{},"additionalProperties":false}}}}`
	cases := []struct {
		name      string
		api       config.API
		reasoning config.Reasoning
		output    config.StructuredOutput
		body      string
		want      []string // substrings of the rewritten body
		wantNot   []string
	}{
		{"anthropic thinking by default", config.APIAnthropic, "", "", effort + `}`,
			[]string{`"max_tokens":28672`, `"thinking":{"type":"enabled","budget_tokens":24576}`}, nil},
		{"anthropic drop asks no thinking", config.APIAnthropic, config.ReasoningDrop, "", effort + `}`,
			[]string{`"max_tokens":4096`}, []string{`thinking`}},
		{"anthropic effort none asks no thinking", config.APIAnthropic, "", "",
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_effort":"none"}`, nil, []string{`thinking`}},
		{"anthropic budget exactly at the minimum", config.APIAnthropic, "", "", effort + `,"max_tokens":1025}`,
			[]string{`"max_tokens":1025`, `"budget_tokens":1024`}, nil},
		{"anthropic limit below the minimum budget asks no thinking", config.APIAnthropic, "", "",
			effort + `,"max_tokens":1024}`, []string{`"max_tokens":1024`}, []string{`thinking`}},
		{"anthropic forced tool asks no thinking", config.APIAnthropic, "", "",
			effort + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"}`,
			[]string{`"tool_choice":{"type":"any"}`}, []string{`thinking`}},
		{"anthropic prefill asks no thinking", config.APIAnthropic, "", "",
			`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"{"}],"reasoning_effort":"low"}`,
			nil, []string{`thinking`}},
		{"anthropic thinking drops temperature", config.APIAnthropic, "", "", effort + `,"temperature":0.2}`,
			[]string{`"thinking"`}, []string{`temperature`}},
		{"anthropic strict schema native", config.APIAnthropic, "", "", strict,
			[]string{`"output_config":{"format":{"type":"json_schema","schema":{"type":"object"`}, []string{`"system"`}},
		{"anthropic strict schema as prompt", config.APIAnthropic, "", config.StructuredOutputPrompt, strict,
			[]string{`"system":"Respond with a single valid JSON object`}, []string{`output_config`}},
		{"anthropic json_object as prompt", config.APIAnthropic, "", "",
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`,
			[]string{`"system":"Respond with a single valid JSON object`}, []string{`output_config`}},
		{"gemini thoughts by default", config.APIGemini, "", "", effort + `}`,
			[]string{`"thinkingConfig":{"includeThoughts":true,"thinkingBudget":24576}`}, nil},
		{"gemini drop asks no thoughts", config.APIGemini, config.ReasoningDrop, "", effort + `}`,
			nil, []string{`thinkingConfig`, `generationConfig`}},
		{"gemini without effort asks no thoughts", config.APIGemini, "", "",
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil, []string{`thinkingConfig`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := targetFor(c.api)
			tg.ep.Reasoning, tg.ep.StructuredOutput = c.reasoning, c.output
			a, _ := For(c.api)
			req := requestFor([]byte(c.body), tg.model)
			if err := a.Check(&tg.ep, req); err != nil {
				t.Fatalf("Check: got %v, want nil", err)
			}
			p, err := a.Prepare(&tg.ep, req)
			if err != nil {
				t.Fatalf("Prepare: got %v, want nil", err)
			}
			for _, w := range c.want {
				if !bytes.Contains(p.Body, []byte(w)) {
					t.Errorf("body: got %s, want it to contain %s", p.Body, w)
				}
			}
			for _, w := range c.wantNot {
				if bytes.Contains(p.Body, []byte(w)) {
					t.Errorf("body: got %s, want no %s", p.Body, w)
				}
			}
		})
	}
}

// translateEither translates body whole for ep, an error as text.
func translateEither(ep Endpoint, model string, body []byte, stream bool) []byte {
	a, _ := For(ep.API)
	out, err := a.NewResponseTranslator(&ep, Request{Model: model, Stream: stream, IncludeUsage: true}, testEnv()).
		Translate(body, true)
	if err != nil {
		return []byte("error: " + err.Error())
	}
	return out
}

// withoutReasoningChunks removes the stream events that carry only a
// reasoning delta, as the translator writes them.
func withoutReasoningChunks(out []byte) []byte {
	var kept []byte
	for _, ev := range bytes.SplitAfter(out, []byte("\n\n")) {
		if !bytes.Contains(ev, []byte(`"delta":{"`+ReasoningField+`":`)) {
			kept = append(kept, ev...)
		}
	}
	return kept
}

// FuzzReasoningDrop verifies, for random answers and streams of both
// formats, that the translators never panic, that reasoning: drop removes
// exactly the reasoning (the rest of the output is the pass output without
// it) and that every answer stays valid JSON.
func FuzzReasoningDrop(f *testing.F) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini} {
		files, _ := filepath.Glob(filepath.Join("testdata", "responses", string(api), "*"))
		for _, file := range files {
			if strings.HasSuffix(file, ".golden") {
				continue
			}
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, strings.HasSuffix(file, ".sse"))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, stream bool) {
		for _, api := range []config.API{config.APIAnthropic, config.APIGemini} {
			tg := targetFor(api)
			pass := translateEither(tg.ep, tg.model, body, stream)
			tg.ep.Reasoning = config.ReasoningDrop
			drop := translateEither(tg.ep, tg.model, body, stream)
			if bytes.Contains(drop, []byte(`"`+ReasoningField+`"`)) {
				t.Fatalf("%s: reasoning: drop sent reasoning: %s", api, drop)
			}
			if stream {
				if got := withoutReasoningChunks(pass); !bytes.Equal(got, drop) {
					t.Fatalf("%s: pass output without reasoning differs from drop\npass:\n%s\ndrop:\n%s", api, pass, drop)
				}
				continue
			}
			if bytes.HasPrefix(pass, []byte("error: ")) || bytes.HasPrefix(drop, []byte("error: ")) {
				if !bytes.Equal(pass, drop) {
					t.Fatalf("%s: errors differ: pass %s, drop %s", api, pass, drop)
				}
				continue
			}
			var p, d map[string]any
			if err := json.Unmarshal(pass, &p); err != nil {
				t.Fatalf("%s: answer is not JSON: %v\n%s", api, err, pass)
			}
			if err := json.Unmarshal(drop, &d); err != nil {
				t.Fatalf("%s: answer is not JSON: %v\n%s", api, err, drop)
			}
			if msg, ok := p["choices"].([]any)[0].(map[string]any)["message"].(map[string]any); ok {
				delete(msg, ReasoningField)
			}
			if !reflect.DeepEqual(p, d) {
				t.Fatalf("%s: pass answer without reasoning differs from drop\npass:\n%s\ndrop:\n%s", api, pass, drop)
			}
		}
	})
}

// BenchmarkReasoningStream measures stream translation of answers that are
// mostly reasoning (Anthropic thinking deltas, Gemini thought parts), passed
// on and dropped, in 16 KiB body chunks: the shape of a thinking model's
// stream before its text.
func BenchmarkReasoningStream(b *testing.B) {
	thinking := strings.ReplaceAll(string(anthropicBenchStream(2000)), `"type":"text_delta","text":`, `"type":"thinking_delta","thinking":`)
	thinking = strings.Replace(thinking, `"content_block":{"type":"text","text":""}`, `"content_block":{"type":"thinking","thinking":""}`, 1)
	thoughts := strings.ReplaceAll(string(geminiBenchStream(1000)), `and some"}]`, `and some","thought": true}]`)
	streams := []struct {
		name string
		api  config.API
		body []byte
	}{
		{"anthropic-thinking", config.APIAnthropic, []byte(thinking)},
		{"gemini-thoughts", config.APIGemini, []byte(thoughts)},
	}
	for _, s := range streams {
		for _, mode := range []config.Reasoning{config.ReasoningPass, config.ReasoningDrop} {
			b.Run(s.name+"/"+string(mode), func(b *testing.B) {
				tg := targetFor(s.api)
				a, _ := For(s.api)
				ep := tg.ep
				ep.Reasoning = mode
				req := Request{Model: tg.model, Stream: true, IncludeUsage: true}
				b.SetBytes(int64(len(s.body)))
				b.ReportAllocs()
				for b.Loop() {
					tr := a.NewResponseTranslator(&ep, req, testEnv())
					for rest := s.body; len(rest) > 0; {
						n := min(16<<10, len(rest))
						if _, err := tr.Translate(rest[:n], n == len(rest)); err != nil {
							b.Fatal(err)
						}
						rest = rest[n:]
					}
				}
			})
		}
	}
}
