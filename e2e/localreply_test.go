package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/tidwall/gjson"
)

// envoyJSONError checks that a local reply Envoy made itself reached the
// client as the HCM local_reply_config's OpenAI-style error: content-type
// application/json, {"error":{"message","type","param":null,"code"}}, with
// the wanted type and a code (the response code details) starting with
// codePrefix. It returns the error object.
func envoyJSONError(t *testing.T, ct string, body []byte, wantType, codePrefix string) map[string]any {
	t.Helper()
	if ct != "application/json" {
		t.Errorf("content-type %q, want application/json; body %q", ct, body)
	}
	var env struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Fatalf("body is not an OpenAI-style error: %v\n%s", err, body)
	}
	e := env.Error
	if p, ok := e["param"]; !ok || p != nil {
		t.Errorf("param = %v (present %v), want null", p, ok)
	}
	if e["type"] != wantType {
		t.Errorf("type = %v, want %q", e["type"], wantType)
	}
	if code, _ := e["code"].(string); !strings.HasPrefix(code, codePrefix) {
		t.Errorf("code = %q, want prefix %q", code, codePrefix)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("message is empty: %s", body)
	}
	return e
}

// rawBody is the body of an API error dumped with its response.
func rawBody(r chatResult) []byte {
	raw := r.errBody
	if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
		raw = raw[i+4:]
	}
	return []byte(raw)
}

// lastImmediate is the last ImmediateResponse the server sent, or nil.
func lastImmediate(s *stack) *extprocsvc.ImmediateResponse {
	var ir *extprocsvc.ImmediateResponse
	for _, ex := range s.rec.all() {
		if x := ex.resp.GetImmediateResponse(); x != nil {
			ir = x
		}
	}
	return ir
}

// TestLocalReply_OversizedChunkedBodyIsOpenAIJSON verifies that a chunked
// request body over limits.max_body_bytes (no content-length, so the route
// phase cannot refuse it from the headers) gets a 413 OpenAI-style JSON error
// and reaches no provider: the server's own 413 while Envoy can still buffer
// the body (its limit is never below the listener's
// per_connection_buffer_limit_bytes, 1 MiB by default), Envoy's 413 local
// reply beyond that.
func TestLocalReply_OversizedChunkedBodyIsOpenAIJSON(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		cases := []struct {
			name    string
			content int
			// envoyOnly: only Envoy's local reply is right; otherwise the
			// server's 413 is too.
			envoyOnly bool
		}{
			{name: "over max_body_bytes", content: 70 << 10},
			{name: "over Envoy's buffer limit", content: 1<<20 + 1<<10, envoyOnly: true},
		}
		s := newStack(t, v, stackOpts{})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				body := `{"model":"` + chainModel + `","messages":[{"role":"user","content":"` + strings.Repeat("x", tc.content) + `"}]}`
				req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(s.url, "/")+"/v1/chat/completions", io.MultiReader(strings.NewReader(body)))
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = -1 // chunked
				req.Header.Set("content-type", "application/json")
				resp, err := s.http.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				got, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 413 {
					t.Fatalf("status %d, want 413: %s", resp.StatusCode, got)
				}
				if !tc.envoyOnly && gjson.GetBytes(got, "error.code").String() == "request_too_large" {
					if typ := gjson.GetBytes(got, "error.type").String(); typ != "invalid_request_error" {
						t.Errorf("server's 413 type = %q, want invalid_request_error: %s", typ, got)
					}
				} else {
					e := envoyJSONError(t, resp.Header.Get("content-type"), got, "invalid_request_error", "request_payload_too_large")
					if e["message"] != "Payload Too Large" {
						t.Errorf("message = %v, want Envoy's local reply body %q", e["message"], "Payload Too Large")
					}
				}
				for _, n := range providerNames {
					if c := s.fakes[n].Count(); c != 0 {
						t.Errorf("%s received %d requests, want 0", n, c)
					}
				}
			})
		}
	})
}

// TestLocalReply_OurAnswersPassUnchanged verifies that local_reply_config
// leaves the server's own JSON answers (route phase 400/404/413/415) byte for
// byte as the server sent them, with their content type.
func TestLocalReply_OurAnswersPassUnchanged(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.needLocal("the server's recorded ImmediateResponses")
		cases := []struct {
			name   string
			model  string
			body   string
			ct     string
			status int
		}{
			{name: "malformed JSON", body: `{"model": "gpt-e2e", "messages": [`, ct: "application/json", status: 400},
			{name: "unknown model", body: `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, ct: "application/json", status: 404},
			{name: "oversized body", body: `{"model":"` + chainModel + `","messages":[{"role":"user","content":"` + strings.Repeat("x", 70<<10) + `"}]}`, ct: "application/json", status: 413},
			{name: "wrong content type", body: `{"model":"gpt-e2e","messages":[{"role":"user","content":"hi"}]}`, ct: "text/plain", status: 415},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := s.http.Post(strings.TrimSuffix(s.url, "/")+"/v1/chat/completions", tc.ct, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, got)
				}
				ir := lastImmediate(s)
				if ir == nil {
					t.Fatal("the server sent no ImmediateResponse")
				}
				if !bytes.Equal(got, ir.GetBody()) {
					t.Errorf("body re-wrapped:\n got %s\nwant %s", got, ir.GetBody())
				}
				if ct := resp.Header.Get("content-type"); ct != "application/json" {
					t.Errorf("content-type %q, want application/json", ct)
				}
			})
		}
	})
}
