package clock

import (
	"testing"
	"time"
)

// nowOnly is a Clock without timers.
type nowOnly struct{}

func (nowOnly) Now() time.Time { return time.Time{} }

// TestNewTimer_FallsBackToTheWallClock verifies a Clock without timers still
// gets a working (wall) timer, and that Stop stops it.
func TestNewTimer_FallsBackToTheWallClock(t *testing.T) {
	tm := NewTimer(nowOnly{}, time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer: got false, want true")
	}
	fired := NewTimer(nowOnly{}, 0)
	select {
	case <-fired.C():
	case <-time.After(10 * time.Second):
		t.Fatal("a zero-duration wall timer never fired")
	}
}
