package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// This file is the fleet's half-open probe lease: exactly one replica
// probes a target whose cooldown ended.

// claimAt is when to claim the probe lease of a target that opened at at
// until until: a little before the cooldown ends (two command timeouts, at
// most half the cooldown), so the replicas that lose know it before they
// would go half-open themselves.
func (f *Fleet) claimAt(at, until time.Time) time.Time {
	lead := min(2*f.cfg.Timeout.D(), until.Sub(at)/2)
	return until.Add(-lead)
}

// leaseLoop checks every watched target when its time comes.
func (f *Fleet) leaseLoop() {
	defer f.wg.Done()
	for {
		now := f.clock.Now()
		var due []string
		next := now.Add(f.cfg.ResyncEvery.D())
		f.mu.Lock()
		for t, at := range f.watch {
			if !at.After(now) {
				due = append(due, t)
			} else if at.Before(next) {
				next = at
			}
		}
		f.mu.Unlock()
		for _, t := range due {
			if f.ctx.Err() != nil {
				return
			}
			f.checkLease(t, now)
		}
		if len(due) > 0 {
			continue // the checks rescheduled: compute the next time again
		}
		timer := time.NewTimer(next.Sub(now))
		select {
		case <-f.ctx.Done():
			timer.Stop()
			return
		case <-f.wakeLease:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// schedule sets target's next check, or stops watching it (zero at).
func (f *Fleet) schedule(target string, at time.Time) {
	f.mu.Lock()
	if at.IsZero() {
		delete(f.watch, target)
	} else {
		f.watch[target] = at
	}
	f.mu.Unlock()
}

// checkLease claims, renews, lets go of or gives back target's probe lease
// from its breaker's state at now, and schedules the next check.
func (f *Fleet) checkLease(target string, now time.Time) {
	b := f.reg.Lookup(target)
	if b == nil {
		f.schedule(target, time.Time{})
		return
	}
	sn := b.Snapshot(now)
	lease := f.cfg.ProbeLease.D()
	f.mu.Lock()
	held := f.held[target]
	f.mu.Unlock()
	switch {
	case sn.State == breaker.Closed || sn.State == breaker.Recovering:
		f.schedule(target, time.Time{})
		if held {
			f.release(target)
		}
		return
	case sn.State == breaker.Open && now.Before(f.claimAt(sn.Since, sn.OpenUntil)):
		f.schedule(target, f.claimAt(sn.Since, sn.OpenUntil)) // the cooldown grew since
		return
	case held && sn.State == breaker.HalfOpen && sn.ProbesInFlight == 0:
		// The lease ran most of its time without a request to probe with:
		// let it end, so a replica with traffic can take it.
		f.mu.Lock()
		delete(f.held, target)
		f.mu.Unlock()
		f.schedule(target, now.Add(lease/4+10*time.Millisecond))
		return
	}
	won, left, err := f.claim(target)
	switch {
	case err != nil:
		// Redis is away: this replica decides alone (its breaker probes
		// when its own cooldown ends). Try again soon.
		f.schedule(target, now.Add(time.Second))
	case won:
		f.stats.leasesWon.Add(1)
		f.mu.Lock()
		f.held[target] = true
		f.mu.Unlock()
		f.schedule(target, now.Add(left*3/4)) // renew before it ends if still probing
	default:
		f.stats.leasesLost.Add(1)
		b.HoldOpen(now, now.Add(left))
		f.schedule(target, now.Add(left+10*time.Millisecond))
	}
}

// claim takes or renews target's lease; it returns whether this replica
// holds it and for how long it, or its holder, holds it.
func (f *Fleet) claim(target string) (won bool, left time.Duration, err error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	defer cancel()
	v, err := claimScript.Run(ctx, f.rdb, []string{f.key(target, "probe")}, f.replica, strconv.FormatInt(f.cfg.ProbeLease.D().Milliseconds(), 10)).Int64Slice()
	if err == nil && len(v) != 2 {
		err = errMessage
	}
	if err != nil {
		if f.ctx.Err() == nil {
			f.fail("claim", err)
		}
		return false, 0, err
	}
	f.ok()
	return v[0] == 1, time.Duration(v[1]) * time.Millisecond, nil
}

// release gives target's lease back, so the next opening starts a fresh
// claim.
func (f *Fleet) release(target string) {
	f.mu.Lock()
	delete(f.held, target)
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	defer cancel()
	if err := releaseScript.Run(ctx, f.rdb, []string{f.key(target, "probe")}, f.replica).Err(); err != nil && f.ctx.Err() == nil {
		f.fail("release", err) // the lease ends by itself
	}
}
