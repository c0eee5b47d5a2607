package processor

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/contract"
)

// responsesYAML has a chain OpenAI -> Anthropic and a chain of Anthropic
// only, with /v1/responses routed.
const responsesYAML = `
providers:
  - {name: oa, api: openai, host: oa.example, auth: {key_env: TEST_OPENAI_KEY}}
  - {name: an, api: anthropic, host: an.example, auth: {key_env: TEST_ANTHROPIC_KEY}}
chains:
  - {name: mixed, match: {models: [m]}, targets: [{provider: oa, model: gpt}, {provider: an, model: claude}]}
  - {name: claude-only, match: {models: [c]}, targets: [{provider: an, model: claude}]}
envoy: {routes: [/v1/chat/completions, /v1/responses]}
`

// TestRoute_StatefulResponsesStayOnTheStateHolder verifies the route phase
// keeps a request with previous_response_id or store: true on the chain's
// first OpenAI-format provider: a plan of that provider alone, a 503 when
// its breaker is open (never another provider), a 400 naming the field on a
// chain without one; a stateless request keeps every target.
func TestRoute_StatefulResponsesStayOnTheStateHolder(t *testing.T) {
	tests := []struct {
		name, body string
		trip       bool
		wantStatus int    // 0: planned
		wantIn     string // in the error body, or in the plan
		wantNot    string // not in the plan
	}{
		{"stateless request keeps every target", `{"model":"m","input":"hi"}`, false, 0, `"an"`, ""},
		{"previous_response_id plans the holder only", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`, false, 0, `"oa"`, `"an"`},
		{"store true plans the holder only", `{"model":"m","input":"hi","store":true}`, false, 0, `"oa"`, `"an"`},
		{"holder open is a 503, not a failover", `{"model":"m","input":"hi","previous_response_id":"resp_1"}`, true, 503, "state_provider_unavailable", ""},
		{"chain without a holder is a 400", `{"model":"c","input":"hi","store":true}`, false, 400, `"param":"store"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessYAML(t, responsesYAML)
			if tt.trip {
				h.trip("oa/gpt")
			}
			s := h.open(contract.PhaseRoute)
			defer s.close()
			s.send(reqHeaders(false, ":path", "/v1/responses", ":method", "POST", "content-type", "application/json"))
			s.recv()
			s.send(reqBody(tt.body))
			r := s.recv()
			if tt.wantStatus != 0 {
				ir := r.GetImmediateResponse()
				if ir == nil || int(ir.GetStatus().GetCode()) != tt.wantStatus || !strings.Contains(string(ir.GetBody()), tt.wantIn) {
					t.Fatalf("got %v, want %d with %s", r, tt.wantStatus, tt.wantIn)
				}
				return
			}
			dm := r.GetDynamicMetadata()
			if dm == nil {
				t.Fatalf("got %v, want a plan", r)
			}
			plan := planOf(t, dm)
			targets := ""
			for _, tg := range plan.Targets {
				targets += `"` + tg.Provider + `" `
			}
			if !strings.Contains(targets, tt.wantIn) || tt.wantNot != "" && strings.Contains(targets, tt.wantNot) {
				t.Errorf("plan targets %s: want %s, not %s", targets, tt.wantIn, tt.wantNot)
			}
			if plan.API != "responses" {
				t.Errorf("plan api = %v, want responses", plan.API)
			}
		})
	}
}
