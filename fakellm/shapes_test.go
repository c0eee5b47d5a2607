package fakellm_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// TestShapes_JSON verifies the non-stream answer of every provider path.
func TestShapes_JSON(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "prov"})
	tests := []struct {
		name, path, body string
		want             map[string]any // gjson path -> value
	}{
		{"openai", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, map[string]any{
			"object": "chat.completion", "model": "gpt-4o", "created": 1700000000.0,
			"choices.0.index": 0.0, "choices.0.message.role": "assistant",
			"choices.0.message.content": "Hello from prov (gpt-4o).", "choices.0.finish_reason": "stop",
			"usage.prompt_tokens": 15.0, "usage.completion_tokens": 4.0, "usage.total_tokens": 19.0,
		}},
		{"openai prefixed", "/openai/v1/chat/completions", `{"model":"m1"}`, map[string]any{
			"choices.0.message.content": "Hello from prov (m1).",
		}},
		{"azure deployment", "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21", `{"messages":[]}`, map[string]any{
			"model": "my-dep", "choices.0.message.content": "Hello from prov (my-dep).",
		}},
		{"anthropic", "/v1/messages", `{"model":"claude-x","max_tokens":10,"messages":[]}`, map[string]any{
			"type": "message", "role": "assistant", "model": "claude-x",
			"content.0.type": "text", "content.0.text": "Hello from prov (claude-x).",
			"stop_reason": "end_turn", "stop_sequence": nil,
			"usage.input_tokens": 12.0, "usage.output_tokens": 4.0,
		}},
		{"gemini", "/v1beta/models/gemini-2.0-flash:generateContent", `{"contents":[]}`, map[string]any{
			"candidates.0.content.role": "model", "candidates.0.content.parts.0.text": "Hello from prov (gemini-2.0-flash).",
			"candidates.0.finishReason": "STOP", "usageMetadata.promptTokenCount": 3.0,
			"usageMetadata.candidatesTokenCount": 4.0, "usageMetadata.totalTokenCount": 7.0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post(tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if !json.Valid(body) {
				t.Fatalf("body is not JSON: %s", body)
			}
			for p, want := range tt.want {
				if got := gjson.GetBytes(body, p).Value(); got != want {
					t.Errorf("%s = %#v, want %#v (body %s)", p, got, want, body)
				}
			}
		})
	}
}

// TestShapes_OpenAIStream verifies the chunk order of an OpenAI stream,
// with and without stream_options.include_usage.
func TestShapes_OpenAIStream(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "oa"})
	for _, usage := range []bool{false, true} {
		t.Run(map[bool]string{false: "no usage", true: "include_usage"}[usage], func(t *testing.T) {
			body := `{"model":"gpt","stream":true}`
			if usage {
				body = `{"model":"gpt","stream":true,"stream_options":{"include_usage":true}}`
			}
			resp, b := e.post("/v1/chat/completions", body)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type = %q, want text/event-stream", ct)
			}
			evs := parseSSE(t, b)
			if last := evs[len(evs)-1]; last.Data != "[DONE]" {
				t.Fatalf("last event = %q, want [DONE]", last.Data)
			}
			chunks := evs[:len(evs)-1]
			first := chunks[0].Data
			if gjson.Get(first, "choices.0.delta.role").String() != "assistant" {
				t.Errorf("first chunk %s: want the role delta", first)
			}
			var text strings.Builder
			finish := -1
			for i, c := range chunks {
				if got := gjson.Get(c.Data, "object").String(); got != "chat.completion.chunk" {
					t.Errorf("chunk %d object = %q, want chat.completion.chunk", i, got)
				}
				text.WriteString(gjson.Get(c.Data, "choices.0.delta.content").String())
				if gjson.Get(c.Data, "choices.0.finish_reason").String() == "stop" {
					finish = i
				}
				if got := gjson.Get(c.Data, "usage").Exists(); got != usage {
					t.Errorf("chunk %d has usage field = %v, want %v", i, got, usage)
				}
			}
			if got, want := text.String(), "Hello from oa (gpt)."; got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
			wantFinish := len(chunks) - 1
			if usage {
				wantFinish--
				u := chunks[len(chunks)-1].Data
				if n := len(gjson.Get(u, "choices").Array()); n != 0 || gjson.Get(u, "usage.completion_tokens").Int() != 4 {
					t.Errorf("usage chunk = %s, want empty choices and completion_tokens 4", u)
				}
			}
			if finish != wantFinish {
				t.Errorf("finish_reason chunk at %d, want %d", finish, wantFinish)
			}
		})
	}
}

// TestShapes_AnthropicStream verifies the Anthropic event sequence and that
// each event's data type matches its event name.
func TestShapes_AnthropicStream(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "an"})
	_, b := e.post("/v1/messages", `{"model":"claude","stream":true}`)
	evs := parseSSE(t, b)
	var names []string
	var text strings.Builder
	for _, ev := range evs {
		names = append(names, ev.Name)
		if got := gjson.Get(ev.Data, "type").String(); got != ev.Name {
			t.Errorf("event %s has data type %q", ev.Name, got)
		}
		if ev.Name == "content_block_delta" {
			if dt := gjson.Get(ev.Data, "delta.type").String(); dt != "text_delta" {
				t.Errorf("delta type = %q, want text_delta", dt)
			}
			text.WriteString(gjson.Get(ev.Data, "delta.text").String())
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("events = %s\nwant     %s", got, want)
	}
	if got := text.String(); got != "Hello from an (claude)." {
		t.Errorf("text = %q, want %q", got, "Hello from an (claude).")
	}
	start := evs[0].Data
	if gjson.Get(start, "message.model").String() != "claude" || !gjson.Get(start, "message.usage.input_tokens").Exists() {
		t.Errorf("message_start = %s, want model and usage.input_tokens", start)
	}
	md := evs[len(evs)-2].Data
	if gjson.Get(md, "delta.stop_reason").String() != "end_turn" || gjson.Get(md, "usage.output_tokens").Int() != 4 {
		t.Errorf("message_delta = %s, want stop_reason end_turn and output_tokens 4", md)
	}
}

// TestShapes_GeminiStream verifies Gemini streams, SSE with alt=sse (CRLF
// line ends) and a JSON array without it.
func TestShapes_GeminiStream(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "gm"})
	check := func(t *testing.T, chunks []string) {
		t.Helper()
		var text strings.Builder
		for i, c := range chunks {
			text.WriteString(gjson.Get(c, "candidates.0.content.parts.0.text").String())
			fr := gjson.Get(c, "candidates.0.finishReason").String()
			if wantFR := map[bool]string{true: "STOP"}[i == len(chunks)-1]; fr != wantFR {
				t.Errorf("chunk %d finishReason = %q, want %q", i, fr, wantFR)
			}
		}
		if got := text.String(); got != "Hello from gm (gem)." {
			t.Errorf("text = %q, want %q", got, "Hello from gm (gem).")
		}
		if got := gjson.Get(chunks[len(chunks)-1], "usageMetadata.candidatesTokenCount").Int(); got != 4 {
			t.Errorf("final candidatesTokenCount = %d, want 4", got)
		}
	}
	t.Run("sse", func(t *testing.T) {
		resp, b := e.post("/v1beta/models/gem:streamGenerateContent?alt=sse", `{}`)
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Errorf("Content-Type = %q, want text/event-stream", ct)
		}
		if !strings.Contains(string(b), "\r\n\r\n") {
			t.Errorf("events are not CRLF-terminated: %q", b)
		}
		var chunks []string
		for _, ev := range parseSSE(t, b) {
			chunks = append(chunks, ev.Data)
		}
		check(t, chunks)
	})
	t.Run("json array", func(t *testing.T) {
		_, b := e.post("/v1beta/models/gem:streamGenerateContent", `{}`)
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			t.Fatalf("body is not a JSON array: %v: %s", err, b)
		}
		var chunks []string
		for _, c := range arr {
			chunks = append(chunks, string(c))
		}
		check(t, chunks)
	})
}

// TestShapes_OtherPaths verifies /healthz, unknown paths and wrong methods.
func TestShapes_OtherPaths(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/healthz", 200},
		{http.MethodPost, "/v1/embeddings", 404},
		{http.MethodPost, "/v1beta/models/x:countTokens", 404},
		{http.MethodGet, "/v1/chat/completions", 405},
	}
	for _, tt := range tests {
		resp, err := e.do(tt.method, tt.path, "")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	if got := e.rs.Count(); got != 3 {
		t.Errorf("Count = %d, want 3 (healthz is not recorded)", got)
	}
}
