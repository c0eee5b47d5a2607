package provider

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// responsesEchoBody is the client request whose fields the translated
// answers in the golden files repeat.
var responsesEchoBody = []byte(`{"model":"fast","input":"hi","instructions":"Be brief.","tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"temperature":0.2}`)

// responsesRequestFor is the attempt's Request for a Responses body.
func responsesRequestFor(t testing.TB, body []byte, model string) Request {
	t.Helper()
	in, perr := InspectResponses(body)
	if perr != nil {
		return Request{Body: body, Model: model}
	}
	return in.Request(body, model)
}

// TestResponsesPrepare_Golden verifies every Responses request vector
// against its golden rewrite for each target API (path, headers, exact
// body, or the 400), and that Check refuses exactly what Prepare refuses.
func TestResponsesPrepare_Golden(t *testing.T) {
	files, err := filepath.Glob("testdata/responsesapi/requests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no request vectors: %v", err)
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range goldenTargets {
			name := strings.TrimSuffix(filepath.Base(f), ".json") + "/" + tg.ep.Name
			t.Run(name, func(t *testing.T) {
				a, err := ResponsesAdapter(tg.ep.API)
				if err != nil {
					t.Fatal(err)
				}
				ep := tg.ep
				req := responsesRequestFor(t, body, tg.model)
				p, perr := a.Prepare(&ep, req)
				if perr == nil && !gjson.ValidBytes(p.Body) {
					t.Errorf("prepared body is not valid JSON: %s", p.Body)
				}
				cerr := a.Check(&ep, req)
				if (cerr == nil) != (perr == nil) || cerr != nil && cerr.Error() != perr.Error() {
					t.Errorf("Check = %v, want Prepare's %v", cerr, perr)
				}
				golden(t, strings.TrimSuffix(f, ".json")+"."+tg.ep.Name+".golden", renderPrepared(p, perr))
			})
		}
	}
}

// translateResponses feeds body to a fresh Responses translator for api
// (or, for "chat", the chat-to-Responses layer alone) in the given chunk
// sizes (cycled) and returns the concatenated output.
func translateResponses(t testing.TB, api config.API, body []byte, stream bool, sizes []int) ([]byte, error) {
	var tr ResponseTranslator
	if api == "chat" {
		ep := targetFor(config.APIAnthropic).ep
		if stream {
			tr = newResponsesStream(identity{}, &ep, "fast", echoOf(responsesEchoBody), testEnv())
		} else {
			tr = &responsesWhole{inner: identity{}, model: "fast", echo: echoOf(responsesEchoBody), env: testEnv()}
		}
	} else {
		tg := targetFor(api)
		a, err := ResponsesAdapter(api)
		if err != nil {
			t.Fatal(err)
		}
		ep := tg.ep
		tr = a.NewResponseTranslator(&ep, Request{Body: responsesEchoBody, Model: tg.model, Stream: stream}, testEnv())
	}
	var out []byte
	rest := body
	for k := 0; ; k++ {
		n := len(rest)
		if len(sizes) > 0 {
			n = min(max(sizes[k%len(sizes)], 0), len(rest))
		}
		eos := n == len(rest)
		o, err := tr.Translate(rest[:n], eos)
		if err != nil {
			return out, err
		}
		out = append(out, o...)
		rest = rest[n:]
		if eos {
			return out, nil
		}
	}
}

// TestResponsesTranslate_Golden verifies every answer vector (Anthropic and
// Gemini answers and streams, and chat answers and streams) against its
// golden Responses translation, and that a stream fed byte by byte
// translates the same.
func TestResponsesTranslate_Golden(t *testing.T) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini, "chat"} {
		dir := filepath.Join("testdata", "responsesapi", "answers", string(api))
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) == 0 {
			t.Fatalf("no answer vectors in %s", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".golden") {
				continue
			}
			stream := strings.HasSuffix(f, ".sse")
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(strings.TrimPrefix(f, "testdata/responsesapi/answers/"), func(t *testing.T) {
				got, err := translateResponses(t, api, body, stream, nil)
				if err != nil {
					got = []byte("error: " + err.Error() + "\n")
				} else if !stream && !gjson.ValidBytes(got) {
					t.Errorf("translation is not valid JSON: %s", got)
				}
				if stream && err == nil {
					checkResponsesEvents(t, got)
					bytewise, err := translateResponses(t, api, body, stream, []int{1})
					if err != nil || !bytes.Equal(bytewise, got) {
						t.Errorf("fed byte by byte: got %s (err %v), want %s", bytewise, err, got)
					}
				}
				golden(t, f+".golden", got)
			})
		}
	}
}

// checkResponsesEvents verifies a translated stream's framing: every event
// is named as its data's type, sequence numbers count up from 0, every
// output item has its own id, and the stream ends with response.completed,
// response.incomplete or an error.
func checkResponsesEvents(t *testing.T, stream []byte) {
	t.Helper()
	var r SSEReader
	seq, last := int64(0), ""
	ids := map[string]bool{}
	_ = r.Feed(stream, func(ev Event) error {
		if string(ev.Data) == "[DONE]" {
			return nil
		}
		d := gjson.ParseBytes(ev.Data)
		if d.Get("error").Exists() {
			last = "error"
			return nil
		}
		if got := d.Get("type").Str; got != ev.Name {
			t.Errorf("event %q has data type %q", ev.Name, got)
		}
		if got := d.Get("sequence_number").Int(); got != seq {
			t.Errorf("event %q: sequence_number %d, want %d", ev.Name, got, seq)
		}
		seq++
		last = ev.Name
		if ev.Name == "response.output_item.added" {
			id := d.Get("item.id").Str
			if ids[id] {
				t.Errorf("item id %q is used twice", id)
			}
			ids[id] = true
		}
		return nil
	})
	switch last {
	case "response.completed", "response.incomplete", "error":
	default:
		t.Errorf("stream ends with %q, want response.completed, response.incomplete or an error", last)
	}
}

// TestInspectResponses verifies what the route phase reads from a
// Responses body: needs, stream, the stateful field, and the 400s.
func TestInspectResponses(t *testing.T) {
	tests := []struct {
		name, body string
		want       Inspection
		wantParam  string // of the 400; "" when accepted
	}{
		{"plain text input", `{"model":"m","input":"hi"}`, Inspection{Model: "m"}, ""},
		{"stream asks for usage", `{"model":"m","input":"hi","stream":true}`,
			Inspection{Model: "m", Stream: true, IncludeUsage: true}, ""},
		{"tools, json and image are needs", `{"model":"m","tools":[{"type":"function","name":"f"}],"text":{"format":{"type":"json_schema"}},"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}`,
			Inspection{Model: "m", Tools: true, JSON: true, Vision: true}, ""},
		{"previous_response_id is stateful", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`,
			Inspection{Model: "m", Stateful: "previous_response_id"}, ""},
		{"store true is stateful", `{"model":"m","input":"hi","store":true}`,
			Inspection{Model: "m", Stateful: "store"}, ""},
		{"store false is not", `{"model":"m","input":"hi","store":false}`, Inspection{Model: "m"}, ""},
		{"background is OpenAI only", `{"model":"m","input":"hi","background":true}`,
			Inspection{Model: "m", OpenAIOnly: "background"}, ""},
		{"chat messages are not input", `{"model":"m","messages":[]}`, Inspection{}, "input"},
		{"input must be a string or array", `{"model":"m","input":3}`, Inspection{}, "input"},
		{"model is required", `{"input":"hi"}`, Inspection{}, "model"},
		{"not JSON", `{"model":`, Inspection{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, perr := InspectResponses([]byte(tt.body))
			if tt.want.Model == "" {
				if perr == nil {
					t.Fatalf("accepted %s, want a 400", tt.body)
				}
				if perr.Status != 400 || perr.Param != tt.wantParam {
					t.Errorf("error %d param %q, want 400 param %q", perr.Status, perr.Param, tt.wantParam)
				}
				return
			}
			if perr != nil {
				t.Fatalf("refused: %v", perr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestJudgeResponsesEvent verifies the verdicts on native Responses stream
// events: deltas are content, completed/incomplete end, failed/error fail.
func TestJudgeResponsesEvent(t *testing.T) {
	tests := []struct {
		name, event, data string
		want              EventKind
		wantClass         Class
	}{
		{"created is nothing", "response.created", `{"type":"response.created","response":{}}`, EventOther, 0},
		{"text delta is content", "response.output_text.delta", `{"type":"response.output_text.delta","delta":"a"}`, EventContent, 0},
		{"function call added is content", "response.output_item.added", `{"type":"response.output_item.added","item":{"type":"function_call"}}`, EventContent, 0},
		{"message added is nothing", "response.output_item.added", `{"type":"response.output_item.added","item":{"type":"message"}}`, EventOther, 0},
		{"completed ends", "response.completed", `{"type":"response.completed","response":{}}`, EventEnd, 0},
		{"incomplete ends", "response.incomplete", `{"type":"response.incomplete","response":{}}`, EventEnd, 0},
		{"failed is an error", "response.failed", `{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}`, EventError, ClassServerError},
		{"rate limit error event", "error", `{"type":"error","code":"rate_limit_exceeded","message":"slow down"}`, EventError, ClassRateLimited},
		{"our own error object", "", `{"error":{"message":"x","type":"server_error","code":null}}`, EventError, ClassServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judgeResponsesEvent(Event{Name: tt.event, Data: []byte(tt.data)})
			if v.Kind != tt.want {
				t.Fatalf("kind %v, want %v", v.Kind, tt.want)
			}
			if tt.want == EventError && (v.Failure == nil || v.Failure.Class != tt.wantClass) {
				t.Errorf("failure %+v, want class %v", v.Failure, tt.wantClass)
			}
		})
	}
}

// TestStateHolder verifies a stateful request is pinned to the first
// OpenAI-format target's provider, or to none.
func TestStateHolder(t *testing.T) {
	tests := []struct {
		name string
		apis []config.API
		want int
	}{
		{"first native target", []config.API{config.APIAnthropic, config.APIOpenAI, config.APIAzureOpenAI}, 1},
		{"azure counts", []config.API{config.APIAzureOpenAI}, 0},
		{"no native target", []config.API{config.APIAnthropic, config.APIGemini}, -1},
		{"openai-compatible holds no state", []config.API{config.APIOpenAICompatible, config.APIOpenAI}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StateHolder(tt.apis); got != tt.want {
				t.Errorf("StateHolder = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestResponsesNative_RejectsNonResponse verifies a native whole answer
// passes unchanged when it is a response, and fails over when it is not.
func TestResponsesNative_RejectsNonResponse(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"response passes", `{"id":"resp_1","object":"response","output":[]}`, true},
		{"chat completion is not a response", `{"choices":[]}`, false},
		{"empty body", ``, false},
		{"html", `<html>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := ResponsesAdapter(config.APIOpenAI)
			tr := a.NewResponseTranslator(&Endpoint{}, Request{}, testEnv())
			got, err := tr.Translate([]byte(tt.body), true)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			var pe *Error
			if err != nil && (!errors.As(err, &pe) || pe.Status != 502) {
				t.Errorf("err = %v, want a 502 *Error", err)
			}
			if err == nil && string(got) != tt.body {
				t.Errorf("got %s, want the body unchanged", got)
			}
		})
	}
}

// TestAzureResponsesVersion verifies Azure Responses requests keep a
// configured api-version that has the Responses API and replace an older one.
func TestAzureResponsesVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", AzureResponsesAPIVersion},
		{"2024-10-21", AzureResponsesAPIVersion},
		{"2025-03-01-preview", "2025-03-01-preview"},
		{"2025-06-01", "2025-06-01"},
	}
	for _, tt := range tests {
		if got := azureResponsesVersion(tt.in); got != tt.want {
			t.Errorf("azureResponsesVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestResponsesUsage verifies the usage a Responses answer and stream
// report is read like a chat completion's: whole answers by
// AnswerUsage/CompletionTokens, streams by UsageMeter (response.completed,
// else an estimate from the deltas).
func TestResponsesUsage(t *testing.T) {
	whole := []byte(`{"id":"resp_1","object":"response","model":"claude-x","output":[],"usage":{"input_tokens":12,"output_tokens":7,"total_tokens":19}}`)
	if got, want := AnswerUsage(whole), (Usage{Prompt: 12, Completion: 7, Reported: true, Model: "claude-x"}); got != want {
		t.Errorf("AnswerUsage = %+v, want %+v", got, want)
	}
	if got := CompletionTokens(whole); got != 7 {
		t.Errorf("CompletionTokens = %d, want 7", got)
	}
	stream, err := os.ReadFile("testdata/responsesapi/answers/chat/reasoning_text.sse.golden")
	if err != nil {
		t.Fatal(err)
	}
	var m UsageMeter
	m.Feed(stream)
	if got, want := m.Usage(), (Usage{Prompt: 12, Completion: 9, Reported: true, Model: "claude-sonnet-4-5"}); got != want {
		t.Errorf("stream usage = %+v, want %+v", got, want)
	}
	var est UsageMeter
	est.Feed([]byte("event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"12345678\"}\n\n"))
	if got := est.CompletionTokens(); got != 2 {
		t.Errorf("estimate = %d, want 2 (8 bytes / 4)", got)
	}
}

// TestResponsesIDs_FromTheProviderWithoutAnIDSource verifies that without
// Env.ID (the processor gives none) a translated answer's ids come from the
// provider's answer id, so two answers never share one.
func TestResponsesIDs_FromTheProviderWithoutAnIDSource(t *testing.T) {
	tests := []struct {
		name, file string
		stream     bool
		want       string
	}{
		{"whole anthropic answer", "testdata/responsesapi/answers/anthropic/text.json", false, `"id":"resp_msg_`},
		{"streamed anthropic answer", "testdata/responsesapi/answers/anthropic/text.sse", true, `"id":"resp_msg_`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := ResponsesAdapter(config.APIAnthropic)
			ep := targetFor(config.APIAnthropic).ep
			tr := a.NewResponseTranslator(&ep, Request{Body: responsesEchoBody, Model: "m", Stream: tt.stream}, Env{Now: testEnv().Now})
			got, err := tr.Translate(body, true)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, []byte(tt.want)) || bytes.Contains(got, []byte(`"resp_0"`)) {
				t.Errorf("got %s, want ids %s...", got, tt.want)
			}
		})
	}
}

// TestResponses_OpenAICompatibleIsTranslated verifies an OpenAI-compatible
// target gets the translated Chat Completions request (such providers
// seldom serve /responses) and that its chat answer comes back as a response.
func TestResponses_OpenAICompatibleIsTranslated(t *testing.T) {
	a, _ := ResponsesAdapter(config.APIOpenAICompatible)
	ep := Endpoint{Name: "groq", API: config.APIOpenAICompatible, BasePath: "/openai/v1", AuthHeader: "authorization", AuthValue: "Bearer k"}
	body := []byte(`{"model":"fast","input":"hi","stream":true}`)
	in, perr := InspectResponses(body)
	if perr != nil {
		t.Fatal(perr)
	}
	p, err := a.Prepare(&ep, in.Request(body, "llama"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"llama","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`
	if p.Path != "/openai/v1/chat/completions" || string(p.Body) != want {
		t.Errorf("got %s %s, want /openai/v1/chat/completions %s", p.Path, p.Body, want)
	}
	chat, err := os.ReadFile("testdata/responsesapi/answers/chat/reasoning_text.sse")
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.NewResponseTranslator(&ep, in.Request(body, "llama"), testEnv()).Translate(chat, true)
	if err != nil || !bytes.Contains(out, []byte("event: response.completed")) || !bytes.Contains(out, []byte(`"delta":"two, three."`)) {
		t.Errorf("translated stream %s (err %v): want Responses events with the text", out, err)
	}
}
