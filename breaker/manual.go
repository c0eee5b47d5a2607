package breaker

import "time"

// This file holds the manual controls the admin API calls (TripBreaker,
// ResetBreaker). Both go through setState like every other transition, so
// observers see them with their reason.

// Trip opens the breaker at now (a zero now means Settings.Clock) for d (d
// <= 0: Settings.OpenFor), whatever its state, with reason as the
// transition's reason and the Opening's. Tripping does not grow the re-open count that
// lengthens later cooldowns.
func (b *Breaker) Trip(now time.Time, d time.Duration, reason string) {
	now = b.now(now)
	if d <= 0 {
		d = b.s.OpenFor
	}
	b.mu.Lock()
	b.c.openUntil = now.Add(d)
	b.c.opened = Opening{At: now, Until: b.c.openUntil, Reason: reason}
	b.c.setState(Open, now, reason)
	b.unlockAndNotify()
}

// Reset closes the breaker at now (a zero now means Settings.Clock),
// whatever its state, with reason as the transition's reason; like any
// closing it clears the re-open count and the windows.
func (b *Breaker) Reset(now time.Time, reason string) {
	now = b.now(now)
	b.mu.Lock()
	b.c.setState(Closed, now, reason)
	b.unlockAndNotify()
}
