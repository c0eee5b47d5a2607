package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// The cross-provider stack (issue 5): an OpenAI primary, an Anthropic
// secondary and a Gemini tertiary behind the client model chainModel, and a
// chain whose first target is Anthropic behind claudeFirstModel.
const (
	xOpenAI    = "openai"
	xAnthropic = "anthropic"
	xGemini    = "gemini"
	// claudeFirstModel selects the chain anthropic -> gemini.
	claudeFirstModel = "claude-first-e2e"
)

var xProviders = []struct{ name, api, keyEnv string }{
	{xOpenAI, "openai", "E2E_X_OPENAI_KEY"},
	{xAnthropic, "anthropic", "E2E_X_ANTHROPIC_KEY"},
	{xGemini, "gemini", "E2E_X_GEMINI_KEY"},
}

// xModel is the model the chain asks provider name for, on the
// cross-provider stack or (for primary, secondary, tertiary) the suite's.
func xModel(name string) string {
	for _, n := range providerNames {
		if n == name {
			return targetModel(name)
		}
	}
	return name + "-e2e-model"
}

// xAnswer is the text the fake provider name gives for its chain model.
func xAnswer(name string) string { return fmt.Sprintf("Hello from %s (%s).", name, xModel(name)) }

// xConfigYAML is the llm-failover config of the cross-provider stack.
func xConfigYAML(addrs map[string]string, extProc string) string {
	var b strings.Builder
	b.WriteString("server: {stream_first_event_timeout: 1s}\nproviders:\n")
	for _, p := range xProviders {
		host, port, _ := net.SplitHostPort(addrs[p.name])
		fmt.Fprintf(&b, "  - {name: %s, api: %s, host: %s, port: %s, tls: false, auth: {key_env: %s}}\n",
			p.name, p.api, host, port, p.keyEnv)
	}
	b.WriteString("chains:\n  - name: main\n    match: {models: [" + chainModel + "]}\n    targets:\n")
	for _, p := range xProviders {
		fmt.Fprintf(&b, "      - {provider: %s, model: %s}\n", p.name, xModel(p.name))
	}
	b.WriteString("  - name: claude-first\n    match: {models: [" + claudeFirstModel + "]}\n    targets:\n")
	for _, p := range xProviders[1:] {
		fmt.Fprintf(&b, "      - {provider: %s, model: %s}\n", p.name, xModel(p.name))
	}
	b.WriteString("breaker: {consecutive_failures: 3, open_for: 30s}\nlimits: {max_body_bytes: 64KiB}\n")
	fmt.Fprintf(&b, "envoy: {ext_proc_address: %q, per_try_timeout: 2s, retry_base_interval: 1ms}\n", extProc)
	return b.String()
}

// setCrossKeys puts the cross-provider keys in the environment once for the
// whole test process: they are the same for every stack, and t.Setenv
// cannot be used by the parallel per-version subtests.
var setCrossKeys sync.Once

// newCrossStack starts a local stack on matrix entry v with the three
// provider kinds, keys in environment variables. The external stack runs an
// all-OpenAI config, so these scenarios need the local one.
func newCrossStack(t *testing.T, v string) *stack {
	t.Helper()
	return newCrossStackWith(t, v, nil)
}

// newCrossStackWith is newCrossStack with its config rewritten by edit (nil: as is).
func newCrossStackWith(t *testing.T, v string, edit func(cfg string) string) *stack {
	t.Helper()
	if externalURL() != "" {
		t.Skip("skipped against E2E_ENVOY_URL: needs the cross-provider config (openai, anthropic, gemini)")
	}
	version, backport := envoyVersion(v)
	s := &stack{t: t, version: version, backport45355: backport, local: true, fakes: map[string]fake{}, clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	addrs := map[string]string{}
	for _, p := range xProviders {
		f := fakellm.StartTB(t, fakellm.Options{Name: p.name})
		s.fakes[p.name] = f
		addrs[p.name] = f.Addr
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
	cfg := xConfigYAML(addrs, s.grpcAddr)
	if edit != nil {
		cfg = edit(cfg)
	}
	s.startFront(ln, cfg)
	return s
}

// failFirst makes each named fake fail its next request with status.
func failFirst(t *testing.T, s *stack, status int, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := s.fakes[n].SetFaults(sched(fakellm.Fault{Status: status})); err != nil {
			t.Fatal(err)
		}
	}
}

// onlyRequest returns the single request fake name received.
func onlyRequest(t *testing.T, s *stack, name string) fakellm.Recorded {
	t.Helper()
	reqs := s.fakes[name].Requests()
	if len(reqs) != 1 {
		t.Fatalf("%s received %d requests, want 1", name, len(reqs))
	}
	return reqs[0]
}

// checkNoClientKey fails if the client's key reached rec anywhere.
func checkNoClientKey(t *testing.T, name string, rec fakellm.Recorded) {
	t.Helper()
	for h, sum := range rec.KeySHA256 {
		if sum == fakellm.KeyHash(clientKey) {
			t.Errorf("%s: the client's key arrived in %s", name, h)
		}
	}
	if rec.Header.Get("authorization") != "" {
		t.Errorf("%s: authorization header %q arrived, want none", name, rec.Header.Get("authorization"))
	}
	if strings.Contains(rec.Body, clientKey) || strings.Contains(rec.Path, clientKey) {
		t.Errorf("%s: the client's key is in the path or body", name)
	}
	for h, vs := range rec.Header {
		for _, v := range vs {
			if strings.Contains(v, clientKey) {
				t.Errorf("%s: the client's key is in header %s", name, h)
			}
		}
	}
}

// checkAnthropicRequest verifies a Messages request: path, credentials,
// version header and body shape with the mapped model.
func checkAnthropicRequest(t *testing.T, rec fakellm.Recorded, stream bool) {
	t.Helper()
	if rec.Method != http.MethodPost || rec.Path != "/v1/messages" {
		t.Errorf("anthropic got %s %s, want POST /v1/messages", rec.Method, rec.Path)
	}
	if got, want := rec.KeySHA256["x-api-key"], fakellm.KeyHash(providerKey(xAnthropic)); got != want {
		t.Errorf("anthropic x-api-key hash = %q, want %q (its own key)", got, want)
	}
	if rec.Header.Get("anthropic-version") == "" {
		t.Errorf("anthropic got no anthropic-version header: %v", rec.Header)
	}
	checkNoClientKey(t, xAnthropic, rec)
	b := gjson.Parse(rec.Body)
	if got := b.Get("model").String(); got != xModel(xAnthropic) {
		t.Errorf("anthropic body model = %q, want %q", got, xModel(xAnthropic))
	}
	if !b.Get("max_tokens").Exists() {
		t.Errorf("anthropic body has no max_tokens: %s", rec.Body)
	}
	msgs := b.Get("messages").Array()
	if len(msgs) == 0 || msgs[0].Get("role").String() != "user" {
		t.Errorf("anthropic body messages %s, want a user turn first", b.Get("messages").Raw)
	}
	for _, m := range msgs {
		if r := m.Get("role").String(); r != "user" && r != "assistant" {
			t.Errorf("anthropic body has a %q message; Messages takes user and assistant only", r)
		}
	}
	if got := b.Get("stream").Bool(); got != stream {
		t.Errorf("anthropic body stream = %v, want %v", got, stream)
	}
	for _, f := range []string{"stream_options", "n", "tools.0.function"} {
		if b.Get(f).Exists() {
			t.Errorf("anthropic body has OpenAI field %q: %s", f, rec.Body)
		}
	}
}

// checkGeminiRequest verifies a generateContent request: path, credentials
// and body shape.
func checkGeminiRequest(t *testing.T, rec fakellm.Recorded, stream bool) {
	t.Helper()
	want := "/v1beta/models/" + xModel(xGemini) + ":generateContent"
	if stream {
		want = "/v1beta/models/" + xModel(xGemini) + ":streamGenerateContent?alt=sse"
	}
	if rec.Method != http.MethodPost || rec.Path != want {
		t.Errorf("gemini got %s %s, want POST %s", rec.Method, rec.Path, want)
	}
	if got, want := rec.KeySHA256["x-goog-api-key"], fakellm.KeyHash(providerKey(xGemini)); got != want {
		t.Errorf("gemini x-goog-api-key hash = %q, want %q (its own key)", got, want)
	}
	if rec.Header.Get("x-api-key") != "" || rec.Header.Get("anthropic-version") != "" {
		t.Errorf("gemini got Anthropic headers: %v", rec.Header)
	}
	checkNoClientKey(t, xGemini, rec)
	b := gjson.Parse(rec.Body)
	contents := b.Get("contents").Array()
	if len(contents) == 0 || contents[0].Get("role").String() != "user" || contents[0].Get("parts.0.text").String() == "" {
		t.Errorf("gemini body contents %s, want a user turn with a text part", b.Get("contents").Raw)
	}
	for _, f := range []string{"model", "messages", "stream", "stream_options"} {
		if b.Get(f).Exists() {
			t.Errorf("gemini body has OpenAI field %q: %s", f, rec.Body)
		}
	}
}

// checkUntouched fails if any of the named fakes received a request.
func checkUntouched(t *testing.T, s *stack, names ...string) {
	t.Helper()
	for _, n := range names {
		if c := s.fakes[n].Count(); c != 0 {
			t.Errorf("%s received %d requests, want 0", n, c)
		}
	}
}

// checkAnsweredBy verifies the response headers of an answer by provider
// name on attempt n.
func checkAnsweredBy(t *testing.T, h http.Header, name string, attempt int) {
	t.Helper()
	if got := h.Get("x-llm-failover-provider"); got != name {
		t.Fatalf("x-llm-failover-provider = %q, want %q (trace %q)", got, name, h.Get("x-llm-failover-trace"))
	}
	if got := h.Get("x-llm-failover-model"); got != xModel(name) {
		t.Errorf("x-llm-failover-model = %q, want %q", got, xModel(name))
	}
	if got, want := h.Get("x-llm-failover-attempt"), fmt.Sprint(attempt); got != want {
		t.Errorf("x-llm-failover-attempt = %q, want %q (trace %q)", got, want, h.Get("x-llm-failover-trace"))
	}
}

// xCase is one provider answering after the ones before it failed.
type xCase struct {
	name    string
	attempt int
	failing []string
	check   func(*testing.T, fakellm.Recorded, bool)
}

var xCases = []xCase{
	{name: xAnthropic, attempt: 2, failing: []string{xOpenAI}, check: checkAnthropicRequest},
	{name: xGemini, attempt: 3, failing: []string{xOpenAI, xAnthropic}, check: checkGeminiRequest},
}

// TestCrossProvider_PlainFailover verifies that a plain request the OpenAI
// primary answers with 503 is answered by Anthropic (and, with Anthropic
// failing too, by Gemini), that the SDK gets an ordinary chat.completion
// with the fake's text, finish_reason stop and usage, and that the target
// received its own wire format and key, never the client's.
func TestCrossProvider_PlainFailover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, tc := range xCases {
			t.Run(tc.name, func(t *testing.T) {
				s := newCrossStack(t, v)
				failFirst(t, s, 503, tc.failing...)
				r := s.chat()
				if r.err != nil {
					t.Fatalf("request failed: %v\n%s", r.err, r.errBody)
				}
				checkAnsweredBy(t, r.resp.Header, tc.name, tc.attempt)
				c := r.completion
				if c.Object != "chat.completion" {
					t.Errorf("object = %q, want chat.completion", c.Object)
				}
				if c.ID == "" || c.Created == 0 {
					t.Errorf("id %q, created %d: want both set", c.ID, c.Created)
				}
				if c.Model != xModel(tc.name) {
					t.Errorf("model = %q, want %q (the model that answered)", c.Model, xModel(tc.name))
				}
				if len(c.Choices) != 1 {
					t.Fatalf("%d choices, want 1: %s", len(c.Choices), c.RawJSON())
				}
				ch := c.Choices[0]
				if got, want := ch.Message.Content, xAnswer(tc.name); got != want {
					t.Errorf("content = %q, want %q", got, want)
				}
				if ch.Message.Role != "assistant" || ch.FinishReason != "stop" {
					t.Errorf("role %q, finish_reason %q: want assistant, stop", ch.Message.Role, ch.FinishReason)
				}
				u := c.Usage
				if u.PromptTokens < 1 || u.CompletionTokens != 4 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
					t.Errorf("usage %+v: want prompt >= 1, completion 4 (the fake's words), total their sum", u)
				}
				trace := r.header("x-llm-failover-trace")
				for _, n := range tc.failing {
					if c := s.fakes[n].Count(); c != 1 {
						t.Errorf("failing %s received %d requests, want 1", n, c)
					}
					if !strings.Contains(trace, "provider="+n+";") || strings.Count(trace, "status=503") != len(tc.failing) {
						t.Errorf("trace %q does not list the 503 of %s", trace, n)
					}
				}
				tc.check(t, onlyRequest(t, s, tc.name), false)
			})
		}
	})
}

// rawTap is SDK middleware keeping a copy of the response body as the SDK
// reads it, so a test can see the wire stream ([DONE], error events).
type rawTap struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *rawTap) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *rawTap) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

func (r *rawTap) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	resp, err := next(req)
	if resp != nil && resp.Body != nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, r), resp.Body}
	}
	return resp, err
}

// streamResult is a streamed chat completion as the SDK saw it.
type streamResult struct {
	acc        openai.ChatCompletionAccumulator
	chunks     int
	usageChunk *openai.ChatCompletionChunk
	resp       *http.Response
	err        error
	raw        string
}

// chatStream streams one chat completion with include_usage through the
// front door and accumulates it with the SDK's accumulator; opts are added
// to the request's.
func (s *stack) chatStream(opts ...option.RequestOption) streamResult {
	var r streamResult
	tap := &rawTap{}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	st := s.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         chainModel,
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}, append(opts, option.WithResponseInto(&r.resp), option.WithMiddleware(tap.middleware))...)
	for st.Next() {
		c := st.Current()
		r.chunks++
		r.acc.AddChunk(c)
		if len(c.Choices) == 0 && c.Usage.TotalTokens > 0 {
			r.usageChunk = &c
		}
	}
	r.err = st.Err()
	_ = st.Close()
	r.raw = tap.String()
	return r
}

// checkStream verifies a stream answered by name on attempt n: the
// accumulated text, a finish reason, the usage chunk, and a clean end with
// data: [DONE] and no error event.
func checkStream(t *testing.T, r streamResult, name string, attempt int) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("stream: %v\n%s", r.err, r.raw)
	}
	if r.resp == nil {
		t.Fatal("no response")
	}
	checkAnsweredBy(t, r.resp.Header, name, attempt)
	if ct := r.resp.Header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content-type = %q, want text/event-stream", ct)
	}
	if len(r.acc.Choices) != 1 {
		t.Fatalf("accumulated %d choices, want 1\n%s", len(r.acc.Choices), r.raw)
	}
	if got, want := r.acc.Choices[0].Message.Content, xAnswer(name); got != want {
		t.Errorf("accumulated content = %q, want %q", got, want)
	}
	if got := r.acc.Choices[0].FinishReason; got != "stop" {
		t.Errorf("finish_reason = %q, want stop", got)
	}
	if r.usageChunk == nil {
		t.Errorf("no usage chunk (choices: [] with usage) in\n%s", r.raw)
	} else if u := r.usageChunk.Usage; u.CompletionTokens != 4 || u.PromptTokens < 1 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage chunk %+v: want prompt >= 1, completion 4, total their sum", u)
	}
	if r.acc.Model != xModel(name) {
		t.Errorf("chunk model = %q, want %q", r.acc.Model, xModel(name))
	}
	if !strings.HasSuffix(r.raw, "data: [DONE]\n\n") {
		t.Errorf("stream does not end with data: [DONE]:\n%s", r.raw)
	}
	if strings.Contains(r.raw, `"error"`) || strings.Contains(r.raw, "event: error") {
		t.Errorf("stream carries an error event:\n%s", r.raw)
	}
	for _, line := range strings.Split(r.raw, "\n") {
		if line != "" && !strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, ":") {
			t.Errorf("stream line %q is not an OpenAI data line", line)
		}
	}
}

// TestCrossProvider_StreamFailover verifies the same failovers for
// stream: true with include_usage: the SDK's stream and accumulator see the
// fake's text, finish_reason stop, a usage chunk and a clean [DONE] end,
// translated from Anthropic's event stream or Gemini's SSE.
func TestCrossProvider_StreamFailover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, tc := range xCases {
			t.Run(tc.name, func(t *testing.T) {
				s := newCrossStack(t, v)
				failFirst(t, s, 503, tc.failing...)
				checkStream(t, s.chatStream(), tc.name, tc.attempt)
				rec := onlyRequest(t, s, tc.name)
				tc.check(t, rec, true)
				if !rec.Stream {
					t.Errorf("%s recorded a non-stream request", tc.name)
				}
			})
		}
	})
}

// TestCrossProvider_AnthropicStreamFirstEventError verifies that a 200
// Anthropic stream whose first event is an overloaded error fails over to
// Gemini within the same request, and that the client sees only Gemini's
// stream (nothing of Anthropic's, no error event).
func TestCrossProvider_AnthropicStreamFirstEventError(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newCrossStack(t, v)
		failFirst(t, s, 503, xOpenAI)
		if err := s.fakes[xAnthropic].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindStreamError})); err != nil {
			t.Fatal(err)
		}
		r := s.chatStream()
		checkStream(t, r, xGemini, 3)
		if strings.Contains(r.raw, xAnthropic) || strings.Contains(r.raw, "Overloaded") {
			t.Errorf("the client's stream shows Anthropic's:\n%s", r.raw)
		}
		if a := onlyRequest(t, s, xAnthropic); a.Fault == nil || a.Fault.Kind != fakellm.KindStreamError {
			t.Errorf("anthropic request fault = %+v, want stream_error", a.Fault)
		}
		if tr := r.resp.Header.Get("x-llm-failover-trace"); !strings.Contains(tr, "attempt=2;provider=anthropic;model="+xModel(xAnthropic)+";outcome=overloaded;status=200") {
			t.Errorf("trace %q does not list the Anthropic attempt as overloaded with status 200", tr)
		}
		checkGeminiRequest(t, onlyRequest(t, s, xGemini), true)
	})
}

// weatherTool is the tool of the pass-through scenario.
var weatherTool = openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Get the current weather in a city"),
	Parameters: openai.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

const weatherSchema = `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`

// TestCrossProvider_SystemAndToolsPassThrough verifies that a system
// message and a function tool reach Anthropic (system, tools[].input_schema)
// and Gemini (systemInstruction, functionDeclarations[].parametersJsonSchema)
// in their own shapes, with no system turn left among the messages.
func TestCrossProvider_SystemAndToolsPassThrough(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		const system = "You are terse."
		for _, tc := range xCases {
			t.Run(tc.name, func(t *testing.T) {
				s := newCrossStack(t, v)
				failFirst(t, s, 503, tc.failing...)
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				defer cancel()
				var resp *http.Response
				c, err := s.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
					Model: chainModel,
					Messages: []openai.ChatCompletionMessageParamUnion{
						openai.SystemMessage(system),
						openai.UserMessage("Weather in Paris?"),
					},
					Tools: []openai.ChatCompletionToolUnionParam{weatherTool},
				}, option.WithResponseInto(&resp))
				if err != nil {
					t.Fatalf("request failed: %v", err)
				}
				checkAnsweredBy(t, resp.Header, tc.name, tc.attempt)
				// fakellm calls the tool offered; the client reads the
				// provider's tool_use / functionCall as OpenAI tool_calls.
				if calls := c.Choices[0].Message.ToolCalls; len(calls) != 1 || calls[0].Function.Name != "get_weather" ||
					!jsonEqual(calls[0].Function.Arguments, `{"city":"example"}`) || c.Choices[0].FinishReason != "tool_calls" {
					t.Errorf("tool calls = %+v, finish_reason %q; want one get_weather call with {\"city\":\"example\"}, tool_calls",
						calls, c.Choices[0].FinishReason)
				}
				rec := onlyRequest(t, s, tc.name)
				tc.check(t, rec, false)
				b := gjson.Parse(rec.Body)
				var gotSystem, toolName string
				var schema gjson.Result
				switch tc.name {
				case xAnthropic:
					gotSystem = b.Get("system").String()
					if b.Get("system").IsArray() {
						gotSystem = b.Get("system.0.text").String()
					}
					toolName, schema = b.Get("tools.0.name").String(), b.Get("tools.0.input_schema")
					if n := len(b.Get("tools").Array()); n != 1 {
						t.Errorf("anthropic got %d tools, want 1", n)
					}
				case xGemini:
					gotSystem = b.Get("systemInstruction.parts.0.text").String()
					toolName, schema = b.Get("tools.0.functionDeclarations.0.name").String(), b.Get("tools.0.functionDeclarations.0.parametersJsonSchema")
					if strings.Contains(b.Get("contents").Raw, system) {
						t.Errorf("gemini contents carry the system prompt: %s", b.Get("contents").Raw)
					}
				}
				if gotSystem != system {
					t.Errorf("%s system = %q, want %q\n%s", tc.name, gotSystem, system, rec.Body)
				}
				if toolName != "get_weather" {
					t.Errorf("%s tool name = %q, want get_weather\n%s", tc.name, toolName, rec.Body)
				}
				if !jsonEqual(schema.Raw, weatherSchema) {
					t.Errorf("%s tool schema = %s, want %s", tc.name, schema.Raw, weatherSchema)
				}
			})
		}
	})
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// TestCrossProvider_UnexpressibleField verifies that a field Messages and
// Gemini cannot express (n: 2, logprobs), sent to a chain whose first target
// is Anthropic, gets a 400 naming the field before any provider receives
// anything, and that on the main chain such a request never fails over from
// the OpenAI primary to Anthropic or Gemini.
func TestCrossProvider_UnexpressibleField(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		cases := []struct {
			field string
			opt   option.RequestOption
		}{
			{field: "n", opt: option.WithJSONSet("n", 2)},
			{field: "logprobs", opt: option.WithJSONSet("logprobs", true)},
		}
		for _, tc := range cases {
			t.Run(tc.field+" to the anthropic-first chain", func(t *testing.T) {
				s := newCrossStack(t, v)
				r := s.chatModel(claudeFirstModel, tc.opt)
				if r.status() != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %v\n%s", r.status(), r.err, r.errBody)
				}
				e := errorJSON(t, r)
				msg, _ := e["message"].(string)
				if e["param"] != tc.field && !strings.Contains(msg, " "+tc.field+" ") {
					t.Errorf("error %v names neither in param nor in message the field %q", e, tc.field)
				}
				if e["type"] != "invalid_request_error" {
					t.Errorf("error type = %v, want invalid_request_error", e["type"])
				}
				checkUntouched(t, s, xOpenAI, xAnthropic, xGemini)
			})
		}
		t.Run("n to the main chain with the primary failing", func(t *testing.T) {
			s := newCrossStack(t, v)
			failFirst(t, s, 503, xOpenAI)
			r := s.chat(option.WithJSONSet("n", 2))
			if r.status() != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want the primary's 503: %v\n%s", r.status(), r.err, r.errBody)
			}
			if c := s.fakes[xOpenAI].Count(); c != 1 {
				t.Errorf("openai received %d requests, want 1", c)
			}
			checkUntouched(t, s, xAnthropic, xGemini)
		})
	})
}
