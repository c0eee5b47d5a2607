package provider

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestAppendString verifies JSON string escaping agrees with encoding/json
// on what it decodes to, and replaces invalid UTF-8.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f", "été ✓ 🚀", "\u2028", "bad\xffutf8"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Errorf("appendString(%q) decodes to %q, want %q", s, back, want)
		}
	}
}

// TestJSONStringOK verifies which raw literals may be copied as they are.
func TestJSONStringOK(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{`""`, true}, {`"a"`, true}, {`"a\"b\\c\/\b\f\n\r\t"`, true}, {`"\u00e9\uD83D\uDE80"`, true}, {`"été"`, true},
		{`"`, false}, {`a`, false}, {`"a`, false}, {`"a"b"`, false}, {`"\"`, false}, {`"\x"`, false},
		{`"\u12"`, false}, {`"\u12G4"`, false}, {"\"a\nb\"", false}, {"\"\xff\"", false}, {`"a\\"`, true},
	}
	for _, tt := range tests {
		if got := jsonStringOK(tt.raw); got != tt.want {
			t.Errorf("jsonStringOK(%s): got %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// TestTranslate_BadBodyIsError verifies a 2xx body that is not JSON gives a
// 502 *Error rather than a broken answer, and the content types.
func TestTranslate_BadBodyIsError(t *testing.T) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini} {
		a, _ := For(api)
		tg := targetFor(api)
		tr := a.NewResponseTranslator(&tg.ep, Request{Model: tg.model}, testEnv())
		if ct := tr.ContentType(); ct != "application/json" {
			t.Errorf("%s: content type got %q, want application/json", api, ct)
		}
		_, err := tr.Translate([]byte("<html>"), true)
		var pe *Error
		if !errors.As(err, &pe) || pe.Status != 502 {
			t.Errorf("%s: got %v, want a 502 *Error", api, err)
		}
		st := a.NewResponseTranslator(&tg.ep, Request{Model: tg.model, Stream: true}, Env{})
		if ct := st.ContentType(); ct != "text/event-stream" {
			t.Errorf("%s stream: content type got %q, want text/event-stream", api, ct)
		}
	}
}

// TestClass_StringAndFailsOver verifies class names and which classes fail over.
func TestClass_StringAndFailsOver(t *testing.T) {
	if got := ClassQuotaExhausted.String(); got != "quota_exhausted" {
		t.Errorf("String: got %q, want quota_exhausted", got)
	}
	if got := Class(200).String(); got != "class(200)" {
		t.Errorf("String of unknown: got %q, want class(200)", got)
	}
	fails := map[Class]bool{ClassRateLimited: true, ClassQuotaExhausted: true, ClassOverloaded: true,
		ClassServerError: true, ClassAuth: true, ClassTimeout: true}
	for c := ClassSuccess; c <= ClassClientError; c++ {
		if c.FailsOver() != fails[c] {
			t.Errorf("%v.FailsOver(): got %v, want %v", c, c.FailsOver(), fails[c])
		}
	}
}
