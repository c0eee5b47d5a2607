package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/fakellm"
)

// soloModel selects a chain whose only target is the primary.
const soloModel = "gpt-solo-e2e"

// withSoloChain adds the chain soloModel -> primary to the suite's config.
func withSoloChain(cfg string) string {
	const solo = "  - name: solo\n    match: {models: [" + soloModel + "]}\n    targets:\n      - {provider: primary, model: primary-model}\n"
	i := strings.Index(cfg, "breaker:")
	return cfg[:i] + solo + cfg[i:]
}

// TestBounds_SilentStreamFailsOverAtFirstEventTimeout verifies (issue 8
// point 2) that a provider answering 200 text/event-stream and then nothing
// fails over when stream_first_event_timeout (1s) fires, not when
// per_try_timeout (10s) does: with Envoy #45355 the held headers leave only
// when the server closes the attempt's stream.
func TestBounds_SilentStreamFailsOverAtFirstEventTimeout(t *testing.T) {
	const perTry = 10 * time.Second
	s := newStack(t, stackOpts{perTry: perTry.String()})
	s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindStall})
	start := time.Now()
	r := s.chatStream()
	took := time.Since(start)
	checkStream(t, r, "secondary", 2)
	if limit := time.Second + promptly; took > limit {
		t.Errorf("took %v, want under %v: stream_first_event_timeout is 1s, per_try_timeout %v", took, limit, perTry)
	}
}

// TestBounds_SingleTargetChainAttemptsOnce verifies (issue 8 point 7) that
// a request whose plan has one target makes one attempt when that target
// stalls past the per-try timeout or resets: the longest chain (three
// targets) does not lend it retries.
func TestBounds_SingleTargetChainAttemptsOnce(t *testing.T) {
	cases := []struct {
		name  string
		fault fakellm.Fault
	}{
		{"stall past per-try timeout", fakellm.Fault{Kind: fakellm.KindStall, Times: -1}},
		{"connection reset", fakellm.Fault{Kind: fakellm.KindReset, Times: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, stackOpts{perTry: "500ms", edit: withSoloChain})
			s.needLocal("a stack with a single-target chain")
			s.setFaults("primary", tc.fault)
			r := s.chatModel(soloModel)
			if r.err == nil {
				t.Fatalf("answered %+v, want an error", r.completion)
			}
			s.waitSettled()
			if c := s.fakes["primary"].Count(); c != 1 {
				t.Errorf("primary received %d requests, want 1 (trace %q)", c, r.header("x-llm-failover-trace"))
			}
		})
	}
}

// TestBounds_AllOpenPlanHitsTargetOnce verifies (issue 8 point 7) that when
// every breaker is open, a request's plan (one target) reaches a provider
// once, not once per retry of the longest chain, even when that provider
// resets the connection (which Envoy retries on its own).
func TestBounds_AllOpenPlanHitsTargetOnce(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.needLocal("the server's breaker registry")
	for _, n := range providerNames {
		s.setFaults(n, fakellm.Fault{Status: 429, RetryAfter: "60", Times: -1})
	}
	if r := s.chat(); r.err == nil {
		t.Fatal("first request succeeded, want every provider's 429")
	}
	s.waitSettled()
	for _, n := range providerNames {
		if b := s.breakerOf(n); b.State.String() != "open" {
			t.Fatalf("%s breaker %s after its 429, want open", n, b.State)
		}
		s.fakes[n].Reset()
		// Resets: Envoy's own retry_on, not the server's retry marker.
		s.setFaults(n, fakellm.Fault{Kind: fakellm.KindReset, Times: -1})
	}
	r := s.chat()
	s.waitSettled()
	total := 0
	for _, n := range providerNames {
		total += s.fakes[n].Count()
	}
	if total != 1 {
		t.Errorf("providers received %d requests with every breaker open, want 1 (status %d, trace %q)", total, r.status(), r.header("x-llm-failover-trace"))
	}
}
