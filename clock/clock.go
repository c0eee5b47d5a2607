// Package clock is the module's one notion of time: a Clock tells the time
// and, optionally, makes timers, so every timeout (breaker cooldowns,
// the attempt phase's holds) runs on the clock a test injects.
package clock

import "time"

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Timer is a one-shot timer, as time.Timer.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did so.
	Stop() bool
}

// Timers is a Clock that also makes timers on its own time.
type Timers interface {
	Clock
	NewTimer(d time.Duration) Timer
}

// Wall is the wall clock.
type Wall struct{}

// Now is time.Now.
func (Wall) Now() time.Time { return time.Now() }

// NewTimer is time.NewTimer.
func (Wall) NewTimer(d time.Duration) Timer { return wallTimer{time.NewTimer(d)} }

var _ Timers = Wall{}

type wallTimer struct{ t *time.Timer }

func (w wallTimer) C() <-chan time.Time { return w.t.C }
func (w wallTimer) Stop() bool          { return w.t.Stop() }

// NewTimer makes a timer on c's time when c makes timers, else on the wall
// clock (a Clock that only tells the time, e.g. a test's fixed clock).
func NewTimer(c Clock, d time.Duration) Timer {
	if t, ok := c.(Timers); ok {
		return t.NewTimer(d)
	}
	return Wall{}.NewTimer(d)
}
