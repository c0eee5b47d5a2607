package processor

import (
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/llm-failover/llm-failover/contract"
)

// metricsText is the /metrics page now.
func (h *harness) metricsText() string {
	var b strings.Builder
	_ = h.srv.WriteMetrics(&b)
	return b.String()
}

// TestAttempt_BrokenAnswersFailOver verifies that an OpenAI-format 200 whose
// body is not a chat completion fails over like a server error (503 with the
// retry marker, recorded as a failure), while a real completion and an answer
// past limits.max_body_bytes pass unchanged.
func TestAttempt_BrokenAnswersFailOver(t *testing.T) {
	big := `{"choices":[],"pad":"` + strings.Repeat("x", 5000) + `"}`
	tests := []struct {
		name    string
		chunks  []string // nil: headers with end_of_stream
		failed  bool
		outcome string
	}{
		{"html", []string{"<html><body>502 Bad Gateway</body></html>"}, true, "server_error"},
		{"invalid json", []string{`{"choices":[`, `{"oops`}, true, "server_error"},
		{"empty body", nil, true, "server_error"},
		{"not a completion", []string{`{"status":"ok"}`}, true, "server_error"},
		{"completion", []string{`{"id":"c","choices":[{"index":0,`, `"message":{"role":"assistant","content":"hi"}}]}`}, false, "success"},
		{"past max_body_bytes passes unjudged", []string{big[:4200], big[4200:]}, false, "success"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(chatBody)
			s := h.runAttempt(dm, 1, "openai", "req-b", chatBody)
			defer s.close()
			s.send(respHeaders(tc.chunks == nil, ":status", "200", "content-type", "application/json"))
			for i, c := range tc.chunks {
				s.send(respBody(c, i == len(tc.chunks)-1))
			}
			hs := s.recvSetHeaders()
			if got := hs[contract.RetryHeader] == "1" && hs[":status"] == "503"; got != tc.failed {
				t.Fatalf("failed over: got %v (headers %v), want %v", got, hs, tc.failed)
			}
			for range tc.chunks {
				r := s.recv()
				if r.GetResponseBody() == nil {
					t.Fatalf("body chunk: got %v, want a body answer", r)
				}
				if !tc.failed && r.GetResponseBody().GetResponse().GetBodyMutation() != nil {
					t.Fatalf("body chunk: got a mutation %v, want the answer unchanged", r)
				}
			}
			s.close()
			h.waitStreams()
			want := `llm_failover_attempts_total{model="gpt-4o",outcome="` + tc.outcome + `",provider="openai"} 1`
			if m := h.metricsText(); !strings.Contains(m, want) || strings.Contains(m, `outcome="cut"`) {
				t.Fatalf("metrics: got\n%s\nwant %q and no cut", m, want)
			}
		})
	}
}

// TestAttempt_StreamEndWithoutTerminalEvent verifies that a stream reaching
// its end without [DONE] is recorded as a failure and the client's stream gets
// a terminal OpenAI-style error event; a complete stream is a success.
func TestAttempt_StreamEndWithoutTerminalEvent(t *testing.T) {
	streamBody := `{"model":"premium","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		last    string
		errorEv bool
		outcome string
	}{
		{"ends with DONE", "data: [DONE]\n\n", false, "success"},
		{"ends without DONE", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}]}\n\n", true, "server_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			s := h.streamAttempt(streamBody, 1, "openai", "req-t")
			defer s.close()
			s.send(respBody("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", false))
			s.recv() // headers
			s.recv() // the held chunk
			s.send(respBody(tc.last, true))
			mut := s.recv().GetResponseBody().GetResponse().GetBodyMutation()
			got := string(mut.GetBody())
			if tc.errorEv {
				if !strings.HasPrefix(got, tc.last) || !strings.Contains(got, "data: {\"error\":{") || !strings.HasSuffix(got, "data: [DONE]\n\n") {
					t.Fatalf("last chunk: got %q, want it followed by an error event and [DONE]", got)
				}
			} else if mut != nil {
				t.Fatalf("last chunk: got a mutation %q, want it unchanged", got)
			}
			s.close()
			h.waitStreams()
			m := h.metricsText()
			want := `llm_failover_attempts_total{model="gpt-4o",outcome="` + tc.outcome + `",provider="openai"} 1`
			if !strings.Contains(m, want) {
				t.Fatalf("metrics lack %q:\n%s", want, m)
			}
			if tc.outcome != "success" && strings.Contains(m, `outcome="success"`) {
				t.Fatalf("metrics count the failed stream as a success too:\n%s", m)
			}
		})
	}
}

// TestAttempt_StreamCutAfterReachingClientIsNeutral verifies that an answer
// torn down before its end after it reached the client is counted as "cut"
// (a provider reset and a client leaving look alike), never as a success.
func TestAttempt_StreamCutAfterReachingClientIsNeutral(t *testing.T) {
	h := newHarness(t, "")
	s := h.streamAttempt(streamChatBody, 1, "openai", "req-cut")
	s.send(respBody("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", false))
	s.recv()
	s.recv()
	h.endAttempt(s)
	if m := h.metricsText(); !strings.Contains(m, `outcome="cut",provider="openai"} 1`) || strings.Contains(m, `outcome="success"`) {
		t.Fatalf("metrics: got\n%s\nwant one cut and no success", m)
	}
}

// TestAttempt_ErrorBeforeContentFailsOver verifies the hold lasts until the
// first content-bearing event: an error after a role chunk (OpenAI) or after
// message_start and ping (Anthropic) fails over; content releases the stream.
func TestAttempt_ErrorBeforeContentFailsOver(t *testing.T) {
	tests := []struct {
		name, yaml, provider, model string
		chunks                      []string
		failed                      bool
	}{
		{"openai role chunk then error", testConfig, "openai", "premium", []string{
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
			"data: {\"error\":{\"message\":\"The server is overloaded\",\"type\":\"server_error\"}}\n\n"}, true},
		{"openai role chunk then content", testConfig, "openai", "premium", []string{
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
			"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"}, false},
		{"anthropic start, ping, overloaded", anthropicConfig, "claude", "mixed", []string{
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{}}}\n\n",
			"event: ping\ndata: {\"type\": \"ping\"}\n\n",
			"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"}, true},
		{"anthropic start, ping, text", anthropicConfig, "claude", "mixed", []string{
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{}}}\n\n",
			"event: ping\ndata: {\"type\": \"ping\"}\n\n",
			"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yaml := tc.yaml
			if tc.yaml == testConfig {
				yaml += "limits: {max_body_bytes: 4KiB}\n"
			}
			h := newHarnessYAML(t, yaml)
			body := `{"model":"` + tc.model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			dm := h.planFor(body)
			s := h.runAttempt(dm, 1, tc.provider, "req-e", body)
			defer s.close()
			s.send(respHeaders(false, ":status", "200", "content-type", "text/event-stream"))
			for _, c := range tc.chunks {
				s.send(respBody(c, false))
			}
			hs := s.recvSetHeaders()
			if got := hs[contract.RetryHeader] == "1" && hs[":status"] == "503"; got != tc.failed {
				t.Fatalf("failed over: got %v (headers %v), want %v", got, hs, tc.failed)
			}
			if !tc.failed && hs[contract.HeaderProvider] != tc.provider {
				t.Fatalf("headers: got %v, want the answer released with the provider named", hs)
			}
		})
	}
}

// TestAttempt_LastFailedStreamRecordedOnce verifies a last attempt whose
// stream failed in its first event, passed to the client as it is, is
// counted once when that stream ends, not again as a truncated stream.
func TestAttempt_LastFailedStreamRecordedOnce(t *testing.T) {
	h := newHarness(t, "")
	s := h.streamAttempt(streamChatBody, 2, "groq", "req-l1")
	s.send(respBody("data: {\"error\":{\"message\":\"overloaded\"}}\n\n", false))
	s.recv()
	s.recv()
	s.send(respBody("", true))
	if r := s.recv(); r.GetResponseBody().GetResponse().GetBodyMutation() != nil {
		t.Fatalf("last chunk: got %v, want it unchanged (the client has the provider's error event)", r)
	}
	s.close()
	h.waitStreams()
	m := h.metricsText()
	if !strings.Contains(m, `model="llama-3.3-70b-versatile",outcome="server_error",provider="groq"} 1`) {
		t.Fatalf("metrics: got\n%s\nwant exactly one server_error for groq", m)
	}
}

// TestAttempt_NonAnswerStatusFailsOver verifies that a 2xx other than 200 or
// a 3xx (Envoy follows no redirect here) is not taken as an answer: it fails
// over as a server error at its headers instead of reaching the client as a
// success, counted once (a bodiless one not also as a cut).
func TestAttempt_NonAnswerStatusFailsOver(t *testing.T) {
	tests := []struct {
		name    string
		headers *extprocv3.ProcessingRequest
	}{
		{"204 no content", respHeaders(true, ":status", "204")},
		{"302 to a login page", respHeaders(false, ":status", "302", "location", "https://login.example/", "content-type", "text/html")},
		{"202 accepted", respHeaders(false, ":status", "202", "content-type", "application/json")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(chatBody)
			s := h.runAttempt(dm, 1, "openai", "req-na", chatBody)
			defer s.close()
			s.send(tc.headers)
			hs := s.recvSetHeaders()
			if hs[contract.RetryHeader] != "1" || hs[":status"] != "503" {
				t.Fatalf("headers: got %v, want :status 503 and the retry marker", hs)
			}
			s.close()
			h.waitStreams()
			want := `llm_failover_attempts_total{model="gpt-4o",outcome="server_error",provider="openai"} 1`
			if m := h.metricsText(); !strings.Contains(m, want) || strings.Contains(m, `outcome="cut"`) {
				t.Fatalf("metrics: got\n%s\nwant %q and no cut", m, want)
			}
		})
	}
}
