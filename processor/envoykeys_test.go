package processor

import (
	"slices"
	"testing"

	"github.com/llm-failover/llm-failover/contract"
)

// envoyKeysConfig holds openai's, anthropic's and local's keys in Envoy
// (local's in a header of its own) and groq's in the server.
const envoyKeysConfig = `
providers:
  - name: openai
    api: openai
    host: api.openai.com
    auth: {held_by: envoy, secret_file: /etc/envoy/keys/openai.yaml}
  - name: claude
    api: anthropic
    host: api.anthropic.com
    auth: {held_by: envoy, secret_file: /etc/envoy/keys/claude.yaml}
  - name: groq
    api: openai-compatible
    host: api.groq.com
    base_path: /openai/v1
    auth: {key_env: TEST_GROQ_KEY}
  - name: local
    api: openai-compatible
    host: 127.0.0.1
    tls: false
    auth: {header: x-local-key, held_by: envoy, secret_file: /etc/envoy/keys/local.yaml}
chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: claude, model: claude-sonnet-4-5}
      - {provider: groq, model: llama-3.3-70b-versatile}
breaker:
  consecutive_failures: 3
  open_for: 30s
  jitter: 0
limits: {max_body_bytes: 4KiB}
`

// TestAttempt_EnvoyHeldKeyIsOnlyRemoved verifies that for a provider whose
// key Envoy injects, the attempt sets no credential header (not even an
// empty one) and removes every credential header a client or an earlier
// attempt left, while a server-held provider still gets its key. Every
// configured auth header (x-local-key) is removed though the attempt phase
// never sees it: Envoy keeps the headers it injects from the attempt phase
// (forward_rules), yet an earlier attempt leaves them in the shared map.
func TestAttempt_EnvoyHeldKeyIsOnlyRemoved(t *testing.T) {
	h := newHarnessYAML(t, envoyKeysConfig)
	dm := h.planFor(chatBody)
	tests := []struct {
		attempt  int
		provider string
		setAuth  map[string]string // credential headers the attempt sets
	}{
		{1, "openai", map[string]string{}},
		{2, "claude", map[string]string{}},
		{3, "groq", map[string]string{"authorization": "Bearer gsk-groq-secret"}},
	}
	credentials := []string{"authorization", "x-api-key", "api-key", "x-goog-api-key", "x-local-key"}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			s := h.open(contract.PhaseAttempt)
			defer s.close()
			s.send(h.attemptRequest(dm, tc.attempt, tc.provider, "req-1", "api-key", "client-azure-key", "x-goog-api-key", "client-gemini-key"))
			s.recv()
			s.send(reqBody(chatBody))
			m := s.recv().GetRequestBody().GetResponse().GetHeaderMutation()
			set := setHeaders(m)
			for _, k := range credentials {
				want, setsIt := tc.setAuth[k]
				got, ok := set[k]
				if ok != setsIt || got != want {
					t.Errorf("set_headers[%s]: got %q (set %v), want %q (set %v)", k, got, ok, want, setsIt)
				}
				if !setsIt && !slices.Contains(m.GetRemoveHeaders(), k) {
					t.Errorf("remove_headers %v: got %s kept, want it removed", m.GetRemoveHeaders(), k)
				}
			}
			if tc.provider == "claude" && set["anthropic-version"] == "" {
				t.Errorf("anthropic-version: got none, want the API version set as usual")
			}
		})
	}
}

// TestAttempt_EnvoyHeldKeyRejectedOpensBreaker verifies that a 401 or 403
// from a provider whose key Envoy holds fails over and opens that target's
// breaker for breaker.auth_open_for, exactly as for a server-held key.
func TestAttempt_EnvoyHeldKeyRejectedOpensBreaker(t *testing.T) {
	for _, status := range []string{"401", "403"} {
		t.Run(status, func(t *testing.T) {
			h := newHarnessYAML(t, envoyKeysConfig)
			dm := h.planFor(chatBody)
			s := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
			defer s.close()
			s.send(respHeaders(false, ":status", status, "content-type", "application/json"))
			s.send(respBody(`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, true))
			hs := s.recvSetHeaders()
			if hs[contract.RetryHeader] != "1" {
				t.Errorf("retry marker: got headers %v, want %s: 1 (fail over)", hs, contract.RetryHeader)
			}
			if got := h.state("openai/gpt-4o"); got != "open" {
				t.Errorf("breaker openai/gpt-4o: got %s, want open", got)
			}
			if got := h.state("claude/claude-sonnet-4-5"); got != "closed" {
				t.Errorf("breaker claude/claude-sonnet-4-5: got %s, want closed", got)
			}
		})
	}
}

// TestNew_EnvoyHeldKeyNeedsNoKeySource verifies the server starts with no
// environment variable or file for an Envoy-held key and holds no key value
// for it.
func TestNew_EnvoyHeldKeyNeedsNoKeySource(t *testing.T) {
	h := newHarnessYAML(t, envoyKeysConfig)
	if st := h.srv.state.Load(); st.endpoints["openai"].ep.AuthValue != "" || st.endpoints["claude"].ep.AuthValue != "" {
		t.Errorf("Envoy-held endpoints: got a key value in the server, want none")
	}
}
