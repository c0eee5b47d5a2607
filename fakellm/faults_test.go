package fakellm_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

const (
	oaPath = "/v1/chat/completions"
	anPath = "/v1/messages"
	gmPath = "/v1beta/models/gem:generateContent"
)

// TestFault_StatusBodies verifies status faults: status code, headers and
// the error body in each provider's own shape.
func TestFault_StatusBodies(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "p"})
	tests := []struct {
		name, path, fault string
		status            int
		header            map[string]string // "" means absent
		body              map[string]any
	}{
		{"openai 429 default retry", oaPath, `{"status":429}`, 429,
			map[string]string{"Retry-After": "1", "Retry-After-Ms": "1000"},
			map[string]any{"error.type": "requests", "error.code": "rate_limit_exceeded"}},
		{"openai 429 retry_after", oaPath, `{"status":429,"retry_after":"2"}`, 429,
			map[string]string{"Retry-After": "2", "Retry-After-Ms": "2000"}, nil},
		{"openai 429 no retry-after", oaPath, `{"status":429,"retry_after":"none"}`, 429,
			map[string]string{"Retry-After": "", "Retry-After-Ms": ""}, nil},
		{"openai insufficient_quota", oaPath, `{"status":429,"code":"insufficient_quota"}`, 429, nil,
			map[string]any{"error.type": "insufficient_quota", "error.code": "insufficient_quota"}},
		{"openai context length", oaPath, `{"status":400,"code":"context_length_exceeded"}`, 400, nil,
			map[string]any{"error.type": "invalid_request_error", "error.code": "context_length_exceeded", "error.param": "messages"}},
		{"openai 401", oaPath, `{"status":401}`, 401, nil,
			map[string]any{"error.type": "invalid_request_error", "error.code": "invalid_api_key"}},
		{"openai 500", oaPath, `{"status":500}`, 500, nil, map[string]any{"error.type": "server_error"}},
		{"openai 502", oaPath, `{"status":502}`, 502, nil, map[string]any{"error.type": "server_error"}},
		{"openai 503 shorthand", oaPath, `503`, 503, map[string]string{"Retry-After": ""}, map[string]any{"error.type": "server_error"}},
		{"anthropic 529", anPath, `{"status":529}`, 529, nil,
			map[string]any{"type": "error", "error.type": "overloaded_error", "error.message": "Overloaded"}},
		{"anthropic 429", anPath, `{"status":429,"retry_after":"3"}`, 429,
			map[string]string{"Retry-After": "3", "Retry-After-Ms": ""},
			map[string]any{"type": "error", "error.type": "rate_limit_error"}},
		{"anthropic 401", anPath, `{"status":401}`, 401, nil, map[string]any{"error.type": "authentication_error"}},
		{"anthropic 500", anPath, `{"status":500}`, 500, nil, map[string]any{"error.type": "api_error"}},
		{"anthropic 503", anPath, `{"status":503}`, 503, nil, map[string]any{"error.type": "api_error"}},
		{"anthropic context length", anPath, `{"status":400,"code":"context_length_exceeded"}`, 400, nil,
			map[string]any{"error.type": "invalid_request_error"}},
		{"gemini 429", gmPath, `{"status":429,"retry_after":"2"}`, 429, map[string]string{"Retry-After": "2"},
			map[string]any{"error.code": 429.0, "error.status": "RESOURCE_EXHAUSTED", "error.details.0.retryDelay": "2s"}},
		{"gemini 503", gmPath, `{"status":503}`, 503, nil, map[string]any{"error.code": 503.0, "error.status": "UNAVAILABLE"}},
		{"gemini 400", gmPath, `{"status":400,"code":"context_length_exceeded"}`, 400, nil, map[string]any{"error.status": "INVALID_ARGUMENT"}},
		{"gemini 401", gmPath, `{"status":401}`, 401, nil, map[string]any{"error.status": "UNAUTHENTICATED"}},
		{"verbatim body", oaPath, `{"status":503,"body":"{\"x\":1}"}`, 503, nil, map[string]any{"x": 1.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.post(tt.path, `{"model":"m"}`, "x-fake-fault", tt.fault)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			for h, want := range tt.header {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			if !gjson.ValidBytes(body) {
				t.Fatalf("body is not JSON: %s", body)
			}
			if !gjson.GetBytes(body, "error").Exists() && !strings.Contains(tt.fault, "body") {
				t.Errorf("body %s has no error object", body)
			}
			for p, want := range tt.body {
				if got := gjson.GetBytes(body, p).Value(); got != want {
					t.Errorf("%s = %#v, want %#v (body %s)", p, got, want, body)
				}
			}
		})
	}
}

// TestFault_StreamError verifies that a stream_error fault answers 200 with
// the provider's error as the first and only event, and that a non-stream
// call gets the provider's overload status instead.
func TestFault_StreamError(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	fault := []string{"x-fake-fault", `{"kind":"stream_error"}`}
	tests := []struct {
		name, path, body string
		wantName, path2  string // event name; gjson path of the error kind
		want             string
	}{
		{"openai", oaPath, `{"model":"m","stream":true}`, "", "error.type", "server_error"},
		{"anthropic", anPath, `{"model":"m","stream":true}`, "error", "error.type", "overloaded_error"},
		{"gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", `{}`, "", "error.status", "UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(tt.path, tt.body, fault...)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			evs := parseSSE(t, b)
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1 error event: %q", len(evs), b)
			}
			if evs[0].Name != tt.wantName || gjson.Get(evs[0].Data, tt.path2).String() != tt.want {
				t.Errorf("event = %+v, want name %q and %s = %q", evs[0], tt.wantName, tt.path2, tt.want)
			}
		})
	}
	for path, want := range map[string]int{oaPath: 503, anPath: 529, gmPath: 503} {
		resp, _ := e.post(path, `{"model":"m"}`, fault...)
		if resp.StatusCode != want {
			t.Errorf("non-stream %s status = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestFault_Cut verifies that a cut stream ends with a transport error
// after exactly after_events events and lacks [DONE], and that a cut JSON
// body is short.
func TestFault_Cut(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	resp, err := e.do(http.MethodPost, oaPath, `{"model":"m","stream":true}`, "x-fake-fault", `{"kind":"cut","after_events":2}`)
	if err != nil {
		t.Fatalf("headers: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error = %v, want unexpected EOF", err)
	}
	if strings.Contains(string(b), "[DONE]") {
		t.Errorf("cut stream contains [DONE]: %q", b)
	}
	if evs := parseSSE(t, b); len(evs) != 2 {
		t.Errorf("got %d events, want 2", len(evs))
	}

	resp, err = e.do(http.MethodPost, anPath, `{"model":"m"}`, "x-fake-fault", `cut`)
	if err != nil {
		t.Fatalf("headers: %v", err)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || gjson.ValidBytes(b) {
		t.Errorf("cut JSON: read error = %v, body %q; want unexpected EOF and invalid JSON", err, b)
	}
}

// TestFault_Reset verifies that a reset fault gives the client a connection
// error and no response.
func TestFault_Reset(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	for _, stream := range []string{"false", "true"} {
		resp, err := e.do(http.MethodPost, anPath, `{"model":"m","stream":`+stream+`}`, "x-fake-fault", `{"kind":"reset"}`)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("stream=%s: got status %d, want a connection error", stream, resp.StatusCode)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
			t.Errorf("stream=%s: error = %v, want connection reset", stream, err)
		}
	}
	if got := e.rs.Count(); got != 2 {
		t.Errorf("Count = %d, want 2 (reset requests are recorded)", got)
	}
}

// TestFault_Delays verifies latency, stall and slow_tokens timing.
func TestFault_Delays(t *testing.T) {
	const d = 60 * time.Millisecond
	e := newEnv(t, fakellm.Options{})
	t.Run("latency", func(t *testing.T) {
		start := time.Now()
		resp, b := e.post(oaPath, `{"model":"m"}`, "x-fake-fault", `{"kind":"latency","delay":"60ms"}`)
		if el := time.Since(start); el < d || resp.StatusCode != 200 || !gjson.ValidBytes(b) {
			t.Errorf("took %v, status %d; want >= %v and a normal answer", el, resp.StatusCode, d)
		}
	})
	t.Run("status after delay", func(t *testing.T) {
		start := time.Now()
		resp, _ := e.post(oaPath, `{"model":"m"}`, "x-fake-fault", `{"status":503,"delay":"60ms"}`)
		if el := time.Since(start); el < d || resp.StatusCode != 503 {
			t.Errorf("took %v, status %d; want >= %v and 503", el, resp.StatusCode, d)
		}
	})
	t.Run("stall stream", func(t *testing.T) {
		start := time.Now()
		resp, err := e.do(http.MethodPost, anPath, `{"model":"m","stream":true}`, "x-fake-fault", `{"kind":"stall","delay":"60ms"}`)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if el := time.Since(start); el >= d {
			t.Errorf("headers after %v, want before the %v stall", el, d)
		}
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
			t.Errorf("stalled stream: status %d, Content-Type %q; want 200 text/event-stream", resp.StatusCode, ct)
		}
		buf := make([]byte, 1)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < d {
			t.Errorf("first byte after %v, want >= %v", el, d)
		}
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "message_stop") {
			t.Errorf("stream after stall lacks message_stop: %q", b)
		}
	})
	t.Run("stall json", func(t *testing.T) {
		start := time.Now()
		resp, _ := e.post(gmPath, `{}`, "x-fake-fault", `{"kind":"stall","delay":"60ms"}`)
		if el := time.Since(start); el < d || resp.StatusCode != 200 {
			t.Errorf("took %v, status %d; want >= %v and 200", el, resp.StatusCode, d)
		}
	})
	t.Run("stall until client leaves", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.rs.URL+oaPath, strings.NewReader(`{}`))
		req.Header.Set("x-fake-fault", "stall")
		resp, err := e.c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("got status %d, want the client's deadline", resp.StatusCode)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want deadline exceeded", err)
		}
	})
	t.Run("slow tokens", func(t *testing.T) {
		start := time.Now()
		_, b := e.post(oaPath, `{"model":"m","stream":true}`, "x-fake-fault", `{"kind":"slow_tokens","delay":"10ms"}`)
		n := len(parseSSE(t, b)) // role, 4 deltas, finish, [DONE]
		if el, min := time.Since(start), time.Duration(n-1)*10*time.Millisecond; el < min {
			t.Errorf("%d events took %v, want >= %v", n, el, min)
		}
	})
}

// TestFault_Headers verifies the named header, its precedence, bad specs
// and NoHeaderFaults.
func TestFault_Headers(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "me"})
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"other server's header ignored", []string{"x-fake-fault-other", "503"}, 200},
		{"own named header", []string{"x-fake-fault-me", "503"}, 503},
		{"named wins over generic", []string{"x-fake-fault", "503", "x-fake-fault-me", "429"}, 429},
		{"bad spec", []string{"x-fake-fault", `{"kind":"nope"}`}, 400},
		{"bad status", []string{"x-fake-fault", `{"status":200}`}, 400},
		{"echo_key without a status", []string{"x-fake-fault", `{"kind":"cut","echo_key":true}`}, 400},
		{"rst on a non-cut fault", []string{"x-fake-fault", `{"kind":"reset","rst":true}`}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(oaPath, `{"model":"m"}`, tt.header...)
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, tt.want, b)
			}
		})
	}
	t.Run("no header faults", func(t *testing.T) {
		off := newEnv(t, fakellm.Options{Name: "me", NoHeaderFaults: true})
		resp, _ := off.post(oaPath, `{"model":"m"}`, "x-fake-fault", "reset", "x-fake-fault-me", "503")
		if resp.StatusCode != 200 {
			t.Errorf("status = %d, want 200 with header faults off", resp.StatusCode)
		}
		if f := off.rs.Requests()[0].Fault; f != nil {
			t.Errorf("recorded fault = %+v, want none", f)
		}
	})
}
