package processor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/contract"
)

// topologyConfig has a three-target chain and a one-target chain; %s is the
// envoy section.
const topologyConfig = `
routing: {same_target_retries: 1}
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
  - {name: groq, api: openai-compatible, host: api.groq.com, auth: {key_env: TEST_GROQ_KEY}}
  - {name: third, api: openai-compatible, host: third.example, auth: {key_env: TEST_GROQ_KEY}}
chains:
  - name: three
    match: {models: [three]}
    targets: [{provider: openai, model: gpt-4o}, {provider: groq, model: llama}, {provider: third, model: m}]
  - name: twice
    match: {models: [twice]}
    targets: [{provider: openai, model: gpt-4o}, {provider: groq, model: llama}, {provider: openai, model: gpt-4o-mini}]
  - name: one
    match: {models: [one]}
    targets: [{provider: openai, model: gpt-4o-mini}]
breaker: {consecutive_failures: 3}
`

// TestRoute_WritesWhatTheEnvoyVersionReads verifies the request headers the
// route phase sets for each Envoy version's topology: nothing more on 1.40;
// the attempt count pinned to 0 and one slot header per attempt, padded
// with the last target, on 1.39; the plan's shape cluster on 1.38, with
// retries that stop at its last child (or, for a shape not generated, its
// longest generated prefix, counted), and a signed plan trimmed to what
// that shape attempts.
func TestRoute_WritesWhatTheEnvoyVersionReads(t *testing.T) {
	tests := []struct {
		name    string
		envoy   string
		trip    []string
		model   string
		want    map[string]string // header -> value; "" means absent
		retries string
		metric  string // a line WriteMetrics must print
		targets int    // in the signed plan
		extra   int    // the signed plan's same-target retries
	}{
		{"1.40: the override is in metadata only", "{version: \"1.40\"}", nil, "three",
			map[string]string{contract.HeaderAttemptCount: "", contract.SlotHeader(1): "", contract.HeaderCluster: ""}, "3", "", 3, 1},
		{"1.39: slots padded with the last target", "{version: \"1.39\"}", nil, "three",
			map[string]string{contract.HeaderAttemptCount: "0", contract.SlotHeader(1): "openai", contract.SlotHeader(2): "groq",
				contract.SlotHeader(3): "third", contract.SlotHeader(4): "third", contract.SlotHeader(5): "", contract.HeaderCluster: ""}, "3", "", 3, 1},
		{"1.39: an open target is left out of the slots", "{version: \"1.39\"}", []string{"groq/llama"}, "three",
			map[string]string{contract.SlotHeader(1): "openai", contract.SlotHeader(2): "third", contract.SlotHeader(3): "third", contract.SlotHeader(4): ""}, "2", "", 2, 1},
		{"1.38: the whole chain's shape, no same-target retry", "{version: \"1.38\"}", nil, "three",
			map[string]string{contract.HeaderCluster: "llm_failover_shape_openai__groq__third", contract.HeaderAttemptCount: "", contract.SlotHeader(1): ""}, "2", "", 3, 0},
		{"1.38: a shorter plan's own shape", "{version: \"1.38\"}", []string{"openai/gpt-4o"}, "three",
			map[string]string{contract.HeaderCluster: "llm_failover_shape_groq__third"}, "1", "", 2, 0},
		{"1.38: a shape not generated goes to its first target alone", "{version: \"1.38\", max_shapes: 1}", []string{"groq/llama"}, "three",
			map[string]string{contract.HeaderCluster: "openai"}, "1", `llm_failover_shape_fallbacks_total{chain="three"} 1`, 1, 1},
		{"1.38: a provider named twice is attempted once", "{version: \"1.38\"}", nil, "twice",
			map[string]string{contract.HeaderCluster: "llm_failover_shape_openai__groq"}, "1", "", 2, 0},
		{"1.39: a provider named twice keeps both slots", "{version: \"1.39\"}", nil, "twice",
			map[string]string{contract.SlotHeader(1): "openai", contract.SlotHeader(2): "groq", contract.SlotHeader(3): "openai", contract.SlotHeader(4): "openai"}, "3", "", 3, 1},
		{"1.38: a one-target plan goes to its provider cluster", "{version: \"1.38\"}", nil, "one",
			map[string]string{contract.HeaderCluster: "openai"}, "1", "", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessYAML(t, topologyConfig+"envoy: "+tc.envoy+"\n")
			h.trip(tc.trip...)
			s := h.open(contract.PhaseRoute)
			defer s.close()
			s.send(reqHeaders(false, ":path", "/v1/chat/completions", "content-type", "application/json",
				contract.HeaderAttemptCount, "7", contract.HeaderCluster, "llm_failover_ext_proc"))
			s.recv()
			s.send(reqBody(`{"model":"` + tc.model + `","messages":[{"role":"user","content":"hi"}]}`))
			r := s.recv()
			hs := setHeaders(r.GetRequestBody().GetResponse().GetHeaderMutation())
			for k, want := range tc.want {
				if got := hs[k]; got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if got := hs[contract.HeaderMaxRetries]; got != tc.retries {
				t.Errorf("%s: got %q, want %q", contract.HeaderMaxRetries, got, tc.retries)
			}
			plan := planOf(t, r.GetDynamicMetadata())
			if got := len(plan.Targets); got != tc.targets {
				t.Errorf("signed plan targets: got %d, want %d", got, tc.targets)
			}
			if got := plan.Extra; got != tc.extra {
				t.Errorf("signed plan extra: got %d, want %d", got, tc.extra)
			}
			if tc.metric != "" {
				var b bytes.Buffer
				_ = h.srv.WriteMetrics(&b)
				if !strings.Contains(b.String(), tc.metric) {
					t.Errorf("metrics lack %q:\n%s", tc.metric, b.String())
				}
				if !strings.Contains(h.logs.String(), "plan shape not generated") {
					t.Errorf("no log line for the shape fallback:\n%s", h.logs.String())
				}
			}
		})
	}
}
