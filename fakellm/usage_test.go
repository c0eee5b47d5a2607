package fakellm_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// usageWant is where one API's answers and streams carry the configured
// usage (prompt 1000, of which 400 cached, completion 250).
var usageWant = []struct {
	name, path, body, stream string
	want                     map[string]float64
	streamWant               map[string]float64 // in the stream's last event that has them
}{
	{"openai", "/v1/chat/completions", `{"model":"m"}`, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`,
		map[string]float64{"usage.prompt_tokens": 1000, "usage.completion_tokens": 250, "usage.prompt_tokens_details.cached_tokens": 400, "usage.total_tokens": 1250},
		map[string]float64{"usage.prompt_tokens": 1000, "usage.completion_tokens": 250, "usage.prompt_tokens_details.cached_tokens": 400}},
	{"anthropic", "/v1/messages", `{"model":"m","max_tokens":5}`, `{"model":"m","max_tokens":5,"stream":true}`,
		map[string]float64{"usage.input_tokens": 600, "usage.cache_read_input_tokens": 400, "usage.output_tokens": 250},
		map[string]float64{"message.usage.input_tokens": 600, "message.usage.cache_read_input_tokens": 400}},
	{"gemini", "/v1beta/models/m:generateContent", `{}`, "",
		map[string]float64{"usageMetadata.promptTokenCount": 1000, "usageMetadata.cachedContentTokenCount": 400, "usageMetadata.candidatesTokenCount": 250},
		nil},
	{"responses", "/v1/responses", `{"model":"m","input":"hi"}`, `{"model":"m","input":"hi","stream":true}`,
		map[string]float64{"usage.input_tokens": 1000, "usage.input_tokens_details.cached_tokens": 400, "usage.output_tokens": 250},
		map[string]float64{"response.usage.input_tokens": 1000, "response.usage.input_tokens_details.cached_tokens": 400, "response.usage.output_tokens": 250}},
}

// TestUsage_ConfiguredInEveryShape verifies a configured usage (prompt,
// cached, completion) is reported in each API's own fields, JSON and
// streamed, and that clearing it goes back to the defaults.
func TestUsage_ConfiguredInEveryShape(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "prov"})
	if err := e.rs.SetUsage(fakellm.Usage{Prompt: 1000, Completion: 250, Cached: 400}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range usageWant {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.post(tc.path, tc.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			for p, want := range tc.want {
				if got := gjson.GetBytes(body, p).Float(); got != want {
					t.Errorf("%s = %v, want %v (body %s)", p, got, want, body)
				}
			}
			if tc.stream == "" {
				return
			}
			_, sse := e.post(tc.path, tc.stream)
			for p, want := range tc.streamWant {
				var got float64
				for _, line := range strings.Split(string(sse), "\n") {
					if data, ok := strings.CutPrefix(line, "data: "); ok {
						if r := gjson.Get(data, p); r.Exists() {
							got = r.Float()
						}
					}
				}
				if got != want {
					t.Errorf("stream %s = %v, want %v\n%s", p, got, want, sse)
				}
			}
		})
	}
	e.rs.ClearUsage()
	_, body := e.post("/v1/chat/completions", `{"model":"m"}`)
	if got := gjson.GetBytes(body, "usage.prompt_tokens").Int(); got != int64(len(`{"model":"m"}`)/4) {
		t.Errorf("after ClearUsage: prompt_tokens %d, want the default", got)
	}
	if gjson.GetBytes(body, "usage.prompt_tokens_details").Exists() {
		t.Errorf("after ClearUsage: prompt_tokens_details present: %s", body)
	}
}

// TestUsage_AdminEndpoint verifies /_fake/usage sets, reads and clears the
// usage, and refuses an invalid one with 400.
func TestUsage_AdminEndpoint(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	resp, body := e.post("/_fake/usage", `{"prompt_tokens":10,"completion_tokens":3,"cached_tokens":11}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("cached over prompt: status %d, want 400 (%s)", resp.StatusCode, body)
	}
	if resp, body := e.post("/_fake/usage", `{"prompt_tokens":10,"completion_tokens":3,"cached_tokens":2}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("set: status %d (%s)", resp.StatusCode, body)
	}
	_, body = e.post("/v1/chat/completions", `{"model":"m"}`)
	if got := gjson.GetBytes(body, "usage.prompt_tokens_details.cached_tokens").Int(); got != 2 {
		t.Fatalf("cached_tokens: got %d, want 2 (%s)", got, body)
	}
	r, err := e.do(http.MethodDelete, "/_fake/usage", "")
	if err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %v %v", r, err)
	}
	r.Body.Close()
	_, body = e.post("/v1/chat/completions", `{"model":"m"}`)
	if gjson.GetBytes(body, "usage.prompt_tokens_details").Exists() {
		t.Fatalf("after DELETE: %s", body)
	}
}
