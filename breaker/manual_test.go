package breaker

import (
	"testing"
	"time"
)

// TestBreaker_TripOpensAndResetCloses verifies the manual controls change
// the state from any state, report the transition with its reason, and that
// a trip lasts its own duration (or OpenFor).
func TestBreaker_TripOpensAndResetCloses(t *testing.T) {
	var got []Transition
	b := New("p/m", Settings{OpenFor: 30 * time.Second, Jitter: 0, OnStateChange: func(tr Transition) { got = append(got, tr) }})
	b.Trip(at(0), time.Minute, "admin trip: maintenance")
	if s := b.Snapshot(at(59 * time.Second)); s.State != Open || !s.OpenUntil.Equal(at(time.Minute)) {
		t.Fatalf("after Trip(1m): state %v until %v, want open until %v", s.State, s.OpenUntil, at(time.Minute))
	} else if s.Opened.Reason != "admin trip: maintenance" || !s.Opened.At.Equal(at(0)) {
		t.Fatalf("after Trip: Opened = %+v, want the trip's reason at t0", s.Opened)
	}
	b.Reset(at(time.Second), "admin reset")
	if s := b.Snapshot(at(time.Second)); s.State != Closed || s.Share != 1 {
		t.Fatalf("after Reset: state %v share %v, want closed 1", s.State, s.Share)
	}
	b.Trip(at(2*time.Second), 0, "admin trip")
	if s := b.Snapshot(at(2 * time.Second)); !s.OpenUntil.Equal(at(32 * time.Second)) {
		t.Fatalf("Trip(0) open until %v, want OpenFor later %v", s.OpenUntil, at(32*time.Second))
	}
	want := []struct {
		from, to State
		reason   string
	}{{Closed, Open, "admin trip: maintenance"}, {Open, Closed, "admin reset"}, {Closed, Open, "admin trip"}}
	if len(got) != len(want) {
		t.Fatalf("transitions = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].From != w.from || got[i].To != w.to || got[i].Reason != w.reason {
			t.Errorf("transition %d = %v->%v %q, want %v->%v %q", i, got[i].From, got[i].To, got[i].Reason, w.from, w.to, w.reason)
		}
	}
}
