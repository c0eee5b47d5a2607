package e2e

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/fakellm"
)

// backoffBase is the retry back-off base of the retry scenarios; with the
// default maximum (10x) the n-th retry's interval is base*2^(n-1).
const backoffBase = 100 * time.Millisecond

// topOfIntervalRand makes the Envoy model draw every back-off at the top of
// its interval (random() % interval == interval-1 for each interval of a
// 100ms base: their lcm divides 4000 ms), with distinct values for the
// request ids it also draws.
func topOfIntervalRand() func() uint64 {
	var k atomic.Uint64
	return func() uint64 { return 4000*(k.Add(1)+1000) - 1 }
}

// TestRetry_ChainRetriesTheSameTargetWithEnvoysBackoff verifies a chain's
// retry: {max_attempts: 3, base: 100ms} through the front door on every
// Envoy version (the chain's back-off on its own routes, the global one
// 1ms):
// a target failing twice with 503 is attempted a third time, by Envoy's
// retry, and answers; the trace lists the three attempts on the same
// target; and the attempts are spaced by Envoy's jittered exponential
// back-off drawn at the top of its interval (99 ms, then 199 ms; upper
// bounds generous).
func TestRetry_ChainRetriesTheSameTargetWithEnvoysBackoff(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{slowMachine: true, modelRand: topOfIntervalRand(), edit: func(cfg string) string {
			cfg = withoutProvider(withoutProvider(cfg, "secondary"), "tertiary")
			// The chain's own back-off (its own routes); the route's stays 1ms.
			return strings.Replace(cfg, "    targets:\n", "    retry: {max_attempts: 3, backoff: exponential, base: 100ms}\n    targets:\n", 1)
		}})
		s.setFaults("primary", fakellm.Fault{Status: 503, Times: 2})
		r := s.chat()
		s.mustOK(r, "primary")
		if got := r.header("x-llm-failover-attempt"); got != "3" {
			t.Errorf("answered on attempt %s, want 3 (trace %q)", got, r.header("x-llm-failover-trace"))
		}
		tr := r.header("x-llm-failover-trace")
		for _, want := range []string{"attempt=1;provider=primary;model=primary-model;outcome=overloaded;status=503",
			"attempt=2;provider=primary;model=primary-model;outcome=overloaded;status=503", "attempt=3;provider=primary;model=primary-model;outcome=success;status=200"} {
			if !strings.Contains(tr, want) {
				t.Errorf("trace %q lacks %q", tr, want)
			}
		}
		reqs := s.fakes["primary"].Requests()
		if len(reqs) != 3 {
			t.Fatalf("primary got %d requests, want 3", len(reqs))
		}
		for i, want := range []time.Duration{backoffBase - time.Millisecond, 2*backoffBase - time.Millisecond} {
			gap := reqs[i+1].Time.Sub(reqs[i].Time)
			if gap < want || gap > want+loadTimeout {
				t.Errorf("retry %d came %v after the attempt before, want at least the back-off %v", i+1, gap, want)
			}
		}
	})
}

// TestRetry_RetryAfterLongerThanTheBackoffSkipsTheSameTargetRetry verifies
// on every Envoy version that a 429 whose Retry-After outlasts Envoy's
// longest back-off (the chain's retry max, 10x its base) is not retried on the
// same target: the client gets the 429 with its Retry-After after one
// attempt. A Retry-After within the back-off is retried.
func TestRetry_RetryAfterLongerThanTheBackoffSkipsTheSameTargetRetry(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{slowMachine: true, edit: func(cfg string) string {
			cfg = withoutProvider(withoutProvider(cfg, "secondary"), "tertiary")
			return strings.Replace(cfg, "    targets:\n", "    retry: {max_attempts: 3, base: 100ms}\n    targets:\n", 1) // back-off at most 1s
		}})
		s.setFaults("primary", fakellm.Fault{Status: 429, RetryAfter: "2"})
		r := s.chat()
		if r.status() != 429 {
			t.Fatalf("status %d, want 429 (%s)", r.status(), r.errBody)
		}
		if got := r.header("retry-after"); got != "2" {
			t.Errorf("Retry-After %q, want 2", got)
		}
		if got := s.fakes["primary"].Count(); got != 1 {
			t.Errorf("primary got %d requests, want 1: a retry within its Retry-After is futile", got)
		}
		// A Retry-After within the back-off (the breaker, open for it,
		// is past it on the injected clock): retried, and answered.
		s.clock.Advance(time.Minute)
		s.fakes["primary"].Reset()
		s.setFaults("primary", fakellm.Fault{Status: 429, RetryAfter: "0"})
		r = s.chat()
		s.mustOK(r, "primary")
		if got := s.fakes["primary"].Count(); got != 2 {
			t.Errorf("primary got %d requests, want 2 (the 429, then the retry)", got)
		}
	})
}
