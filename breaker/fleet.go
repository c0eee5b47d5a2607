package breaker

import "time"

// This file is what package fleet needs to keep the breakers of several
// replicas in step: Adopt applies a transition another replica published,
// HoldOpen keeps a breaker open while another replica holds the fleet's
// half-open probe. Both report their transitions with Transition.Fleet set,
// so the fleet does not publish them back.

// ReasonFleetPrefix starts the reason of every transition adopted from
// another replica ("fleet: " + that replica's reason).
const ReasonFleetPrefix = "fleet: "

// ReasonProbeHeldElsewhere is the reason of a HoldOpen that moved a
// half-open breaker back to Open.
const ReasonProbeHeldElsewhere = "fleet: probe held by another replica"

// Remote is a transition published by another replica, as Adopt takes it.
type Remote struct {
	// State is the state the other replica entered.
	State State
	// OpenFor is the cooldown it had left when it published (Open only).
	// A duration, not an instant, so the replicas' clocks need not agree.
	OpenFor time.Duration
	// Stage is the recovery stage it entered (Recovering only).
	Stage int
	// Reason is its reason for the transition.
	Reason string
	// Status is the HTTP status of the failure that opened it (Open only; 0
	// = none).
	Status int
}

// MaxAdoptedOpen is the longest cooldown Adopt accepts: the longest any
// breaker could choose itself (the largest of MaxOpenFor, AuthOpenFor and
// QuotaOpenFor). A longer one, from a replica configured otherwise or a
// corrupted message, is cut to it, so a breaker is never held open by
// another replica for longer than it could have opened on its own.
func (b *Breaker) MaxAdoptedOpen() time.Duration {
	return max(b.s.MaxOpenFor, b.s.AuthOpenFor, b.s.QuotaOpenFor)
}

// Adopt applies r, published by another replica, at now (a zero now means
// Settings.Clock), and reports whether the breaker changed:
//   - Open: the breaker opens until now+OpenFor (at most MaxAdoptedOpen),
//     from any state; an Open breaker whose cooldown ends later is left
//     alone, one that ends sooner is extended. A re-open from HalfOpen or
//     Recovering grows the re-open count as a local one does.
//   - Recovering: an Open or HalfOpen breaker enters Recovering at r.Stage;
//     a Recovering one at a lower stage moves up to it. A Closed breaker is
//     left alone: it saw no outage the stages would recover from.
//   - Closed: the breaker closes, from any state.
//   - HalfOpen: nothing; each replica leaves Open when its own cooldown
//     ends, and the fleet decides which one probes (HoldOpen).
//
// Stage indexes beyond this breaker's stages are cut to its last one.
func (b *Breaker) Adopt(now time.Time, r Remote) bool {
	now = b.now(now)
	b.mu.Lock()
	c := &b.c
	c.advance(now)
	c.fleet = true
	changed := false
	reason := ReasonFleetPrefix + r.Reason
	switch r.State {
	case Open:
		d := min(max(r.OpenFor, 0), b.MaxAdoptedOpen())
		until := now.Add(d)
		if c.state == Open {
			if until.After(c.openUntil) {
				c.openUntil, c.opened.Until = until, until
				changed = true
			}
			break
		}
		if d == 0 {
			break
		}
		if c.state == HalfOpen || c.state == Recovering {
			c.opens++
		}
		c.openUntil = until
		c.opened = Opening{At: now, Until: until, Reason: reason, Failures: 1, Last: Outcome{Kind: Failure, Status: r.Status, Detail: reason}}
		c.setState(Open, now, reason)
		changed = true
	case Recovering:
		stage := min(max(r.Stage, 0), len(b.s.RecoveryStages)-1)
		if c.state == Open || c.state == HalfOpen || c.state == Recovering && c.stage < stage {
			c.stage = stage
			c.setState(Recovering, now, reason)
			changed = true
		}
	case Closed:
		if c.state != Closed {
			c.setState(Closed, now, reason)
			changed = true
		}
	}
	c.fleet = false
	b.unlockAndNotify()
	return changed
}

// HoldOpen keeps the breaker from probing until until, because another
// replica holds the fleet's half-open probe: an Open breaker whose cooldown
// ends sooner is extended to until (no transition: it stays Open), and a
// HalfOpen one with no probe in flight goes back to Open until until. A
// HalfOpen breaker already probing, or a Closed or Recovering one, is left
// alone. It reports whether the breaker changed. The hold is an ordinary
// cooldown: it ends at until on this replica's clock whatever the fleet
// does, so a lost message never keeps a breaker open.
func (b *Breaker) HoldOpen(now, until time.Time) bool {
	now = b.now(now)
	b.mu.Lock()
	c := &b.c
	c.advance(now)
	changed := false
	if until.After(now) {
		switch {
		case c.state == Open && until.After(c.openUntil):
			c.openUntil, c.opened.Until = until, until
			changed = true
		case c.state == HalfOpen && c.probeN == 0:
			c.fleet = true
			c.openUntil, c.opened.Until = until, until
			c.setState(Open, now, ReasonProbeHeldElsewhere)
			c.fleet = false
			changed = true
		}
	}
	b.unlockAndNotify()
	return changed
}

// ConsecutiveFailuresToOpen is Settings.ConsecutiveFailures with defaults
// applied; package fleet counts to it across replicas.
func (b *Breaker) ConsecutiveFailuresToOpen() int { return b.s.ConsecutiveFailures }

// ErrorRateSettings is Settings.ErrorRate with defaults applied.
func (b *Breaker) ErrorRateSettings() ErrorRate { return b.s.ErrorRate }

// OpenShared opens a Closed breaker at now because failures counted across
// the fleet reached a trigger (reason, with failures counted and the last
// outcome), exactly as the local trigger would; it does nothing in any
// other state and reports whether it opened.
func (b *Breaker) OpenShared(now time.Time, o Outcome, reason string, failures int) bool {
	now = b.now(now)
	b.mu.Lock()
	c := &b.c
	c.advance(now)
	opened := false
	if c.state == Closed {
		c.open(now, o, reason, failures)
		opened = true
	}
	b.unlockAndNotify()
	return opened
}
