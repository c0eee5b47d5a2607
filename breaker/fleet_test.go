package breaker

import (
	"testing"
	"time"
)

// fleetBreaker is a breaker with exact cooldowns that records its transitions.
func fleetBreaker(got *[]Transition) *Breaker {
	return New("p/m", Settings{OpenFor: 30 * time.Second, MaxOpenFor: time.Minute, AuthOpenFor: 2 * time.Minute, QuotaOpenFor: 3 * time.Minute,
		Jitter: 0, ConsecutiveFailures: 3, HalfOpenProbes: 1, RecoveryStages: []float64{0.1, 0.5, 1},
		OnStateChange: func(tr Transition) { *got = append(*got, tr) }})
}

// Adopt applies each remote state as the fleet means it, marks the
// transitions it reports as the fleet's, and never holds a breaker open
// longer than it could have opened on its own.
func TestAdopt_AppliesRemoteTransitions(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(b *Breaker)
		remote    Remote
		changed   bool
		wantState State
		wantUntil time.Duration // from at(10s); Open only
		wantStage int
	}{
		{"closed adopts an opening for the time left", nil, Remote{State: Open, OpenFor: 20 * time.Second, Reason: "error rate", Status: 503}, true, Open, 20 * time.Second, 0},
		{"a cooldown past the longest is cut to it", nil, Remote{State: Open, OpenFor: 24 * time.Hour}, true, Open, 3 * time.Minute, 0},
		{"an opening with no time left changes nothing", nil, Remote{State: Open}, false, Closed, 0, 0},
		{"open keeps its longer cooldown", func(b *Breaker) { b.Trip(at(0), 50*time.Second, "x") }, Remote{State: Open, OpenFor: 10 * time.Second}, false, Open, 40 * time.Second, 0},
		{"open extends a shorter cooldown", func(b *Breaker) { b.Trip(at(0), 15*time.Second, "x") }, Remote{State: Open, OpenFor: 30 * time.Second}, true, Open, 30 * time.Second, 0},
		{"closed ignores recovering", nil, Remote{State: Recovering, Stage: 1}, false, Closed, 0, 0},
		{"open enters recovering at the remote stage", func(b *Breaker) { b.Trip(at(0), 50*time.Second, "x") }, Remote{State: Recovering, Stage: 1}, true, Recovering, 0, 1},
		{"a stage beyond ours is cut to the last", func(b *Breaker) { b.Trip(at(0), 50*time.Second, "x") }, Remote{State: Recovering, Stage: 9}, true, Recovering, 0, 2},
		{"recovering never goes back a stage", func(b *Breaker) {
			b.Trip(at(0), 50*time.Second, "x")
			b.Adopt(at(1*time.Second), Remote{State: Recovering, Stage: 2})
		}, Remote{State: Recovering, Stage: 1}, false, Recovering, 0, 2},
		{"half-open is left to the local cooldown", nil, Remote{State: HalfOpen}, false, Closed, 0, 0},
		{"open closes on a remote close", func(b *Breaker) { b.Trip(at(0), 50*time.Second, "x") }, Remote{State: Closed, Reason: "recovered"}, true, Closed, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Transition
			b := fleetBreaker(&got)
			if tc.setup != nil {
				tc.setup(b)
			}
			before := len(got)
			now := at(10 * time.Second)
			if changed := b.Adopt(now, tc.remote); changed != tc.changed {
				t.Errorf("Adopt changed = %v, want %v", changed, tc.changed)
			}
			s := b.Snapshot(now)
			if s.State != tc.wantState {
				t.Fatalf("state %v, want %v", s.State, tc.wantState)
			}
			if tc.wantState == Open && !s.OpenUntil.Equal(now.Add(tc.wantUntil)) {
				t.Errorf("open until %v, want %v", s.OpenUntil.Sub(now), tc.wantUntil)
			}
			if tc.wantState == Recovering && s.Stage != tc.wantStage {
				t.Errorf("stage %d, want %d", s.Stage, tc.wantStage)
			}
			for _, tr := range got[before:] {
				if !tr.Fleet {
					t.Errorf("transition %v->%v %q not marked Fleet", tr.From, tr.To, tr.Reason)
				}
				if tr.Reason[:len(ReasonFleetPrefix)] != ReasonFleetPrefix {
					t.Errorf("reason %q lacks %q", tr.Reason, ReasonFleetPrefix)
				}
			}
			if tc.changed && tc.remote.State == Open && tc.wantUntil == tc.remote.OpenFor && len(got) > before && got[len(got)-1].Opening.Last.Status != tc.remote.Status {
				t.Errorf("opening status %d, want %d", got[len(got)-1].Opening.Last.Status, tc.remote.Status)
			}
		})
	}
}

// An adopted re-open from half-open grows the re-open count, as a local
// one does, so the next cooldown grows.
func TestAdopt_ReopenFromHalfOpenGrowsCooldown(t *testing.T) {
	var got []Transition
	b := fleetBreaker(&got)
	b.Trip(at(0), 30*time.Second, "x")
	b.Allow(at(31*time.Second), 0) // half-open, probing
	b.Adopt(at(32*time.Second), Remote{State: Open, OpenFor: 30 * time.Second})
	if s := b.Snapshot(at(32 * time.Second)); s.State != Open || s.Opens != 1 {
		t.Fatalf("state %v opens %d, want open with 1 re-open", s.State, s.Opens)
	}
}

// HoldOpen keeps an open breaker from probing until the hold ends, moves a
// half-open one that is not probing back to open, and leaves a probing,
// recovering or closed breaker alone; the hold ends on the local clock.
func TestHoldOpen_HoldsUntilTheLeaseEnds(t *testing.T) {
	var got []Transition
	b := fleetBreaker(&got)
	b.Trip(at(0), 30*time.Second, "x")
	if !b.HoldOpen(at(29*time.Second), at(40*time.Second)) {
		t.Fatal("HoldOpen on an open breaker ending sooner: changed = false")
	}
	if d := b.Allow(at(35*time.Second), 0); d != Reject {
		t.Fatalf("Allow during the hold = %v, want reject", d)
	}
	if d := b.Allow(at(40*time.Second), 0); d != Probe {
		t.Fatalf("Allow when the hold ends = %v, want probe", d)
	}
	// Probing: a hold would leave a probe in flight unanswered.
	if b.HoldOpen(at(41*time.Second), at(50*time.Second)) {
		t.Fatal("HoldOpen on a probing breaker: changed = true")
	}

	var got3 []Transition
	d := fleetBreaker(&got3)
	d.Trip(at(0), 30*time.Second, "x")
	d.Admit(at(31*time.Second), 0) // half-open, and this request takes the probe
	if d.HoldOpen(at(31*time.Second), at(60*time.Second)) {
		t.Error("HoldOpen took a probing breaker back to open")
	}
	e := fleetBreaker(&got3)
	if e.HoldOpen(at(0), at(60*time.Second)) {
		t.Error("HoldOpen changed a closed breaker")
	}
}

// HoldOpen on a half-open breaker with no probe in flight reopens it, as
// the fleet's transition.
func TestHoldOpen_HalfOpenWithoutProbeGoesBackToOpen(t *testing.T) {
	var got []Transition
	b := fleetBreaker(&got)
	b.Trip(at(0), 30*time.Second, "x")
	b.Record(at(31*time.Second), Outcome{Kind: Neutral}) // applies open -> half-open, takes no probe
	if s := b.Snapshot(at(31 * time.Second)); s.State != HalfOpen || s.ProbesInFlight != 0 {
		t.Fatalf("setup: state %v probes %d, want half-open with none", s.State, s.ProbesInFlight)
	}
	if !b.HoldOpen(at(31*time.Second), at(45*time.Second)) {
		t.Fatal("HoldOpen: changed = false")
	}
	last := got[len(got)-1]
	if last.To != Open || !last.Fleet || last.Reason != ReasonProbeHeldElsewhere || !last.Until.Equal(at(45*time.Second)) {
		t.Fatalf("transition = %+v, want to open, fleet, %q, until 45s", last, ReasonProbeHeldElsewhere)
	}
}

// OpenShared opens only a closed breaker, with the fleet's reason and
// count, and reports it as a local transition (to be published).
func TestOpenShared_OpensOnlyClosed(t *testing.T) {
	var got []Transition
	b := fleetBreaker(&got)
	if !b.OpenShared(at(0), Outcome{Kind: Failure, Status: 502}, "consecutive failures across the fleet", 3) {
		t.Fatal("OpenShared on a closed breaker: opened = false")
	}
	s := b.Snapshot(at(0))
	if s.State != Open || s.Opened.Failures != 3 || s.Opened.Last.Status != 502 || got[0].Fleet {
		t.Fatalf("after OpenShared: %+v, transition %+v", s, got[0])
	}
	if b.OpenShared(at(1*time.Second), Outcome{Kind: Failure}, "again", 4) {
		t.Error("OpenShared on an open breaker: opened = true")
	}
}

// Record passes every outcome to OnOutcome, after the breaker's lock.
func TestRecord_CallsOnOutcome(t *testing.T) {
	var seen []Outcome
	var b *Breaker
	b = New("p/m", Settings{OnOutcome: func(name string, now time.Time, o Outcome) {
		_ = b.Snapshot(now) // the lock is released: this must not deadlock
		if name != "p/m" {
			t.Errorf("name %q", name)
		}
		seen = append(seen, o)
	}})
	b.Record(at(0), Outcome{Kind: Failure})
	b.Record(at(0), Outcome{Kind: Success})
	if len(seen) != 2 || seen[0].Kind != Failure || seen[1].Kind != Success {
		t.Fatalf("OnOutcome saw %+v, want the two outcomes in order", seen)
	}
}
