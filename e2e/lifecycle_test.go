package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/fakellm"
)

// slowFailure is a primary failure that lasts long enough for the test to
// act (drain, reload) while the first attempt is in flight.
var slowFailure = fakellm.Fault{Status: 503, Delay: fakellm.Duration(time.Second)}

// TestLifecycle_DrainMidFailoverReachesSecondary verifies (issue 8 point 1)
// that a drain (SIGTERM) starting while a request's first attempt is in
// flight still serves the request's next attempt: the secondary answers, the
// drain ends once the request is done, and a request arriving after it is
// refused at once.
func TestLifecycle_DrainMidFailoverReachesSecondary(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.needLocal("control of the ext_proc server")
		s.setFaults("primary", slowFailure)
		res := make(chan chatResult, 1)
		go func() { res <- s.chat() }()
		s.waitCount("primary", 1)

		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout+settle)
		defer cancel()
		drained := make(chan error, 1)
		go func() { drained <- s.proc.Drain(ctx) }()

		r := <-res
		s.mustOK(r, "secondary")
		if r.took > time.Duration(slowFailure.Delay)+promptly {
			t.Errorf("took %v, want under %v", r.took, time.Duration(slowFailure.Delay)+promptly)
		}
		select {
		case err := <-drained:
			if err != nil {
				t.Errorf("drain: %v, want a clean end once the request is done", err)
			}
		case <-time.After(settle):
			t.Fatalf("drain still waiting %v after the request ended", settle)
		}
		late := s.chat()
		if late.err == nil {
			t.Errorf("a request after the drain was answered by %q, want a refusal", late.header("x-llm-failover-provider"))
		}
		if late.took > promptly {
			t.Errorf("a request after the drain took %v, want a refusal under %v", late.took, promptly)
		}
	})
}

// TestLifecycle_ReloadMidFailover verifies (issue 8 point 1) that a reload
// removing a provider while a request's first attempt is in flight does not
// strand the request: its attempts finish on the configuration its plan was
// made with, and the secondary answers promptly (not after a per-try timeout).
func TestLifecycle_ReloadMidFailover(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, removed := range []string{"primary", "secondary"} {
			t.Run("remove "+removed, func(t *testing.T) {
				s := newStack(t, v, stackOpts{perTry: "10s"})
				s.needLocal("a reload of the server")
				s.setFaults("primary", slowFailure)
				res := make(chan chatResult, 1)
				go func() { res <- s.chat() }()
				s.waitCount("primary", 1)
				s.reload(withoutProvider(s.cfgYAML, removed))

				r := <-res
				s.mustOK(r, "secondary")
				if limit := time.Duration(slowFailure.Delay) + promptly; r.took > limit {
					t.Errorf("took %v, want under %v (per_try_timeout is 10s)", r.took, limit)
				}
			})
		}
	})
}

// TestLifecycle_MisconfigurationIsPromptOpenAIError verifies (issue 8 point
// 1) that an Envoy and a server whose configs disagree (the server writes
// its plan to another metadata namespace, so attempts arrive with no
// forwarded plan) answer the client at once with the server's OpenAI-style
// error, not Envoy's ext_proc failure, and send nothing to a provider.
func TestLifecycle_MisconfigurationIsPromptOpenAIError(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{serverEdit: func(cfg string) string {
			return "metadata_namespace: other_namespace\n" + cfg
		}})
		s.needLocal("a server config that differs from Envoy's")
		r := s.chat()
		if r.apiErr == nil {
			t.Fatalf("got %v, want an API error", r.err)
		}
		if st := r.status(); st < 500 {
			t.Errorf("status %d, want a 5xx", st)
		}
		if r.took > promptly {
			t.Errorf("took %v, want under %v", r.took, promptly)
		}
		e := errorJSON(t, r)
		msg, _ := e["message"].(string)
		code, _ := e["code"].(string)
		if msg == "" || e["type"] == nil {
			t.Errorf("error %v lacks message or type", e)
		}
		if strings.HasPrefix(code, "ext_proc") || strings.Contains(msg, "ext_proc_error") {
			t.Errorf("error %v is Envoy's ext_proc failure, want the server's own answer", e)
		}
		for _, n := range providerNames {
			if c := s.fakes[n].Count(); c != 0 {
				t.Errorf("%s received %d requests, want 0", n, c)
			}
		}
	})
}

// TestLifecycle_ClientCancellationsDoNotOpenBreaker verifies (issue 8 point
// 10) that three clients giving up on a slow but healthy primary are not
// recorded as its failures: its breaker stays closed with no failure counted
// and the next request goes to it.
func TestLifecycle_ClientCancellationsDoNotOpenBreaker(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		const clientGivesUp = 300 * time.Millisecond
		s := newStack(t, v, stackOpts{perTry: "10s"})
		s.needLocal("the server's breaker registry")
		s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindLatency, Delay: fakellm.Duration(5 * time.Second), Times: 3})
		for i := 0; i < 3; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), clientGivesUp)
			_, err := s.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    chainModel,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
			})
			cancel()
			if err == nil {
				t.Fatalf("request %d: answered before the client gave up after %v", i+1, clientGivesUp)
			}
		}
		s.waitSettled()
		if b := s.breakerOf("primary"); b.State != breaker.Closed || b.ConsecutiveFailures != 0 {
			t.Errorf("primary breaker %s with %d consecutive failures, want closed with 0", b.State, b.ConsecutiveFailures)
		}
		s.mustOK(s.chat(), "primary")
		if c := s.fakes["secondary"].Count(); c != 0 {
			t.Errorf("secondary received %d requests, want 0 (nothing failed over)", c)
		}
	})
}
