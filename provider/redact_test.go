package provider

import (
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// TestEndpoint_RedactRemovesKeys verifies the endpoint's own key and
// key-looking tokens are removed from provider text, and ordinary text is kept.
func TestEndpoint_RedactRemovesKeys(t *testing.T) {
	ep := &Endpoint{Name: "p", AuthValue: "Bearer my-own-secret-value"}
	tests := []struct{ in, gone, keep string }{
		{"Incorrect API key provided: my-own-secret-value.", "my-own-secret-value", "Incorrect API key provided"},
		{"Incorrect API key provided: sk-proj-abc123DEF456ghi.", "sk-proj-abc123DEF456ghi", "Incorrect"},
		{"key sk-ant-api03-xyzXYZ0123456789 is invalid", "sk-ant-api03", "is invalid"},
		{"API key AIzaSyA1234567890abcdefghijklmnopqrstu not valid", "AIzaSy", "not valid"},
		{"header was Bearer abcdef123456", "abcdef123456", "header was"},
		{"The model is overloaded; ask-later please", "", "ask-later please"},
	}
	for _, tt := range tests {
		got := ep.Redact(tt.in)
		if tt.gone != "" && strings.Contains(got, tt.gone) || !strings.Contains(got, tt.keep) {
			t.Errorf("Redact(%q) = %q, want %q gone and %q kept", tt.in, got, tt.gone, tt.keep)
		}
		b, changed := ep.RedactBytes([]byte(tt.in))
		if string(b) != got || changed != (got != tt.in) {
			t.Errorf("RedactBytes(%q) = %q, %v; want %q, %v", tt.in, b, changed, got, got != tt.in)
		}
	}
}

// TestParseRetryAfter verifies which Retry-After values are taken.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{" 0.5 ", 500 * time.Millisecond, true},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"1e300", 0, false},
		{"604800", 0, false}, // a week: MaxRetryAfter
		{"Thu, 01 Jan 2026 00:01:00 GMT", time.Minute, true},
		{"Wed, 31 Dec 2025 23:00:00 GMT", 0, false},
		{"later", 0, false},
	}
	for _, tt := range tests {
		if got, ok := ParseRetryAfter(tt.in, now); got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestClientError_PartialBodyPassesNoKey verifies an error body in the
// client's format that was held only in part is never passed on as the
// provider wrote it: the held part may echo the key and the unseen rest is
// not redacted, so the client gets the rebuilt error, without the key.
func TestClientError_PartialBodyPassesNoKey(t *testing.T) {
	const key = "sk-proj-abc123DEF456ghi"
	ep := &Endpoint{Name: "p", API: config.APIOpenAI, AuthValue: "Bearer " + key}
	c := Classification{Class: ClassInvalidRequest, Status: 400, Type: "invalid_request_error",
		Message: "Incorrect API key provided: " + key}
	for _, held := range []string{
		`{"error":{"message":"Incorrect API key provided: ` + key,
		`{"error":{"type":"invalid_request_error","padding":"`,
	} {
		got := ClientError(ep, c, []byte(held), false)
		if got == nil || strings.Contains(string(got), key) {
			t.Errorf("ClientError(held %q, whole false) = %q, want a rebuilt error without the key", held, got)
		}
	}
	whole := `{"error":{"message":"bad request","type":"invalid_request_error"}}`
	if got := ClientError(ep, c, []byte(whole), true); got != nil {
		t.Errorf("ClientError(whole %q without a key) = %q, want nil (passed unchanged)", whole, got)
	}
}
