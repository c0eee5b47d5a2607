package e2e

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/replay"
)

// TestReplay_ReproducesTheRecordedRunExactly verifies the replay lab
// against the live server: a run through Envoy (the primary fails until
// its breaker opens, traffic goes around it, it recovers through half-open
// and the recovery stages) recorded with audit.attempts, replayed with the
// same configuration, gives the same breaker transitions (target, states,
// reason) at the same virtual times, and each request the same attempted
// targets as recorded.
func TestReplay_ReproducesTheRecordedRunExactly(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: func(c string) string { return c + "audit: {attempts: true}\n" }})
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503, Times: -1})); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			s.mustOK(s.chat(), "secondary")
			s.clock.Advance(time.Second)
		}
		s.fakes["primary"].ClearFaults()
		s.clock.Advance(31 * time.Second) // past open_for 30s: the next request probes the primary
		for range 12 {
			if r := s.chat(); r.err != nil {
				t.Fatalf("request failed: %v\n%s", r.err, r.errBody)
			}
			s.clock.Advance(2 * time.Second) // through the two 10s recovery stages
		}
		lines := s.auditLines()
		rec, err := replay.FromEvents(lines)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := s.parseConfig(s.cfgYAML)
		if err != nil {
			t.Fatal(err)
		}
		// The live server's recovery-share source, drawn in the same order.
		rng := rand.New(rand.NewPCG(1, 2))
		run := replay.Simulate("same", cfg, rec, replay.Options{KeepPlans: true, Rand: rng.Float64})

		var want []replay.Transition
		for _, e := range lines {
			if e.Kind == events.KindBreakerTransition {
				want = append(want, replay.Transition{At: e.Time, Target: e.From.String(), From: e.BreakerFrom, To: e.BreakerTo, Reason: e.Reason})
			}
		}
		if len(want) < 4 {
			t.Fatalf("recorded %d transitions, want at least open, half-open, recovering, closed: %+v", len(want), want)
		}
		if !slices.Equal(run.Transitions, want) {
			t.Errorf("replayed transitions:\n%+v\nwant (recorded):\n%+v", run.Transitions, want)
		}
		if len(run.Plans) != len(rec.Requests) || len(rec.Requests) != 17 {
			t.Fatalf("replayed %d requests, recorded %d; want 17 each", len(run.Plans), len(rec.Requests))
		}
		for i, p := range run.Plans {
			var got []string
			for _, a := range rec.Requests[i].Attempts {
				got = append(got, a.Target)
			}
			if !slices.Equal(p.Attempted, got) || p.RequestID != rec.Requests[i].ID {
				t.Errorf("request %d (%s): replay attempted %v, recorded %v", i, rec.Requests[i].ID, p.Attempted, got)
			}
		}
		if len(run.Assumed) != 0 {
			t.Errorf("replay assumed outcomes %+v; the same config needs none", run.Assumed)
		}
	})
}

// TestReplay_AttemptEventsAreOptIn verifies audit.attempts' default: a
// request answered at once publishes no attempt event (nor anything else).
func TestReplay_AttemptEventsAreOptIn(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.mustOK(s.chat(), "primary")
		for _, e := range s.auditLines() {
			if e.Kind == events.KindAttempt {
				t.Errorf("attempt event %+v without audit.attempts", e)
			}
		}
	})
}
