package access

import (
	"testing"
	"time"
)

// With the fleet's counts of a window, Admit refuses on the fleet's total:
// the request reaching the limit across replicas is admitted, the next
// refused; a new window starts from zero everywhere.
func TestLimiter_SharedWindowsCountTheFleet(t *testing.T) {
	p := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], rate: {limit: 5, window: 1m}}]}")
	a := p.Client("a")
	l := NewLimiter()
	l.Retain(p)
	for i := 0; i < 2; i++ {
		if d := l.Admit(a, 0, t0); d.Reason != Allowed {
			t.Fatalf("local request %d: %s", i, d.Reason)
		}
	}
	ws := l.Windows(t0.Add(time.Second))
	if len(ws) != 1 || ws[0].Client != "a" || ws[0].Kind != KindRate || ws[0].Local != 2 || ws[0].Delta != 2 || !ws[0].Start.Equal(t0) {
		t.Fatalf("Windows = %+v, want a's rate window with 2 unshared", ws)
	}
	l.Shared(ws[0], 4) // the fleet counted 4: 2 here, 2 elsewhere
	if ws := l.Windows(t0.Add(time.Second)); ws[0].Delta != 0 {
		t.Fatalf("after Shared, Delta = %d, want 0", ws[0].Delta)
	}
	if d := l.Admit(a, 0, t0.Add(2*time.Second)); d.Reason != Allowed {
		t.Fatalf("5th request of the fleet: %s, want allowed (exactly at the limit)", d.Reason)
	}
	if d := l.Admit(a, 0, t0.Add(3*time.Second)); d.Reason != RateExceeded {
		t.Fatalf("6th request of the fleet: %s, want refused", d.Reason)
	}
	// A sync that answers for a window that has ended changes nothing.
	old := ws[0]
	if d := l.Admit(a, 0, t0.Add(time.Minute)); d.Reason != Allowed {
		t.Fatalf("next window: %s, want allowed", d.Reason)
	}
	l.Shared(old, 100)
	if d := l.Admit(a, 0, t0.Add(time.Minute+time.Second)); d.Reason != Allowed {
		t.Fatalf("a late sync of the old window refused the new one: %s", d.Reason)
	}
}
