package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/llm-failover/llm-failover/fakellm"
)

// soloModel selects a chain whose only target is the primary.
const soloModel = "gpt-solo-e2e"

// withSoloChain adds the chain soloModel -> primary to the suite's config.
func withSoloChain(cfg string) string { return withChain(cfg, "") }

// withChain adds the chain soloModel -> primary with the given extra chain
// fields (YAML, indented for a chain) to the suite's config.
func withChain(cfg, fields string) string {
	solo := "  - name: solo\n    match: {models: [" + soloModel + "]}\n" + fields + "    targets:\n      - {provider: primary, model: primary-model}\n"
	i := strings.Index(cfg, "routing:")
	return cfg[:i] + solo + cfg[i:]
}

// TestBounds_SilentStreamFailsOverAtFirstEventTimeout verifies (issue 8
// point 2) that a provider answering 200 text/event-stream and then nothing
// fails over when stream_first_event_timeout (1s) fires, not when
// per_try_timeout (10s) does: with Envoy #45355 the held headers leave only
// when the server closes the attempt's stream.
func TestBounds_SilentStreamFailsOverAtFirstEventTimeout(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		const perTry = 10 * time.Second
		s := newStack(t, v, stackOpts{perTry: perTry.String()})
		s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindStall})
		start := time.Now()
		r := s.chatStream()
		took := time.Since(start)
		checkStream(t, r, "secondary", 2)
		if limit := time.Second + promptly; took > limit {
			t.Errorf("took %v, want under %v: stream_first_event_timeout is 1s, per_try_timeout %v", took, limit, perTry)
		}
	})
}

// TestBounds_SingleTargetChainAttemptsOnce verifies (issue 8 point 7) that
// a request whose plan has one target makes one attempt when that target
// stalls past the per-try timeout or resets: the longest chain (three
// targets) does not lend it retries.
func TestBounds_SingleTargetChainAttemptsOnce(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		cases := []struct {
			name  string
			fault fakellm.Fault
		}{
			{"stall past per-try timeout", fakellm.Fault{Kind: fakellm.KindStall, Times: -1}},
			{"connection reset", fakellm.Fault{Kind: fakellm.KindReset, Times: -1}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStack(t, v, stackOpts{perTry: "500ms", edit: withSoloChain})
				s.needLocal("a stack with a single-target chain")
				s.setFaults("primary", tc.fault)
				r := s.chatModel(soloModel)
				if r.err == nil {
					t.Fatalf("answered %+v, want an error", r.completion)
				}
				s.waitSettled()
				// One attempt, never a retry. On a loaded machine the 500ms
				// per-try timeout may end that attempt before the provider
				// reads it, so the provider sees at most one request.
				trace := r.header("x-llm-failover-trace")
				if n := strings.Count(trace, "attempt="); n != 1 {
					t.Errorf("trace %q has %d attempts, want 1", trace, n)
				}
				if c := s.fakes["primary"].Count(); c > 1 {
					t.Errorf("primary received %d requests, want at most 1 (trace %q)", c, trace)
				}
			})
		}
	})
}

// TestBounds_AllOpenPlanHitsTargetOnce verifies (issue 8 point 7) that when
// every breaker is open, a request's plan (one target) reaches a provider
// once, not once per retry of the longest chain, even when that provider
// resets the connection (which Envoy retries on its own).
func TestBounds_AllOpenPlanHitsTargetOnce(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
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
	})
}

// TestBounds_LongNonStreamedAnswerIsNotCut verifies (issue 8 point 6) that
// a chain's own non-streamed attempt timeout lets a slow provider finish a
// long non-streamed answer (generated before any header) that the
// streamed timeout and the other chains' timeout (1s) would have cut: it is
// answered by its first attempt and paid for once.
func TestBounds_LongNonStreamedAnswerIsNotCut(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		const generation = 2 * time.Second
		s := newStack(t, v, stackOpts{perTry: "1s", edit: func(cfg string) string {
			return withChain(cfg, "    attempt_timeout: {non_streamed: 30s}\n")
		}})
		s.needLocal("a stack with its own chain timeouts")
		s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindLatency, Delay: fakellm.Duration(generation)})
		r := s.chatModel(soloModel)
		if r.err != nil {
			t.Fatalf("request failed: %v\n%s", r.err, r.errBody)
		}
		if got := r.header("x-llm-failover-attempt"); got != "1" {
			t.Errorf("x-llm-failover-attempt = %q, want 1 (trace %q)", got, r.header("x-llm-failover-trace"))
		}
		s.waitSettled()
		if c := s.fakes["primary"].Count(); c != 1 {
			t.Errorf("primary received %d requests, want 1: the long answer was cut and asked again", c)
		}

		t.Run("streamed keeps the short timeout", func(t *testing.T) {
			s.resetFakes()
			s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindLatency, Delay: fakellm.Duration(generation), Times: -1})
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			st := s.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:    soloModel,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
			})
			for st.Next() {
			}
			if st.Err() == nil {
				t.Errorf("stream answered after %v, want the 1s streamed attempt timeout to end it", time.Since(start))
			}
			if took := time.Since(start); took >= generation {
				t.Errorf("stream failed after %v, want before the %v answer (streamed timeout 1s)", took, generation)
			}
		})
	})
}
