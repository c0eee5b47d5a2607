package processor

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/contract"
)

const anthropicConfig = `
breaker: {jitter: 0}
server: {stream_first_event_timeout: 300ms}
providers:
  - {name: claude, api: anthropic, host: api.anthropic.com, auth: {key_env: TEST_ANTHROPIC_KEY}}
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
chains:
  - name: mixed
    match: {models: [mixed]}
    targets:
      - {provider: claude, model: claude-sonnet-4-5}
      - {provider: openai, model: gpt-4o}
`

// TestAttempt_AnthropicTargetSpeaksMessagesAPI verifies the rewrite for an
// Anthropic target: path, x-api-key, anthropic-version, no client
// Authorization, and a Messages body; then its JSON answer comes back to the
// client as an OpenAI chat completion.
func TestAttempt_AnthropicTargetSpeaksMessagesAPI(t *testing.T) {
	h := newHarnessYAML(t, anthropicConfig)
	body := `{"model":"mixed","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}`
	dm := h.planFor(body)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 1, "claude", "a1"))
	s.recv()
	s.send(reqBody(body))
	c := s.recv().GetRequestBody().GetResponse()
	hs := setHeaders(c.GetHeaderMutation())
	if hs[":path"] != "/v1/messages" || hs["x-api-key"] != "sk-ant-secret" || hs["anthropic-version"] == "" {
		t.Fatalf("headers: got %v, want the Messages path, x-api-key and anthropic-version", hs)
	}
	if !strings.Contains(strings.Join(c.GetHeaderMutation().GetRemoveHeaders(), ","), "authorization") {
		t.Fatalf("remove_headers: got %v, want authorization removed", c.GetHeaderMutation().GetRemoveHeaders())
	}
	var req struct {
		Model     string
		System    any
		MaxTokens int `json:"max_tokens"`
	}
	if err := json.Unmarshal(c.GetBodyMutation().GetBody(), &req); err != nil || req.Model != "claude-sonnet-4-5" || req.System == nil || req.MaxTokens == 0 {
		t.Fatalf("body: got %s (%v), want a Messages request with system and max_tokens", c.GetBodyMutation().GetBody(), err)
	}

	s.send(respHeaders(false, ":status", "200", "content-type", "application/json", "content-length", "300"))
	s.send(respBody(`{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",`, false))
	s.send(respBody(`"content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":3}}`, true))
	r := s.recv()
	m := r.GetResponseHeaders().GetResponse().GetHeaderMutation()
	if !strings.Contains(strings.Join(m.GetRemoveHeaders(), ","), "content-length") || setHeaders(m)[contract.HeaderProvider] != "claude" {
		t.Fatalf("response headers: got %v, want content-length removed and the provider named", m)
	}
	first := s.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody()
	second := s.recv().GetResponseBody().GetResponse().GetBodyMutation()
	var out struct {
		Object  string
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
	}
	if err := json.Unmarshal(first, &out); err != nil || out.Object != "chat.completion" || len(out.Choices) != 1 ||
		out.Choices[0].Message.Content != "Hello!" || out.Choices[0].FinishReason != "stop" {
		t.Fatalf("translated body: got %s (%v)", first, err)
	}
	if len(second.GetBody()) != 0 {
		t.Fatalf("second chunk: got %q, want it emptied", second.GetBody())
	}
}

// TestAttempt_AnthropicOverloadInStreamFailsOver verifies Anthropic's 200
// stream whose first event is overloaded_error becomes a retried 503.
func TestAttempt_AnthropicOverloadInStreamFailsOver(t *testing.T) {
	h := newHarnessYAML(t, anthropicConfig)
	body := `{"model":"mixed","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	s := h.streamAttempt(body, 1, "claude", "a2")
	defer s.close()
	s.send(respBody("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", false))
	hs := s.recvSetHeaders()
	if hs[":status"] != "503" || hs[contract.RetryHeader] != "1" {
		t.Fatalf("got %v, want :status 503 and the retry marker", hs)
	}
}

// TestAttempt_UntranslatableAnswerFailsOver verifies a 200 whose body the
// translator rejects fails over instead of reaching the client as a broken 200.
func TestAttempt_UntranslatableAnswerFailsOver(t *testing.T) {
	h := newHarnessYAML(t, anthropicConfig)
	body := `{"model":"mixed","messages":[{"role":"user","content":"hi"}]}`
	dm := h.planFor(body)
	s := h.runAttempt(dm, 1, "claude", "a3", body)
	defer s.close()
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s.send(respBody(`<html>gateway</html>`, true))
	hs := s.recvSetHeaders()
	if hs[contract.RetryHeader] != "1" || hs[":status"] != "503" {
		t.Fatalf("got %v, want the attempt failed over", hs)
	}
}

// TestRoute_OpenAIOnlyFieldSkipsOtherFormats verifies a request with n > 1
// is planned only on OpenAI-format targets, and refused with a 400 naming the
// field when its chain has none.
func TestRoute_OpenAIOnlyFieldSkipsOtherFormats(t *testing.T) {
	h := newHarnessYAML(t, anthropicConfig+`  - name: claude-only
    match: {models: [claude-only]}
    targets: [{provider: claude, model: claude-sonnet-4-5}]
`)
	dm := h.planFor(`{"model":"mixed","n":2,"messages":[{"role":"user","content":"hi"}]}`)
	targets := planOf(t, dm).Targets
	if len(targets) != 1 || targets[0].Provider != "openai" {
		t.Fatalf("plan targets: got %v, want only openai", targets)
	}
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv()
	s.send(reqBody(`{"model":"claude-only","n":2,"messages":[]}`))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 400 || !strings.Contains(string(ir.GetBody()), "the n field") ||
		!strings.Contains(string(ir.GetBody()), `"param":"n"`) || !strings.Contains(string(ir.GetBody()), "claude/claude-sonnet-4-5 (anthropic)") {
		t.Fatalf("got %s, want a 400 naming the n field as param and the target", ir.GetBody())
	}
}

// TestRoute_UntranslatableTargetsLeftOut verifies a request a target's
// adapter refuses (a Gemini tool result naming no earlier call) is planned on
// the other targets only, and refused with the adapter's 4xx when none is left.
func TestRoute_UntranslatableTargetsLeftOut(t *testing.T) {
	h := newHarnessYAML(t, `
providers:
  - {name: gem, api: gemini, host: g.example}
  - {name: openai, api: openai, host: o.example}
chains:
  - {name: both, match: {models: [both]}, targets: [{provider: gem, model: gemini-2.5-pro}, {provider: openai, model: gpt-4o}]}
  - {name: gem-only, match: {models: [gem-only]}, targets: [{provider: gem, model: gemini-2.5-pro}]}
`)
	msgs := `"messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_unknown","content":"42"}]`
	dm := h.planFor(`{"model":"both",` + msgs + `}`)
	targets := planOf(t, dm).Targets
	if len(targets) != 1 || targets[0].Provider != "openai" {
		t.Fatalf("plan targets: got %v, want only openai", targets)
	}
	s := h.open(contract.PhaseRoute)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json"))
	s.recv()
	s.send(reqBody(`{"model":"gem-only",` + msgs + `}`))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 400 || !strings.Contains(string(ir.GetBody()), "gem/gemini-2.5-pro (gemini)") {
		t.Fatalf("got %v, want a 400 naming the gemini target", ir)
	}
}

// TestRoute_DroppedProbeStepReleasesItsSlot verifies that when a half-open
// target is left out of a plan because its adapter cannot express the
// request, its probe slot is given back at once: the next request probes
// the target instead of waiting for breaker.probe_timeout.
func TestRoute_DroppedProbeStepReleasesItsSlot(t *testing.T) {
	h := newHarnessYAML(t, `
breaker: {consecutive_failures: 1, open_for: 10s, jitter: 0, probe_timeout: 5m}
providers:
  - {name: gem, api: gemini, host: g.example}
  - {name: openai, api: openai, host: o.example}
chains:
  - {name: both, match: {models: [both]}, targets: [{provider: gem, model: gemini-2.5-pro}, {provider: openai, model: gpt-4o}]}
`)
	h.srv.Registry().Lookup("gem/gemini-2.5-pro").Record(h.clock.Now(), outcomeOf(classOf(503), 0))
	h.clock.Advance(11 * time.Second) // half-open: the next plan leading with gem probes it
	untranslatable := `{"model":"both","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_unknown","content":"42"}]}`
	h.planFor(untranslatable) // gem's probe slot taken, then the step dropped
	targets := planOf(t, h.planFor(`{"model":"both","messages":[{"role":"user","content":"hi"}]}`)).Targets
	if len(targets) != 2 || targets[0].Provider != "gem" {
		t.Fatalf("next plan: got %v, want gem probed first", targets)
	}
}
