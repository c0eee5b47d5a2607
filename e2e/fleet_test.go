package e2e

import (
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fleet"
	"github.com/llm-failover/llm-failover/fleet/redistest"
)

// joinFleet makes the stack's server a fleet member through the Redis at
// addr, under a key prefix of its own test, as `serve` does with fleet:
// in its configuration.
func joinFleet(t *testing.T, s *stack, name, addr string) *fleet.Fleet {
	t.Helper()
	cfg, err := s.parseConfig(s.cfgYAML)
	if err != nil {
		t.Fatal(err)
	}
	fc := cfg.Fleet
	fc.Redis.Address, fc.Redis.KeyPrefix, fc.Replica = addr, "e2e-"+t.Name()+":", name
	fc.Timeout = config.Duration(time.Second)
	f, err := fleet.New(fleet.Options{Config: fc, Registry: s.proc.Registry(), Clock: s.clock})
	if err != nil {
		t.Fatalf("fleet.New: %v", err)
	}
	f.Start()
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// waitOpen waits until the stack's breaker of target is open.
func waitOpen(t *testing.T, s *stack, target string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := s.proc.Registry().Lookup(target)
		if b != nil && b.Snapshot(time.Time{}).State == breaker.Open {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not open on the other replica after 10s", target)
		}
		time.Sleep(5 * time.Millisecond) // polls a state another process's message changes
	}
}

// TestFleet_OutageOnOneReplicaSparesTheOthers runs two replicas (each an
// Envoy and its server) sharing one Redis: the primary's outage seen by
// one opens it on the other, whose clients then never reach the failing
// primary; and Redis killed mid-run fails no request.
func TestFleet_OutageOnOneReplicaSparesTheOthers(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		rd := redistest.Start(t)
		a := newStack(t, v, stackOpts{})
		b := newStack(t, v, stackOpts{})
		fa := joinFleet(t, a, "a", rd.Addr())
		fb := joinFleet(t, b, "b", rd.Addr())
		for _, f := range []*fleet.Fleet{fa, fb} {
			deadline := time.Now().Add(10 * time.Second)
			for !f.Status().Connected {
				if time.Now().After(deadline) {
					t.Fatalf("replica %s never reached redis", f.Replica())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		openPrimary(t, a)
		waitOpen(t, b, "primary/"+targetModel("primary"))
		for i := 0; i < 3; i++ {
			b.mustOK(b.chat(), "secondary")
		}
		if c := b.fakes["primary"].Count(); c != 0 {
			t.Errorf("replica b sent %d requests to the primary after replica a saw it fail, want 0", c)
		}

		rd.Stop()
		for i := 0; i < 10; i++ {
			a.mustOK(a.chat(), "secondary")
			b.mustOK(b.chat(), "secondary")
		}
	})
}
