package processor

import (
	"slices"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/contract"
)

// TestAttempt_ProviderRetryMarkerIsStripped verifies a provider's own
// x-llm-failover-retry header never reaches Envoy's retry policy on an answer
// the server does not mark: a good 200 is not discarded and retried.
func TestAttempt_ProviderRetryMarkerIsStripped(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.runAttempt(dm, 1, "openai", "req-m", chatBody)
	defer s.close()
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json", contract.RetryHeader, "1"))
	s.send(respBody(`{"id":"c","choices":[]}`, true))
	m := s.recv().GetResponseHeaders().GetResponse().GetHeaderMutation()
	if !slices.Contains(m.GetRemoveHeaders(), contract.RetryHeader) || setHeaders(m)[contract.RetryHeader] != "" {
		t.Fatalf("headers: got set %v, removed %v; want %s removed", setHeaders(m), m.GetRemoveHeaders(), contract.RetryHeader)
	}
}

// TestAttempt_RetryAfterNormalized verifies the client gets a provider's
// Retry-After only as a wait the breaker would take, in delay-seconds.
func TestAttempt_RetryAfterNormalized(t *testing.T) {
	tests := []struct {
		name, value string
		want        string // "" : removed
	}{
		{"seconds kept", "7", "7"},
		{"fraction rounded up", "1.2", "2"},
		{"negative dropped", "-5", ""},
		{"absurd dropped", "99999999999", ""},
		{"unparseable dropped", "soon", ""},
		{"date becomes seconds", "Thu, 01 Jan 2026 00:00:30 GMT", "30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(chatBody)
			s := h.runAttempt(dm, 2, "groq", "req-ra", chatBody) // the last planned attempt
			defer s.close()
			s.send(respHeaders(false, ":status", "429", "content-type", "application/json", "retry-after", tc.value))
			s.send(respBody(`{"error":{"message":"slow down","type":"rate_limit_error"}}`, true))
			m := s.recv().GetResponseHeaders().GetResponse().GetHeaderMutation()
			got, set := setHeaders(m)["retry-after"]
			removed := slices.Contains(m.GetRemoveHeaders(), "retry-after")
			if tc.want == "" && (set || !removed) || tc.want != "" && got != tc.want {
				t.Fatalf("retry-after: got set=%v %q removed=%v, want %q", set, got, removed, tc.want)
			}
		})
	}
}

// TestAttempt_EchoedKeyIsRedacted verifies a provider error that echoes the
// key reaches the client without it: in the all-targets-failed error and in
// an OpenAI-format error body passed on as the provider wrote it.
func TestAttempt_EchoedKeyIsRedacted(t *testing.T) {
	tests := []struct {
		name, status, body string
	}{
		{"auth failure on the last attempt", "401", `{"error":{"message":"Incorrect API key provided: gsk-groq-secret. You can find your API key at https://console.groq.com/keys.","type":"invalid_request_error","code":"invalid_api_key"}}`},
		{"returned error body", "400", `{"error":{"message":"Invalid request for key sk-proj-AbCdEf123456789: bad messages","type":"invalid_request_error"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(chatBody)
			s := h.runAttempt(dm, 2, "groq", "req-k", chatBody)
			defer s.close()
			s.send(respHeaders(false, ":status", tc.status, "content-type", "application/json"))
			s.send(respBody(tc.body, true))
			s.recv()
			body := string(s.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody())
			if body == "" || strings.Contains(body, "gsk-groq-secret") || strings.Contains(body, "sk-proj-") || !strings.Contains(body, "[redacted]") {
				t.Fatalf("body: got %s, want the key redacted", body)
			}
		})
	}
}

// TestAttempt_EchoedKeyInStreamIsRedacted verifies an error event that echoes
// the key in an OpenAI-format stream passed on to the client reaches it
// without the key: as the last attempt's first event, and after content.
func TestAttempt_EchoedKeyInStreamIsRedacted(t *testing.T) {
	const errEvent = "data: {\"error\":{\"message\":\"Invalid API Key provided: gsk-groq-secret\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}\n\n"
	tests := []struct {
		name   string
		chunks []string // the last one carries the key
	}{
		{"first event on the last attempt", []string{errEvent}},
		{"after content", []string{"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n", errEvent}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			s := h.streamAttempt(streamChatBody, 2, "groq", "req-ks")
			defer s.close()
			var got []string
			for i, c := range tc.chunks {
				s.send(respBody(c, false))
				if i == 0 {
					s.recv() // the headers answer
				}
				r := s.recv().GetResponseBody().GetResponse()
				if m := r.GetBodyMutation(); m != nil {
					got = append(got, string(m.GetBody()))
				} else {
					got = append(got, c)
				}
			}
			last := got[len(got)-1]
			if strings.Contains(last, "gsk-groq-secret") || !strings.Contains(last, "[redacted]") {
				t.Fatalf("chunk: got %q, want the key redacted", last)
			}
		})
	}
}

// TestAttempt_EchoedKeyNeverLogged verifies a provider error that echoes the
// key in its type or code (not only its message) leaves no key in the
// server's log lines: an auth failure on the last attempt, and an error
// event in a 200 stream passed on to the client.
func TestAttempt_EchoedKeyNeverLogged(t *testing.T) {
	tests := []struct {
		name, body, status, ct string
	}{
		{"auth failure", chatBody, "401", "application/json"},
		{"error event in a stream", streamChatBody, "200", "text/event-stream"},
	}
	const echo = `{"error":{"message":"no","type":"gsk-groq-secret","code":"key gsk-groq-secret"}}`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(tc.body)
			s := h.runAttempt(dm, 2, "groq", "req-log", tc.body)
			defer s.close()
			s.send(respHeaders(false, ":status", tc.status, "content-type", tc.ct))
			if tc.ct == "text/event-stream" {
				s.send(respBody("data: "+echo+"\n\n", true))
			} else {
				s.send(respBody(echo, true))
			}
			s.recv()
			h.endAttempt(s)
			logs := h.logs.String()
			if strings.Contains(logs, "gsk-groq-secret") {
				t.Fatalf("logs hold the key:\n%s", logs)
			}
			if !strings.Contains(logs, "[redacted]") {
				t.Fatalf("logs: want the echoed type and code logged redacted, got:\n%s", logs)
			}
		})
	}
}
