package fakellm_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// rawPost posts with a transport that never decompresses, so the test sees
// the bytes and Content-Encoding the fake sent.
func (e *env) rawPost(path, body string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	return e.postWith(&http.Client{Transport: tr, Timeout: testTimeout}, path, body, header...)
}

// TestFault_Compress verifies that a compress fault gzips the answer, JSON
// and stream, exactly when the request accepts gzip, and answers identity
// to a request that accepts only br or refuses gzip.
func TestFault_Compress(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "z"})
	fault := `{"kind":"compress"}`
	tests := []struct {
		name, path, body, accept string
		wantGzip                 bool
		want                     string // substring of the decoded body
	}{
		{"openai json gzip", oaPath, `{"model":"m"}`, "gzip, deflate, br", true, `"content":"Hello from z (m)."`},
		{"openai stream gzip", oaPath, `{"model":"m","stream":true}`, "gzip", true, "data: [DONE]"},
		{"anthropic stream star", anPath, `{"model":"m","stream":true}`, "*", true, "event: message_stop"},
		{"gemini json gzip", gmPath, `{}`, "br;q=1.0, gzip;q=0.5", true, `"finishReason":"STOP"`},
		{"br only is identity", oaPath, `{"model":"m"}`, "br", false, `"content":"Hello from z (m)."`},
		{"gzip refused is identity", oaPath, `{"model":"m"}`, "gzip;q=0, br", false, `"content":"Hello from z (m)."`},
		{"no accept-encoding is identity", oaPath, `{"model":"m","stream":true}`, "", false, "data: [DONE]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := []string{"x-fake-fault", fault}
			if tt.accept != "" {
				h = append(h, "Accept-Encoding", tt.accept)
			}
			resp, b := e.rawPost(tt.path, tt.body, h...)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			ce := resp.Header.Get("Content-Encoding")
			if tt.wantGzip {
				if ce != "gzip" {
					t.Fatalf("Content-Encoding = %q, want gzip", ce)
				}
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("gzip: %v", err)
				}
				if b, err = io.ReadAll(zr); err != nil {
					t.Fatalf("gunzip: %v", err)
				}
			} else if ce != "" {
				t.Fatalf("Content-Encoding = %q, want none", ce)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("decoded body %q lacks %q", b, tt.want)
			}
		})
	}
}

// TestFault_BrokenSuccess verifies the 200 answers that are not answers:
// an HTML page, invalid JSON and an empty body, JSON and stream.
func TestFault_BrokenSuccess(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	tests := []struct {
		name, path, body, fault string
		wantCT                  string // Content-Type prefix
		check                   func(t *testing.T, b []byte)
	}{
		{"html json", oaPath, `{"model":"m"}`, "html", "text/html", func(t *testing.T, b []byte) {
			if !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
				t.Errorf("body %q is not an HTML page", b)
			}
		}},
		{"html stream", anPath, `{"model":"m","stream":true}`, "html", "text/html", func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), "<html>") {
				t.Errorf("body %q is not an HTML page", b)
			}
		}},
		{"bad json", oaPath, `{"model":"m"}`, "bad_json", "application/json", func(t *testing.T, b []byte) {
			if len(b) == 0 || gjson.ValidBytes(b) {
				t.Errorf("body %q: want non-empty invalid JSON", b)
			}
		}},
		{"bad json stream", oaPath, `{"model":"m","stream":true}`, "bad_json", "text/event-stream", func(t *testing.T, b []byte) {
			evs := parseSSE(t, b)
			if gjson.Valid(evs[0].Data) || evs[len(evs)-1].Data != "[DONE]" {
				t.Errorf("events %+v: want an invalid first event and the rest up to [DONE]", evs)
			}
		}},
		{"empty json", gmPath, `{}`, "empty", "application/json", func(t *testing.T, b []byte) {
			if len(b) != 0 {
				t.Errorf("body %q, want empty", b)
			}
		}},
		{"empty stream", oaPath, `{"model":"m","stream":true}`, "empty", "text/event-stream", func(t *testing.T, b []byte) {
			if len(b) != 0 {
				t.Errorf("body %q, want empty", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(tt.path, tt.body, "x-fake-fault", tt.fault)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.wantCT) {
				t.Fatalf("status %d, Content-Type %q; want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantCT)
			}
			tt.check(t, b)
		})
	}
}

// TestFault_NoTerminal verifies that a no_terminal stream ends cleanly
// (no transport error) with its content but without the events that
// finish it, in every provider's format.
func TestFault_NoTerminal(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "p"})
	tests := []struct {
		name, path, body, fault string
		wantEvents              int
		forbidden               []string
	}{
		{"openai", oaPath, `{"model":"m","stream":true}`, "no_terminal", 5, []string{"[DONE]", `"finish_reason":"stop"`}},
		{"openai usage", oaPath, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, "no_terminal", 5, []string{"[DONE]", `"total_tokens"`}},
		{"openai after_events", oaPath, `{"model":"m","stream":true}`, `{"kind":"no_terminal","after_events":2}`, 2, []string{"[DONE]"}},
		{"anthropic", anPath, `{"model":"m","stream":true}`, "no_terminal", 7, []string{"message_stop", "message_delta", "content_block_stop"}},
		{"gemini", "/v1beta/models/g:streamGenerateContent?alt=sse", `{}`, "no_terminal", 3, []string{"finishReason"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(tt.path, tt.body, "x-fake-fault", tt.fault)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if evs := parseSSE(t, b); len(evs) != tt.wantEvents {
				t.Errorf("got %d events, want %d: %q", len(evs), tt.wantEvents, b)
			}
			for _, f := range tt.forbidden {
				if strings.Contains(string(b), f) {
					t.Errorf("stream contains %q: %q", f, b)
				}
			}
		})
	}
	resp, b := e.post(oaPath, `{"model":"m"}`, "x-fake-fault", "no_terminal")
	if resp.StatusCode != 200 || gjson.GetBytes(b, "choices.0.finish_reason").String() != "stop" {
		t.Errorf("non-stream no_terminal: status %d body %s, want the normal answer", resp.StatusCode, b)
	}
}

// TestFault_ErrorAfterStart verifies that an error_after_start stream sends
// the events that open a stream, then the provider's error before any
// content, and that a non-stream call gets the overload status.
func TestFault_ErrorAfterStart(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	tests := []struct {
		name, path, body string
		wantNames        []string
		firstPath, first string // gjson path and value in the first event
		errPath, errWant string // in the last event
	}{
		{"openai role chunk", oaPath, `{"model":"m","stream":true}`, []string{"", ""},
			"choices.0.delta.role", "assistant", "error.type", "server_error"},
		{"anthropic message_start ping", anPath, `{"model":"m","stream":true}`, []string{"message_start", "ping", "error"},
			"type", "message_start", "error.type", "overloaded_error"},
		{"gemini empty part", "/v1beta/models/g:streamGenerateContent?alt=sse", `{}`, []string{"", ""},
			"candidates.0.content.parts.0.text", "", "error.status", "UNAVAILABLE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(tt.path, tt.body, "x-fake-fault", "error_after_start")
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			evs := parseSSE(t, b)
			if len(evs) != len(tt.wantNames) {
				t.Fatalf("got %d events, want %d: %q", len(evs), len(tt.wantNames), b)
			}
			for i, ev := range evs {
				if ev.Name != tt.wantNames[i] {
					t.Errorf("event %d name = %q, want %q", i, ev.Name, tt.wantNames[i])
				}
			}
			if got := gjson.Get(evs[0].Data, tt.firstPath); !got.Exists() || got.String() != tt.first {
				t.Errorf("first event %s = %q, want %q", tt.firstPath, got.String(), tt.first)
			}
			if got := gjson.Get(evs[len(evs)-1].Data, tt.errPath).String(); got != tt.errWant {
				t.Errorf("last event %s = %q, want %q", tt.errPath, got, tt.errWant)
			}
			if strings.Contains(string(b), "Hello") {
				t.Errorf("stream carries content: %q", b)
			}
		})
	}
	if resp, _ := e.post(anPath, `{"model":"m"}`, "x-fake-fault", "error_after_start"); resp.StatusCode != 529 {
		t.Errorf("non-stream status = %d, want 529", resp.StatusCode)
	}
}

// TestFault_EchoKey verifies that echo_key puts the request's full key in
// the error message of every provider shape.
func TestFault_EchoKey(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	const key = "sk-secret-0123456789"
	tests := []struct{ name, path, header, value, want string }{
		{"openai", oaPath, "Authorization", "Bearer " + key, "Incorrect API key provided: " + key},
		{"anthropic", anPath, "x-api-key", key, "invalid x-api-key: " + key},
		{"gemini", gmPath, "x-goog-api-key", key, "API key not valid: " + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.post(tt.path, `{"model":"m"}`, tt.header, tt.value, "x-fake-fault", `{"status":401,"echo_key":true}`)
			if resp.StatusCode != 401 {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			if got := gjson.GetBytes(b, "error.message").String(); !strings.Contains(got, tt.want) {
				t.Errorf("error.message = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// TestFault_RetryAfterVerbatim verifies that any Retry-After value is sent
// as given, and retry-after-ms only for a sane number of seconds.
func TestFault_RetryAfterVerbatim(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	tests := []struct{ value, wantMs string }{
		{"-5", ""},
		{"99999999999999", ""},
		{"soon", ""},
		{"Wed, 21 Oct 2015 07:28:00 GMT", ""},
		{"86400", "86400000"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			resp, _ := e.post(oaPath, `{"model":"m"}`, "x-fake-fault", `{"status":429,"retry_after":"`+tt.value+`"}`)
			if got := resp.Header.Get("Retry-After"); got != tt.value {
				t.Errorf("Retry-After = %q, want %q", got, tt.value)
			}
			if got := resp.Header.Get("Retry-After-Ms"); got != tt.wantMs {
				t.Errorf("retry-after-ms = %q, want %q", got, tt.wantMs)
			}
		})
	}
}

// TestFault_ResponseHeader verifies that a header fault adds response
// headers to a good answer (and to an error), and that a spec with only
// headers is an answer fault.
func TestFault_ResponseHeader(t *testing.T) {
	e := newEnv(t, fakellm.Options{Name: "p"})
	resp, b := e.post(oaPath, `{"model":"m"}`, "x-fake-fault", `{"header":{"x-llm-failover-retry":"1"}}`)
	if resp.StatusCode != 200 || resp.Header.Get("x-llm-failover-retry") != "1" {
		t.Errorf("status %d, x-llm-failover-retry %q; want 200 and 1", resp.StatusCode, resp.Header.Get("x-llm-failover-retry"))
	}
	if got := gjson.GetBytes(b, "choices.0.message.content").String(); got != "Hello from p (m)." {
		t.Errorf("content = %q, want the normal answer", got)
	}
	if f := e.rs.Requests()[0].Fault; f == nil || f.Kind != fakellm.KindAnswer {
		t.Errorf("recorded fault = %+v, want kind answer", f)
	}
	resp, _ = e.post(oaPath, `{"model":"m"}`, "x-fake-fault", `{"status":503,"header":{"x-extra":"v"}}`)
	if resp.StatusCode != 503 || resp.Header.Get("x-extra") != "v" {
		t.Errorf("status %d, x-extra %q; want 503 and v", resp.StatusCode, resp.Header.Get("x-extra"))
	}
}

// TestFault_CutRST verifies that a cut JSON body with rst ends in a
// transport error after part of the body.
func TestFault_CutRST(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	for _, stream := range []string{"false", "true"} {
		resp, err := e.do(http.MethodPost, oaPath, `{"model":"m","stream":`+stream+`}`, "x-fake-fault", `{"kind":"cut","after_events":1,"rst":true}`)
		if err != nil {
			t.Fatalf("stream=%s: headers: %v", stream, err)
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("stream=%s: read error = %v, want connection reset", stream, err)
		}
	}
}
