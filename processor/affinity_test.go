package processor

import (
	"strconv"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// routeAnswer plans body on a route stream (headers kv added) and passes
// an answer of providerName back through it, returning the headers the
// route phase sets on the answer.
func routeAnswer(h *harness, body, providerName, model string, kv ...string) map[string]string {
	h.t.Helper()
	_, s := h.planOpen(body, kv...)
	defer s.close()
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json", contract.HeaderTrace, "attempt=1",
		contract.HeaderProvider, providerName, contract.HeaderModel, model, contract.HeaderAttempt, "1"))
	return s.recvSetHeaders()
}

// TestRoute_AffinityOutcomes verifies the x-llm-failover-affinity header
// the route phase sets on answers: none without an identifier from the
// configured keys, miss then hit for a named conversation, nothing for an
// answer from a target outside the plan (which is not remembered), and no
// header on a chain with affinity off.
func TestRoute_AffinityOutcomes(t *testing.T) {
	const chat = `{"model":"premium","messages":[{"role":"user","content":"hi"}]}`
	on := newHarness(t, "affinity: {keys: [header]}\n")
	if err := on.srv.Reload(affinityOn(on)); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name, provider, session, want string
	}{
		{"no session header: none", "openai", "", "none"},
		{"a new conversation: miss", "groq", "s1", "miss"},
		{"an answer from outside the plan: no header", "stranger", "s1", ""},
		{"the same conversation: hit on its target", "groq", "s1", "hit"},
	} {
		kv := []string{}
		if tc.session != "" {
			kv = append(kv, "x-llm-failover-session", tc.session)
		}
		model := "llama-3.3-70b-versatile"
		if tc.provider == "openai" {
			model = "gpt-4o"
		}
		if got := routeAnswer(on, chat, tc.provider, model, kv...)[HeaderAffinity]; got != tc.want {
			t.Errorf("%d %s: %s = %q, want %q", i, tc.name, HeaderAffinity, got, tc.want)
		}
	}
	off := newHarness(t, "")
	if got, ok := routeAnswer(off, chat, "openai", "gpt-4o", "x-llm-failover-session", "s1")[HeaderAffinity]; ok {
		t.Errorf("affinity off: %s = %q, want no header", HeaderAffinity, got)
	}
}

// affinityOn is h's configuration with affinity on for its chain.
func affinityOn(h *harness) *config.Config {
	c := *h.srv.state.Load().cfg
	c.Chains = append(c.Chains[:0:0], c.Chains...)
	c.Chains[0].Affinity = true
	return &c
}

// BenchmarkRouteAffinity measures the route phase (request headers, body,
// answer headers) of a chain with affinity off and on (the key from the
// opening messages, the worst case: the body is read), for ratios in one run.
func BenchmarkRouteAffinity(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10} {
		for _, aff := range []bool{false, true} {
			name := strconv.Itoa(size>>10) + "KB/off"
			if aff {
				name = strconv.Itoa(size>>10) + "KB/on"
			}
			b.Run(name, func(b *testing.B) {
				h := newHarness(b, "limits: {max_body_bytes: 1MiB}\n")
				if aff {
					if err := h.srv.Reload(affinityOn(h)); err != nil {
						b.Fatal(err)
					}
				}
				body := benchBody(size)
				rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "bench")
				rb := reqBody(body)
				resp := respHeaders(false, ":status", "200", contract.HeaderTrace, "attempt=1", contract.HeaderProvider, "openai",
					contract.HeaderModel, "gpt-4o", contract.HeaderAttempt, "1")
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r := newRouteStream(h.srv, h.srv.state.Load())
					mustHandle(b, r, rh)
					mustHandle(b, r, rb)
					mustHandle(b, r, resp)
					r.end(nil)
				}
			})
		}
	}
}
