package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
)

// auditTrail is a local stack's audit trail as llm-failover serve runs it:
// the server publishes on a Bus, and a file sink writes it to a JSON-lines
// file.
type auditTrail struct {
	bus  *events.Bus
	path string
	done chan struct{}
}

// startAudit makes the stack's audit Bus and file sink (once per stack);
// the sink stops when the test ends.
func (s *stack) startAudit() *events.Bus {
	if s.audit != nil {
		return s.audit.bus
	}
	a := &auditTrail{bus: events.NewBus(events.Options{Clock: s.clock}), path: filepath.Join(s.t.TempDir(), "audit.jsonl"), done: make(chan struct{})}
	sink, err := events.NewFileSink(a.bus, events.FileOptions{Path: a.path, MaxSizeMB: 1})
	if err != nil {
		s.t.Fatal(err)
	}
	go func() {
		defer close(a.done)
		_ = sink.Run(context.Background())
	}()
	s.audit = a
	s.t.Cleanup(a.stop)
	return a.bus
}

func (a *auditTrail) stop() {
	a.bus.Close()
	<-a.done
}

// auditLines stops the audit trail (the server publishes nothing more in
// this test) and returns the events its file holds, each line decoded.
func (s *stack) auditLines() []events.Event {
	s.t.Helper()
	s.needLocal("the server's audit file")
	s.audit.stop()
	f, err := os.Open(s.audit.path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	var out []events.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, events.MaxLineBytes)
	for sc.Scan() {
		e, err := events.Decode(sc.Bytes())
		if err != nil {
			s.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

// TestAudit_FailoverAndBreakerInTheAuditFile verifies the audit file after
// three 503s from the primary: each request's failover from primary to
// secondary with reason overloaded and status 503, the fallback that
// served it, and the primary's breaker opening on consecutive failures
// with the count and the failure that tripped it; then requests routed
// around the open breaker publish no failover. No line carries a key or
// the prompt.
func TestAudit_FailoverAndBreakerInTheAuditFile(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503, Times: -1})); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			s.mustOK(s.chat(), "secondary")
		}
		lines := s.auditLines()
		var failovers, served, opened int
		for _, e := range lines {
			switch e.Kind {
			case events.KindFailover:
				failovers++
				if e.From.Provider != "primary" || e.To.Provider != "secondary" || e.Reason != "overloaded" || e.Status != 503 ||
					e.Chain != "main" || e.RequestID == "" || e.Attempt != 1 {
					t.Errorf("failover %+v: want primary -> secondary, overloaded, 503, chain main, a request id, attempt 1", e)
				}
			case events.KindFallbackServed:
				served++
				if e.From.Provider != "secondary" || e.Attempt != 2 {
					t.Errorf("fallback_served %+v: want secondary on attempt 2", e)
				}
			case events.KindBreakerTransition:
				opened++
				if e.From.Provider != "primary" || e.BreakerTo != "open" || e.Reason != "consecutive failures" || e.Failures != 3 ||
					e.Status != 503 || e.CooldownUntil.IsZero() {
					t.Errorf("transition %+v: want primary opened on 3 consecutive failures, 503, with a cooldown", e)
				}
			}
		}
		if failovers != 3 || served != 3 || opened != 1 {
			t.Errorf("audit file: %d failovers, %d fallback_served, %d transitions; want 3, 3, 1:\n%+v", failovers, served, opened, lines)
		}
		raw, _ := os.ReadFile(s.audit.path)
		for _, secret := range []string{providerKey("primary"), providerKey("secondary"), "Say hello."} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("the audit file carries %q", secret)
			}
		}
	})
}
