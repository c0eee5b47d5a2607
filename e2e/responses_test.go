package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// The Responses stack: the cross-provider chains (openai -> anthropic ->
// gemini; claude-first: anthropic -> gemini) and compat-first (an
// openai-compatible provider -> anthropic) on the default routes, the
// OpenAI provider played by responsesFake (fakellm speaks chat completions
// only), the others by fakellm.

// xCompat is the openai-compatible provider, and compatFirstModel the
// model selecting its chain.
const (
	xCompat          = "compat"
	compatFirstModel = "compat-first-e2e"
)

// responsesFake is an OpenAI Responses API provider: it answers POST
// /v1/responses with the text xAnswer(openai), whole or streamed, or with
// the status of a queued fault; it records what it received.
type responsesFake struct {
	addr string
	mu   sync.Mutex
	fail []int // statuses of the next requests
	reqs []fakellm.Recorded
}

func startResponsesFake(t *testing.T) *responsesFake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &responsesFake{addr: ln.Addr().String()}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// failNext makes the next len(statuses) requests fail with those statuses.
func (f *responsesFake) failNext(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, statuses...)
}

func (f *responsesFake) requests() []fakellm.Recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakellm.Recorded(nil), f.reqs...)
}

func (f *responsesFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, fakellm.Recorded{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
	status := 0
	if len(f.fail) > 0 {
		status, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	if r.URL.Path != "/v1/responses" || r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, 404)
		return
	}
	if r.Header.Get("authorization") != "Bearer "+providerKey(xOpenAI) {
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	if status != 0 {
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":{"message":"fake fault","type":"server_error","code":null}}`)
		return
	}
	model := gjson.GetBytes(body, "model").String()
	text := xAnswer(xOpenAI)
	resp := fmt.Sprintf(`{"id":"resp_fake","object":"response","created_at":1,"status":"completed","model":%q,"output":[{"id":"msg_fake","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":%q,"annotations":[]}]}],"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}`, model, text)
	if !gjson.GetBytes(body, "stream").Bool() {
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, resp)
		return
	}
	w.Header().Set("content-type", "text/event-stream")
	fmt.Fprintf(w, "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_fake\",\"object\":\"response\",\"status\":\"in_progress\",\"model\":%q,\"output\":[]}}\n\n", model)
	fmt.Fprintf(w, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_fake\",\"output_index\":0,\"content_index\":0,\"delta\":%q}\n\n", text)
	fmt.Fprintf(w, "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":%s}\n\n", resp)
}

// setCompatKey puts the compat provider's key in the environment once, as
// setCrossKeys does for the others (t.Setenv cannot run in parallel tests).
var setCompatKey sync.Once

// newResponsesStack starts a local cross-provider stack on matrix entry v
// with the default routes (/v1/responses among them) and responsesFake as
// the OpenAI provider.
func newResponsesStack(t *testing.T, v string) (*stack, *responsesFake) {
	t.Helper()
	if externalURL() != "" {
		t.Skip("skipped against E2E_ENVOY_URL: needs the cross-provider config with /v1/responses routed")
	}
	version, backport := envoyVersion(v)
	s := &stack{t: t, version: version, backport45355: backport, local: true, fakes: map[string]fake{}, clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	rf := startResponsesFake(t)
	addrs := map[string]string{xOpenAI: rf.addr}
	for _, name := range []string{xAnthropic, xGemini, xCompat} {
		f := fakellm.StartTB(t, fakellm.Options{Name: name})
		s.fakes[name] = f
		addrs[name] = f.Addr
	}
	setCrossKeys.Do(func() {
		for _, p := range xProviders {
			if err := os.Setenv(p.keyEnv, providerKey(p.name)); err != nil {
				t.Fatal(err)
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.grpcAddr = ln.Addr().String()
	setCompatKey.Do(func() {
		if err := os.Setenv("E2E_X_COMPAT_KEY", providerKey(xCompat)); err != nil {
			t.Fatal(err)
		}
	})
	host, port, _ := net.SplitHostPort(addrs[xCompat])
	cfg := xConfigYAML(addrs, s.grpcAddr)
	cfg = strings.Replace(cfg, "providers:\n", fmt.Sprintf("providers:\n  - {name: %s, api: openai-compatible, host: %s, port: %s, tls: false, auth: {key_env: E2E_X_COMPAT_KEY}}\n", xCompat, host, port), 1)
	cfg = strings.Replace(cfg, "chains:\n", fmt.Sprintf("chains:\n  - {name: compat-first, match: {models: [%s]}, targets: [{provider: %s, model: %s}, {provider: %s, model: %s}]}\n",
		compatFirstModel, xCompat, xModel(xCompat), xAnthropic, xModel(xAnthropic)), 1)
	s.startFront(ln, cfg)
	return s, rf
}

// newResponse asks the stack for a Responses answer to model, keeping the
// HTTP response for its headers.
func (s *stack) newResponse(params responses.ResponseNewParams) (*responses.Response, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var httpResp *http.Response
	r, err := s.client.Responses.New(ctx, params, option.WithResponseInto(&httpResp))
	return r, httpResp, err
}

// streamResponse streams a Responses answer and returns the text of its
// deltas, the event types in order, the final response and the error.
func (s *stack) streamResponse(params responses.ResponseNewParams) (string, []string, *responses.Response, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var httpResp *http.Response
	st := s.client.Responses.NewStreaming(ctx, params, option.WithResponseInto(&httpResp))
	defer st.Close()
	var text strings.Builder
	var types []string
	var final *responses.Response
	for st.Next() {
		ev := st.Current()
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.AsResponseOutputTextDelta().Delta)
		case "response.completed":
			r := ev.AsResponseCompleted().Response
			final = &r
		}
	}
	return text.String(), types, final, httpResp, st.Err()
}

func textParams(model string) responses.ResponseNewParams {
	return responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello.")},
		Instructions: openai.String("Be brief.")}
}

// responsesCases: who answers after the ones before it failed.
var responsesCases = []struct {
	name    string
	attempt int
	failing []string
}{
	{xOpenAI, 1, nil},
	{xAnthropic, 2, []string{xOpenAI}},
	{xGemini, 3, []string{xOpenAI, xAnthropic}},
}

// failResponses makes each named provider fail its next request with 503.
func failResponses(t *testing.T, s *stack, rf *responsesFake, names ...string) {
	t.Helper()
	for _, n := range names {
		if n == xOpenAI {
			rf.failNext(503)
			continue
		}
		failFirst(t, s, 503, n)
	}
}

// TestResponses_Failover verifies that the official SDK's Responses call
// (client.Responses.New) is answered natively by OpenAI, and, with the
// providers before it failing with 503, by Anthropic and Gemini through
// translation: the SDK reads a response object with the provider's text,
// status completed and usage, and the provider got its own wire format.
func TestResponses_Failover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, tc := range responsesCases {
			t.Run(tc.name, func(t *testing.T) {
				s, rf := newResponsesStack(t, v)
				failResponses(t, s, rf, tc.failing...)
				r, h, err := s.newResponse(textParams(chainModel))
				if err != nil {
					t.Fatalf("request failed: %v", err)
				}
				checkAnsweredBy(t, h.Header, tc.name, tc.attempt)
				if r.Object != "response" || r.Status != "completed" || r.ID == "" {
					t.Errorf("object %q status %q id %q: want response, completed, an id", r.Object, r.Status, r.ID)
				}
				if got, want := r.OutputText(), xAnswer(tc.name); got != want {
					t.Errorf("OutputText() = %q, want %q", got, want)
				}
				if r.Usage.InputTokens < 1 || r.Usage.OutputTokens < 1 || r.Usage.TotalTokens != r.Usage.InputTokens+r.Usage.OutputTokens {
					t.Errorf("usage %+v: want input and output tokens and their sum", r.Usage)
				}
				switch tc.name {
				case xOpenAI:
					reqs := rf.requests()
					if len(reqs) != 1 || gjson.Get(reqs[0].Body, "model").String() != xModel(xOpenAI) ||
						gjson.Get(reqs[0].Body, "input").String() != "Say hello." {
						t.Errorf("openai got %+v, want one Responses request for %s", reqs, xModel(xOpenAI))
					}
					if strings.Contains(reqs[0].Header.Get("authorization"), clientKey) {
						t.Errorf("openai received the client's key")
					}
				case xAnthropic:
					rec := onlyRequest(t, s, xAnthropic)
					checkAnthropicRequest(t, rec, false)
					if got := gjson.Get(rec.Body, "system").String(); got != "Be brief." {
						t.Errorf("anthropic system = %q, want the instructions", got)
					}
				case xGemini:
					checkGeminiRequest(t, onlyRequest(t, s, xGemini), false)
				}
			})
		}
	})
}

// TestResponses_StreamFailover verifies a streamed Responses call through
// the SDK (client.Responses.NewStreaming): the client reads the Responses
// event types in order, from response.created to response.completed, with
// the answering provider's text in the deltas and usage at the end, from
// OpenAI natively and from Anthropic and Gemini after the ones before failed.
func TestResponses_StreamFailover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, tc := range responsesCases {
			t.Run(tc.name, func(t *testing.T) {
				s, rf := newResponsesStack(t, v)
				failResponses(t, s, rf, tc.failing...)
				p := textParams(chainModel)
				text, types, final, h, err := s.streamResponse(p)
				if err != nil {
					t.Fatalf("stream failed: %v (events %v)", err, types)
				}
				checkAnsweredBy(t, h.Header, tc.name, tc.attempt)
				if got, want := text, xAnswer(tc.name); got != want {
					t.Errorf("delta text = %q, want %q", got, want)
				}
				if len(types) < 3 || types[0] != "response.created" || types[len(types)-1] != "response.completed" {
					t.Errorf("event types %v: want response.created first and response.completed last", types)
				}
				if final == nil || final.OutputText() != xAnswer(tc.name) || final.Usage.OutputTokens < 1 {
					t.Errorf("final response %+v: want the text and usage", final)
				}
				if tc.name == xAnthropic {
					checkAnthropicRequest(t, onlyRequest(t, s, xAnthropic), true)
				}
				if tc.name == xGemini {
					checkGeminiRequest(t, onlyRequest(t, s, xGemini), true)
				}
			})
		}
	})
}

// TestResponses_StatefulStaysOnItsProvider verifies a request with
// previous_response_id (or store: true) never fails over to a provider
// that cannot read the stored state: with OpenAI failing the client gets
// OpenAI's failure, not Anthropic's answer; on a chain without an OpenAI
// target it gets a 400 naming the field.
func TestResponses_StatefulStaysOnItsProvider(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, rf := newResponsesStack(t, v)
		p := textParams(chainModel)
		p.PreviousResponseID = openai.String("resp_earlier")
		r, h, err := s.newResponse(p)
		if err != nil {
			t.Fatalf("stateful request to a healthy OpenAI failed: %v", err)
		}
		checkAnsweredBy(t, h.Header, xOpenAI, 1)
		if got := gjson.Get(rf.requests()[0].Body, "previous_response_id").String(); got != "resp_earlier" || r.OutputText() != xAnswer(xOpenAI) {
			t.Errorf("openai got previous_response_id %q, answer %q", got, r.OutputText())
		}

		rf.failNext(503, 503, 503)
		p = textParams(chainModel)
		p.Store = openai.Bool(true)
		_, _, err = s.newResponse(p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
			t.Fatalf("store: true with OpenAI failing: err %v, want OpenAI's 503", err)
		}
		checkUntouched(t, s, xAnthropic, xGemini)

		p = textParams(claudeFirstModel)
		p.PreviousResponseID = openai.String("resp_earlier")
		_, _, err = s.newResponse(p)
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "previous_response_id" ||
			!strings.Contains(apiErr.Message, "previous_response_id") {
			t.Fatalf("stateful request on a chain without OpenAI: err %v, want a 400 naming previous_response_id", err)
		}
		checkUntouched(t, s, xAnthropic, xGemini)
	})
}

// TestResponses_HostedToolRefusedByTranslatedTargets verifies a request
// with a hosted tool (web_search) the translated targets cannot express is
// answered with OpenAI's 503 when OpenAI fails, never sent to Anthropic or
// Gemini, and on a chain of only those is a clear 400 naming the tool.
func TestResponses_HostedToolRefusedByTranslatedTargets(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newResponsesStack(t, v)
		body := `{"model":"` + claudeFirstModel + `","input":"news?","tools":[{"type":"web_search"}]}`
		req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/responses", strings.NewReader(body))
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", "Bearer "+clientKey)
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct{ Message, Type, Param string }
		}
		_ = json.Unmarshal(b, &e)
		if resp.StatusCode != 400 || e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, "web_search") {
			t.Errorf("got %d %s, want a 400 invalid_request_error naming web_search", resp.StatusCode, b)
		}
		checkUntouched(t, s, xAnthropic, xGemini)
	})
}

// TestResponses_ToolsAndJSONTranslated verifies a Responses request with
// function tools and a json_schema text format reaches Anthropic (after
// OpenAI failed) and Gemini (claude-first chain, after Anthropic failed)
// in their native forms, tools as input_schema / functionDeclarations, and
// that the SDK reads the answers: a function_call item (fakellm calls the
// tool it is offered) and JSON valid for the schema.
func TestResponses_ToolsAndJSONTranslated(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, rf := newResponsesStack(t, v)
		schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}
		p := textParams(chainModel)
		p.Tools = []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: "get_weather", Parameters: schema, Strict: openai.Bool(true)}}}
		rf.failNext(503)
		r, h, err := s.newResponse(p)
		if err != nil {
			t.Fatalf("request with tools failed: %v", err)
		}
		checkAnsweredBy(t, h.Header, xAnthropic, 2)
		var call *responses.ResponseFunctionToolCall
		for _, it := range r.Output {
			if it.Type == "function_call" {
				fc := it.AsFunctionCall()
				call = &fc
			}
		}
		if call == nil || call.Name != "get_weather" || call.CallID == "" || !gjson.Get(call.Arguments, "city").Exists() {
			t.Errorf("output %s: want a get_weather function_call with a call id and a city argument", r.RawJSON())
		}
		rec := onlyRequest(t, s, xAnthropic)
		if got := gjson.Get(rec.Body, "tools.0.name").String(); got != "get_weather" || !gjson.Get(rec.Body, "tools.0.input_schema.properties.city").Exists() {
			t.Errorf("anthropic tools = %s, want get_weather with its input_schema", gjson.Get(rec.Body, "tools").Raw)
		}

		p = textParams(claudeFirstModel)
		p.Text = responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
			OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "place", Schema: schema}}}
		failFirst(t, s, 503, xAnthropic)
		r, h, err = s.newResponse(p)
		if err != nil {
			t.Fatalf("request with a json_schema format failed: %v", err)
		}
		checkAnsweredBy(t, h.Header, xGemini, 2)
		if out := r.OutputText(); !gjson.Valid(out) || !gjson.Get(out, "city").Exists() {
			t.Errorf("answer %q: want JSON with the schema's city", out)
		}
		body := onlyRequest(t, s, xGemini).Body
		if got := gjson.Get(body, "generationConfig.responseMimeType").String(); got != "application/json" ||
			!gjson.Get(body, "generationConfig.responseJsonSchema.properties.city").Exists() {
			t.Errorf("gemini generationConfig = %s, want application/json with the schema", gjson.Get(body, "generationConfig").Raw)
		}
	})
}

// TestResponses_StreamFirstEventErrorFailsOver verifies a streamed
// Responses call whose Anthropic stream opens with an overloaded error
// fails over to Gemini within the request: the SDK reads only Gemini's
// Responses events, with no trace of Anthropic's error.
func TestResponses_StreamFirstEventErrorFailsOver(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newResponsesStack(t, v)
		if err := s.fakes[xAnthropic].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindStreamError})); err != nil {
			t.Fatal(err)
		}
		text, types, final, h, err := s.streamResponse(textParams(claudeFirstModel))
		if err != nil {
			t.Fatalf("stream failed: %v (events %v)", err, types)
		}
		checkAnsweredBy(t, h.Header, xGemini, 2)
		if text != xAnswer(xGemini) || final == nil || final.Status != "completed" {
			t.Errorf("text %q, final %+v: want Gemini's answer, completed", text, final)
		}
		if tr := h.Header.Get("x-llm-failover-trace"); !strings.Contains(tr, "provider=anthropic") || !strings.Contains(tr, "outcome=overloaded") {
			t.Errorf("trace %q does not list Anthropic's overloaded stream", tr)
		}
	})
}

// TestResponses_StreamWithoutTerminalEventIsAnSDKError verifies a
// translated stream that reached the client and ends without the
// provider's terminal event (message_stop) ends with an error the SDK
// raises, never a silently short answer or a response.completed.
func TestResponses_StreamWithoutTerminalEventIsAnSDKError(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newResponsesStack(t, v)
		if err := s.fakes[xAnthropic].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindNoTerminal})); err != nil {
			t.Fatal(err)
		}
		_, types, final, _, err := s.streamResponse(textParams(claudeFirstModel))
		if err == nil {
			t.Fatalf("the SDK read a stream without its end and no error (events %v)", types)
		}
		if final != nil {
			t.Errorf("a stream without its end gave a response.completed: %s", final.RawJSON())
		}
	})
}

// TestResponses_OpenAICompatibleByChatCompletions verifies an
// openai-compatible target is asked through its chat completions endpoint
// (few such providers serve /responses) and the SDK reads a Responses
// answer, whole and streamed.
func TestResponses_OpenAICompatibleByChatCompletions(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newResponsesStack(t, v)
		r, h, err := s.newResponse(textParams(compatFirstModel))
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		checkAnsweredBy(t, h.Header, xCompat, 1)
		if r.OutputText() != xAnswer(xCompat) || r.Usage.OutputTokens < 1 {
			t.Errorf("OutputText() %q usage %+v: want %q and usage", r.OutputText(), r.Usage, xAnswer(xCompat))
		}
		rec := onlyRequest(t, s, xCompat)
		if rec.Path != "/v1/chat/completions" || gjson.Get(rec.Body, "messages.0.role").String() != "system" ||
			gjson.Get(rec.Body, "messages.1.content").String() != "Say hello." {
			t.Errorf("compat got %s %s, want a chat completion with the instructions and input", rec.Path, rec.Body)
		}
		text, types, final, h, err := s.streamResponse(textParams(compatFirstModel))
		if err != nil {
			t.Fatalf("stream failed: %v (events %v)", err, types)
		}
		checkAnsweredBy(t, h.Header, xCompat, 1)
		if text != xAnswer(xCompat) || final == nil || final.Usage.OutputTokens < 1 {
			t.Errorf("streamed text %q, final %+v: want %q and usage", text, final, xAnswer(xCompat))
		}
	})
}

// TestResponses_ImageInputTranslated verifies a Responses input with a
// text part and a base64 image reaches Gemini (after Anthropic failed) as
// a text part and inlineData, and the SDK reads the answer.
func TestResponses_ImageInputTranslated(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newResponsesStack(t, v)
		content := responses.ResponseInputMessageContentListParam{
			{OfInputText: &responses.ResponseInputTextParam{Text: "What is this?"}},
			{OfInputImage: &responses.ResponseInputImageParam{Detail: responses.ResponseInputImageDetailLow, ImageURL: openai.String("data:image/png;base64,iVBORw0KGgo=")}},
		}
		p := responses.ResponseNewParams{Model: claudeFirstModel, Input: responses.ResponseNewParamsInputUnion{
			OfInputItemList: responses.ResponseInputParam{responses.ResponseInputItemParamOfMessage(content, responses.EasyInputMessageRoleUser)}}}
		failFirst(t, s, 503, xAnthropic)
		r, h, err := s.newResponse(p)
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		checkAnsweredBy(t, h.Header, xGemini, 2)
		if r.OutputText() != xAnswer(xGemini) {
			t.Errorf("OutputText() = %q, want %q", r.OutputText(), xAnswer(xGemini))
		}
		parts := gjson.Get(onlyRequest(t, s, xGemini).Body, "contents.0.parts")
		if parts.Get("0.text").String() != "What is this?" || parts.Get("1.inlineData.mimeType").String() != "image/png" ||
			parts.Get("1.inlineData.data").String() != "iVBORw0KGgo=" {
			t.Errorf("gemini parts = %s, want the text and the image as inlineData", parts.Raw)
		}
	})
}
