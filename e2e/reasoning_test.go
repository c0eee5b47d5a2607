package e2e

import (
	"context"
	"encoding/json"
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
	"github.com/openai/openai-go/v3/shared"
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// The reasoning stack (issue 13): an OpenAI primary (fakellm) failing over
// to a thinking Claude, a small Messages server of this file that answers
// with a thinking block before its text, as Claude with extended thinking
// does.
const (
	reasoningModel   = "reasoning-e2e"
	thinkingText     = "The user wants a person; Jane is 54."
	thinkingAnswer   = `{"name":"Jane","age":54}`
	thinkingProvider = "claude-thinking"
)

// thinkingClaude is an Anthropic Messages server answering every request
// with a thinking block, a redacted_thinking block and a text block, whole
// or streamed as asked; it records the request bodies.
type thinkingClaude struct {
	mu     sync.Mutex
	bodies []string
	srv    *http.Server
	addr   string
}

func startThinkingClaude(t *testing.T) *thinkingClaude {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &thinkingClaude{addr: ln.Addr().String()}
	c.srv = &http.Server{Handler: c, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	t.Cleanup(func() { _ = c.srv.Close() })
	return c
}

func (c *thinkingClaude) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bodies...)
}

func (c *thinkingClaude) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, string(body))
	c.mu.Unlock()
	model := gjson.GetBytes(body, "model").String()
	if !gjson.GetBytes(body, "stream").Bool() {
		w.Header().Set("content-type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_thinking_e2e","type":"message","role":"assistant","model":%q,"content":[`+
			`{"type":"thinking","thinking":%q,"signature":"sig-not-for-clients"},`+
			`{"type":"redacted_thinking","data":"redacted-not-for-clients"},{"type":"text","text":%q}],`+
			`"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":30}}`, model, thinkingText, thinkingAnswer)
		return
	}
	w.Header().Set("content-type", "text/event-stream")
	events := []string{
		fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_thinking_e2e","type":"message","role":"assistant","model":%q,"content":[],"usage":{"input_tokens":12,"output_tokens":1}}}`, model),
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user wants a person; "}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Jane is 54."}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-not-for-clients"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"{\"name\":\"Jane\","}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"\"age\":54}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":30}}`,
		`{"type":"message_stop"}`,
	}
	for _, e := range events {
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", gjson.Get(e, "type").String(), e)
	}
}

// newReasoningStack starts a local stack on matrix entry v: the chain
// reasoningModel is an OpenAI fake then the thinking Claude, whose
// provider entry gets extra (", reasoning: drop" or "").
func newReasoningStack(t *testing.T, v, extra string) (*stack, *thinkingClaude) {
	t.Helper()
	claude := startThinkingClaude(t)
	return newThinkingStack(t, v, "anthropic", claude.addr, "claude-sonnet-4-5", extra), claude
}

// newThinkingStack is newReasoningStack with the fallback of api at addr,
// asked for model.
func newThinkingStack(t *testing.T, v, api, addr, model, extra string) *stack {
	t.Helper()
	if externalURL() != "" {
		t.Skip("skipped against E2E_ENVOY_URL: needs the reasoning config (openai, a thinking anthropic)")
	}
	version, backport := envoyVersion(v)
	s := &stack{t: t, version: version, backport45355: backport, local: true, fakes: map[string]fake{},
		clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	f := fakellm.StartTB(t, fakellm.Options{Name: xOpenAI})
	s.fakes[xOpenAI] = f
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
	oh, op, _ := net.SplitHostPort(f.Addr)
	ch, cp, _ := net.SplitHostPort(addr)
	cfg := fmt.Sprintf(`server: {stream_first_event_timeout: 1s}
providers:
  - {name: %s, api: openai, host: %s, port: %s, tls: false, auth: {key_env: E2E_X_OPENAI_KEY}}
  - {name: %s, api: %s, host: %s, port: %s, tls: false, auth: {key_env: E2E_X_ANTHROPIC_KEY}%s}
chains:
  - name: reasoning
    match: {models: [%s]}
    targets:
      - {provider: %s, model: gpt-e2e}
      - {provider: %s, model: %s}
breaker: {consecutive_failures: 3, open_for: 30s}
limits: {max_body_bytes: 64KiB}
envoy: {ext_proc_address: %q, per_try_timeout: 2s, retry_base_interval: 1ms}
`, xOpenAI, oh, op, thinkingProvider, api, ch, cp, extra, reasoningModel, xOpenAI, thinkingProvider, model, s.grpcAddr)
	s.startFront(ln, cfg)
	return s
}

// reasoningParams is a request asking for reasoning and a strict JSON answer.
func reasoningParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:           reasoningModel,
		Messages:        []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Jane, 54 years old")},
		ReasoningEffort: shared.ReasoningEffortLow,
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Strict: openai.Bool(true),
				Schema: map[string]any{"type": "object", "additionalProperties": false, "required": []string{"name", "age"},
					"properties": map[string]any{"name": map[string]any{"type": "string"}, "age": map[string]any{"type": "integer"}}}},
		}},
	}
}

// reasoningCtx is a request context cancelled at requestTimeout or the test's end.
func reasoningCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// extraString is a string member the SDK keeps among a type's extra fields.
func extraString(t *testing.T, raw string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("reasoning_content %s: not a string: %v", raw, err)
	}
	return s
}

// checkClaudeAsked verifies the Claude request: thinking for the client's
// reasoning_effort (or none under reasoning: drop) and the strict schema
// as Anthropic's native output_config.format, not a prompt instruction.
func checkClaudeAsked(t *testing.T, claude *thinkingClaude, wantThinking bool) {
	t.Helper()
	reqs := claude.requests()
	if len(reqs) != 1 {
		t.Fatalf("claude received %d requests, want 1", len(reqs))
	}
	body := reqs[0]
	if got := gjson.Get(body, "thinking.budget_tokens").Int(); wantThinking && got != 1024 || !wantThinking && got != 0 {
		t.Errorf("thinking.budget_tokens = %d, want %v thinking (1024 for low): %s", got, wantThinking, body)
	}
	if got := gjson.Get(body, "output_config.format.type").String(); got != "json_schema" {
		t.Errorf("output_config.format.type = %q, want json_schema: %s", got, body)
	}
	if gjson.Get(body, "output_config.format.schema.properties.age.type").String() != "integer" {
		t.Errorf("output_config.format.schema is not the client's schema: %s", body)
	}
	if gjson.Get(body, "system").Exists() {
		t.Errorf("system prompt set (a JSON instruction?) though the schema went natively: %s", body)
	}
}

// TestReasoning_ThinkingReachesSDKAfterFailover verifies, through the front
// door with the OpenAI SDK, that after the OpenAI primary fails with 503 the
// Claude fallback is asked for thinking (reasoning_effort low) and for the
// strict schema natively, and that the client reads the thinking as
// reasoning_content beside the JSON answer, whole and streamed, without
// signatures or redacted thinking.
func TestReasoning_ThinkingReachesSDKAfterFailover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		t.Run("answer", func(t *testing.T) {
			s, claude := newReasoningStack(t, v, "")
			failFirst(t, s, 503, xOpenAI)
			resp, err := s.client.Chat.Completions.New(reasoningCtx(t), reasoningParams())
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			checkClaudeAsked(t, claude, true)
			if len(resp.Choices) != 1 {
				t.Fatalf("%d choices, want 1: %s", len(resp.Choices), resp.RawJSON())
			}
			m := resp.Choices[0].Message
			if m.Content != thinkingAnswer {
				t.Errorf("content = %q, want %q", m.Content, thinkingAnswer)
			}
			f, ok := m.JSON.ExtraFields["reasoning_content"]
			if !ok {
				t.Fatalf("no reasoning_content in the message: %s", resp.RawJSON())
			}
			if got := extraString(t, f.Raw()); got != thinkingText {
				t.Errorf("reasoning_content = %q, want %q", got, thinkingText)
			}
			for _, secret := range []string{"sig-not-for-clients", "redacted-not-for-clients"} {
				if strings.Contains(resp.RawJSON(), secret) {
					t.Errorf("the answer carries %q: %s", secret, resp.RawJSON())
				}
			}
		})
		t.Run("stream", func(t *testing.T) {
			s, claude := newReasoningStack(t, v, "")
			failFirst(t, s, 503, xOpenAI)
			st := s.client.Chat.Completions.NewStreaming(reasoningCtx(t), reasoningParams())
			var acc openai.ChatCompletionAccumulator
			var reasoning strings.Builder
			for st.Next() {
				ch := st.Current()
				acc.AddChunk(ch)
				for _, c := range ch.Choices {
					if f, ok := c.Delta.JSON.ExtraFields["reasoning_content"]; ok {
						reasoning.WriteString(extraString(t, f.Raw()))
					}
				}
			}
			if err := st.Err(); err != nil {
				t.Fatalf("stream failed: %v", err)
			}
			checkClaudeAsked(t, claude, true)
			if got := reasoning.String(); got != thinkingText {
				t.Errorf("streamed reasoning_content = %q, want %q", got, thinkingText)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != thinkingAnswer {
				t.Errorf("streamed content: got %+v, want %q", acc.Choices, thinkingAnswer)
			}
		})
	})
}

// TestReasoning_DropSettingHidesThinking verifies that a provider with
// reasoning: drop is not asked for thinking and that the SDK reads the
// answer without reasoning_content.
func TestReasoning_DropSettingHidesThinking(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, claude := newReasoningStack(t, v, ", reasoning: drop")
		failFirst(t, s, 503, xOpenAI)
		resp, err := s.client.Chat.Completions.New(reasoningCtx(t), reasoningParams())
		if err != nil {
			t.Fatalf("request failed: %v", err)
		}
		checkClaudeAsked(t, claude, false)
		if len(resp.Choices) != 1 || resp.Choices[0].Message.Content != thinkingAnswer {
			t.Fatalf("answer: got %s, want content %q", resp.RawJSON(), thinkingAnswer)
		}
		if _, ok := resp.Choices[0].Message.JSON.ExtraFields["reasoning_content"]; ok {
			t.Errorf("reasoning: drop still sent reasoning_content: %s", resp.RawJSON())
		}
	})
}

// thinkingGemini is a Gemini generateContent server answering with a thought
// summary part before its text, whole or streamed (two thought pieces, two
// text pieces); it records the request bodies.
type thinkingGemini struct{ thinkingClaude }

func startThinkingGemini(t *testing.T) *thinkingGemini {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &thinkingGemini{thinkingClaude{addr: ln.Addr().String()}}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	t.Cleanup(func() { _ = g.srv.Close() })
	return g
}

func (g *thinkingGemini) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.bodies = append(g.bodies, string(body))
	g.mu.Unlock()
	part := func(text string, thought bool, finish string) string {
		p := fmt.Sprintf(`{"text":%q}`, text)
		if thought {
			p = fmt.Sprintf(`{"text":%q,"thought":true}`, text)
		}
		f := ""
		if finish != "" {
			f = fmt.Sprintf(`,"finishReason":%q`, finish)
		}
		return fmt.Sprintf(`{"candidates":[{"content":{"parts":[%s],"role":"model"}%s,"index":0}],`+
			`"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":6,"thoughtsTokenCount":20,"totalTokenCount":34},`+
			`"modelVersion":"gemini-2.5-flash","responseId":"gemini-thinking-e2e"}`, p, f)
	}
	if !strings.Contains(r.URL.Path, ":streamGenerateContent") {
		w.Header().Set("content-type", "application/json")
		fmt.Fprintf(w, `{"candidates":[{"content":{"parts":[{"text":%q,"thought":true},{"text":%q}],"role":"model"},`+
			`"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":6,`+
			`"thoughtsTokenCount":20,"totalTokenCount":34},"modelVersion":"gemini-2.5-flash","responseId":"gemini-thinking-e2e"}`,
			thinkingText, thinkingAnswer)
		return
	}
	w.Header().Set("content-type", "text/event-stream")
	for _, e := range []string{
		part("The user wants a person; ", true, ""),
		part("Jane is 54.", true, ""),
		part(`{"name":"Jane",`, false, ""),
		part(`"age":54}`, false, "STOP"),
	} {
		fmt.Fprintf(w, "data: %s\r\n\r\n", e)
	}
}

// TestReasoning_GeminiThoughtsReachSDKAfterFailover verifies, through the
// front door with the OpenAI SDK, that after the OpenAI primary fails with
// 503 Gemini is asked for thought summaries (includeThoughts, reasoning_effort
// low's budget) and the schema natively, and that the client reads the
// thoughts as reasoning_content beside the JSON answer, whole and streamed,
// with the thought tokens as reasoning_tokens.
func TestReasoning_GeminiThoughtsReachSDKAfterFailover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
				g := startThinkingGemini(t)
				s := newThinkingStack(t, v, "gemini", g.addr, "gemini-2.5-flash", "")
				failFirst(t, s, 503, xOpenAI)
				var content, reasoning string
				var reasoningTokens int64
				if stream {
					p := reasoningParams()
					p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
					st := s.client.Chat.Completions.NewStreaming(reasoningCtx(t), p)
					var sb, cb strings.Builder
					for st.Next() {
						ch := st.Current()
						reasoningTokens = max(reasoningTokens, ch.Usage.CompletionTokensDetails.ReasoningTokens)
						for _, c := range ch.Choices {
							cb.WriteString(c.Delta.Content)
							if f, ok := c.Delta.JSON.ExtraFields["reasoning_content"]; ok {
								sb.WriteString(extraString(t, f.Raw()))
							}
						}
					}
					if err := st.Err(); err != nil {
						t.Fatalf("stream failed: %v", err)
					}
					content, reasoning = cb.String(), sb.String()
				} else {
					resp, err := s.client.Chat.Completions.New(reasoningCtx(t), reasoningParams())
					if err != nil {
						t.Fatalf("request failed: %v", err)
					}
					if len(resp.Choices) != 1 {
						t.Fatalf("%d choices, want 1: %s", len(resp.Choices), resp.RawJSON())
					}
					content = resp.Choices[0].Message.Content
					if f, ok := resp.Choices[0].Message.JSON.ExtraFields["reasoning_content"]; ok {
						reasoning = extraString(t, f.Raw())
					}
					reasoningTokens = resp.Usage.CompletionTokensDetails.ReasoningTokens
				}
				if content != thinkingAnswer || reasoning != thinkingText || reasoningTokens != 20 {
					t.Errorf("got content %q, reasoning_content %q, reasoning_tokens %d; want %q, %q, 20",
						content, reasoning, reasoningTokens, thinkingAnswer, thinkingText)
				}
				reqs := g.requests()
				if len(reqs) != 1 {
					t.Fatalf("gemini received %d requests, want 1", len(reqs))
				}
				gc := gjson.Get(reqs[0], "generationConfig")
				if !gc.Get("thinkingConfig.includeThoughts").Bool() || gc.Get("thinkingConfig.thinkingBudget").Int() != 1024 ||
					gc.Get("responseJsonSchema.properties.age.type").String() != "integer" {
					t.Errorf("generationConfig = %s, want thought summaries with budget 1024 and the client's schema", gc.Raw)
				}
			})
		}
	})
}
