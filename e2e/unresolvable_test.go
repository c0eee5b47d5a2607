package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/breaker"
)

// TestUnresolvableProvider_FailsOver verifies issue 8 point 3 end to end: a
// provider whose DNS name does not resolve has no healthy host, and its
// attempt reaches the priority-1 unavailable endpoint, whose 503 fails over
// like any provider 503 (Envoy's own "no healthy upstream" would reach the
// client unretried). The client gets the secondary's answer, the trace shows
// the primary's 503, and after breaker.consecutive_failures such requests the
// primary's breaker is open and requests go straight to the secondary. On
// Envoy 1.38 the primary gets no attempt at all.
func TestUnresolvableProvider_FailsOver(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{unresolvablePrimary: true})
		s.needLocal("a provider host that does not resolve")
		const failures = 3 // breaker.consecutive_failures of the suite
		if onEnvoy138(v) {
			// Envoy 1.38: the plan's aggregate cluster leaves a child without
			// a host out of its linearized priorities (aggregate/cluster.cc
			// linearizePrioritySet) and 1.38 providers have no unavailable
			// endpoint: every request goes straight to the secondary, and the
			// primary's breaker learns nothing (docs/compatibility.md).
			for i := 1; i <= failures+1; i++ {
				r := s.chat()
				s.mustOK(r, "secondary")
				if trace := r.header("x-llm-failover-trace"); strings.Contains(trace, "provider=primary") || r.header("x-llm-failover-attempt") != "1" {
					t.Errorf("request %d: attempt %q trace %q, want attempt 1 on the secondary and none on the primary", i, r.header("x-llm-failover-attempt"), trace)
				}
			}
			s.waitSettled()
			if st := s.breakerOf("primary").State; st == breaker.Open {
				t.Errorf("the primary's breaker is open, want it untouched: no attempt reached it")
			}
			return
		}
		for i := 1; i <= failures; i++ {
			r := s.chat()
			s.mustOK(r, "secondary")
			if r.took > promptly {
				t.Errorf("request %d took %v, want under %v", i, r.took, promptly)
			}
			trace := r.header("x-llm-failover-trace")
			if !strings.Contains(trace, "attempt=1;provider=primary;") || !strings.Contains(trace, "status=503") {
				t.Errorf("request %d trace %q: want attempt 1 on primary answered 503 (no healthy upstream)", i, trace)
			}
			if got := r.header("x-llm-failover-attempt"); got != "2" {
				t.Errorf("request %d x-llm-failover-attempt = %q, want 2 (trace %q)", i, got, trace)
			}
			s.waitSettled()
			if i < failures {
				if st := s.breakerOf("primary").State; st == breaker.Open {
					t.Fatalf("after %d failures the primary's breaker is open, want it closed until %d", i, failures)
				}
			}
		}
		if snap := s.breakerOf("primary"); snap.State != breaker.Open {
			t.Fatalf("after %d no-healthy-upstream 503s the primary's breaker is %v, want open", failures, snap.State)
		}
		r := s.chat()
		s.mustOK(r, "secondary")
		trace := r.header("x-llm-failover-trace")
		if strings.Contains(trace, "provider=primary") {
			t.Errorf("with the primary's breaker open the trace %q still has an attempt on it, want straight to the secondary", trace)
		}
		if got := r.header("x-llm-failover-attempt"); got != "1" {
			t.Errorf("x-llm-failover-attempt = %q, want 1: straight to the secondary (trace %q)", got, trace)
		}
		if c := s.fakes["secondary"].Count(); c != failures+1 {
			t.Errorf("secondary received %d requests, want %d", c, failures+1)
		}
	})
}

// TestUnresolvableProvider_LastAttempt verifies that a single-target chain
// whose only provider does not resolve answers the client promptly with an
// OpenAI-style 503 error, not a hang or a bare Envoy reply (on Envoy 1.38,
// naming Envoy's no healthy upstream, as no attempt reached a filter).
func TestUnresolvableProvider_LastAttempt(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{unresolvablePrimary: true, edit: withSoloChain})
		s.needLocal("a provider host that does not resolve")
		r := s.chatModel(soloModel)
		if r.took > promptly {
			t.Errorf("took %v, want under %v", r.took, promptly)
		}
		if r.err == nil {
			t.Fatalf("request succeeded through %q, want a 503 error", r.header("x-llm-failover-provider"))
		}
		if got := r.status(); got != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503\n%s", got, r.errBody)
		}
		if ct := r.header("content-type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content-type = %q, want application/json\n%s", ct, r.errBody)
		}
		// The SDK's RawJSON is the body's "error" object.
		var e struct {
			Message  string `json:"message"`
			Type     string `json:"type"`
			Attempts []struct {
				Provider string `json:"provider"`
				Status   int    `json:"status"`
				Message  string `json:"message"`
			} `json:"attempts"`
		}
		if err := json.Unmarshal([]byte(r.apiErr.RawJSON()), &e); err != nil || e.Message == "" || e.Type == "" {
			t.Errorf("error %q: want an OpenAI-style error with a message and a type (err %v)", r.apiErr.RawJSON(), err)
		}
		switch {
		case onEnvoy138(v):
			// Envoy 1.38 providers have no unavailable endpoint: Envoy's own
			// "no healthy upstream" reply reaches the route phase, which
			// rewrites it, with no attempt made.
			if len(e.Attempts) != 0 || !strings.Contains(e.Message, "no healthy upstream") {
				t.Errorf("error %q: want no attempt and Envoy's no healthy upstream named", r.apiErr.RawJSON())
			}
		case len(e.Attempts) != 1 || e.Attempts[0].Provider != "primary" || e.Attempts[0].Status != 503 ||
			!strings.Contains(e.Attempts[0].Message, "no healthy host"):
			t.Errorf("error %q: want one attempt, the primary's 503 from the unavailable endpoint (no healthy host)", r.apiErr.RawJSON())
		}
		for _, n := range providerNames {
			if c := s.fakes[n].Count(); c != 0 {
				t.Errorf("%s received %d requests, want 0", n, c)
			}
		}
	})
}
