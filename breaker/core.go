package breaker

import (
	"math"
	"time"
)

// This file is the breaker's state machine (core), without locking; the
// Breaker in breaker.go holds its lock around every call.

// Reasons given in Transition.Reason.
const (
	ReasonConsecutiveFailures = "consecutive failures"
	ReasonRetryAfter          = "rate limited with retry-after"
	ReasonAuthFailure         = "auth failure"
	ReasonQuotaExhausted      = "quota exhausted"
	ReasonErrorRate           = "error rate"
	ReasonLatency             = "latency"
	ReasonQuality             = "quality"
	ReasonCooldownElapsed     = "cooldown elapsed"
	ReasonProbeSucceeded      = "probe succeeded"
	ReasonProbeFailed         = "probe failed"
	ReasonRecoveryFailed      = "failure while recovering"
	ReasonStageCompleted      = "recovery stage completed"
	ReasonRecovered           = "recovered"
	// ReasonProbe: Settings.ProbeFailures active probes failed in a row.
	ReasonProbe = "probe"
)

// core is the breaker's state machine without locking: the Breaker holds
// its lock around every call. It is copied by value for Snapshot views.
type core struct {
	s      *Settings
	name   string
	events *[]Transition // nil: transitions are not reported

	state          State
	gen            uint64
	since          time.Time // when the state or stage began
	openUntil      time.Time // Open only
	stage          int       // Recovering only
	stageSuccesses int       // Recovering: successes in this stage
	consecutive    int       // Closed: consecutive failures
	probeFailures  int       // Closed: failed active probes since the last success
	opens          int       // re-opens in a row
	opened         Opening   // why it last opened; zero once closed

	// probes is a ring of admission times of the probes in flight, oldest
	// at probeHead. Only allow writes into it.
	probes    []time.Time
	probeHead int
	probeN    int

	win  window
	qwin window // the quality window (Settings.Quality)
	lat  ewma

	// fleet marks the transitions setState reports while it is set as
	// adopted from another replica (Transition.Fleet; fleet.go).
	fleet bool
}

// setState is the one place every transition happens: it bumps the
// generation, resets what belongs to the previous generation, and reports
// the transition. Callers set openUntil (to Open) or stage (to Recovering)
// before calling it.
func (c *core) setState(to State, now time.Time, reason string) {
	from := c.state
	c.state = to
	c.gen++
	c.since = now
	c.consecutive = 0
	c.probeFailures = 0
	c.stageSuccesses = 0
	c.probeHead, c.probeN = 0, 0
	switch to {
	case Closed:
		c.opens = 0
		c.stage = 0
		c.openUntil = time.Time{}
		c.opened = Opening{}
		c.win.reset()
		c.qwin.reset()
	case Open:
		c.stage = 0
		c.win.reset()
		c.qwin.reset()
		c.lat.reset()
	case HalfOpen, Recovering:
		c.openUntil = time.Time{}
	}
	if c.events == nil {
		return
	}
	t := Transition{Name: c.name, From: from, To: to, At: now, Reason: reason, Fleet: c.fleet}
	switch to {
	case Open:
		t.Until = c.openUntil
		t.Opening = c.opened
	case Recovering:
		t.Stage = c.stage
	}
	*c.events = append(*c.events, t)
}

// advance applies the transitions that are due at now without a request:
// open->half-open, expired probe slots, a completed recovery stage.
func (c *core) advance(now time.Time) {
	switch c.state {
	case Open:
		if !now.Before(c.openUntil) {
			c.setState(HalfOpen, now, ReasonCooldownElapsed)
		}
	case HalfOpen:
		for c.probeN > 0 && !now.Before(c.probes[c.probeHead].Add(c.s.ProbeTimeout)) {
			c.popProbe()
		}
	case Recovering:
		c.maybeNextStage(now)
	}
}

func (c *core) popProbe() {
	c.probeHead = (c.probeHead + 1) % len(c.probes)
	c.probeN--
}

func (c *core) allow(now time.Time, u float64) Decision {
	c.advance(now)
	switch c.state {
	case Closed:
		return Allow
	case HalfOpen:
		if c.probeN < len(c.probes) {
			c.probes[(c.probeHead+c.probeN)%len(c.probes)] = now
			c.probeN++
			return Probe
		}
	case Recovering:
		if u < c.s.RecoveryStages[c.stage] {
			return Allow
		}
	}
	return Reject
}

// release frees the probe slot admitted at a.at, the newest such slot,
// keeping the ring's order.
func (c *core) release(now time.Time, a Admission) {
	c.advance(now)
	if c.state != HalfOpen || c.gen != a.gen {
		return
	}
	n := len(c.probes)
	for k := c.probeN - 1; k >= 0; k-- {
		if !c.probes[(c.probeHead+k)%n].Equal(a.at) {
			continue
		}
		for i := k; i < c.probeN-1; i++ {
			c.probes[(c.probeHead+i)%n] = c.probes[(c.probeHead+i+1)%n]
		}
		c.probeN--
		return
	}
}

func (c *core) record(now time.Time, o Outcome) {
	c.advance(now)
	switch c.state {
	case Closed:
		c.recordClosed(now, o)
	case Open:
		c.recordOpen(now, o)
	case HalfOpen:
		c.recordHalfOpen(now, o)
	case Recovering:
		c.recordRecovering(now, o)
	}
}

func (c *core) recordClosed(now time.Time, o Outcome) {
	if c.recordQuality(now, o) || o.Kind == Neutral || o.Kind > Neutral {
		return
	}
	failed := o.Kind != Success
	if c.s.ErrorRate.Threshold > 0 {
		c.win.add(now, failed)
	}
	if c.probeFailed(now, o) {
		return
	}
	switch o.Kind {
	case Success:
		c.consecutive = 0
		if c.sampleLatency(o) {
			c.open(now, o, ReasonLatency, c.lat.n)
		}
		return
	case RateLimited:
		if o.RetryAfter > 0 {
			c.open(now, o, ReasonRetryAfter, 1)
			return
		}
		fallthrough
	case Failure:
		c.consecutive++
		if c.consecutive >= c.s.ConsecutiveFailures {
			c.open(now, o, ReasonConsecutiveFailures, c.consecutive)
			return
		}
	case AuthFailure:
		c.open(now, o, ReasonAuthFailure, 1)
		return
	case QuotaExhausted:
		c.open(now, o, ReasonQuotaExhausted, 1)
		return
	}
	if c.s.ErrorRate.Threshold > 0 {
		total, failures := c.win.counts(now)
		if total >= c.s.ErrorRate.MinRequests && float64(failures) >= c.s.ErrorRate.Threshold*float64(total) {
			c.open(now, o, ReasonErrorRate, failures)
		}
	}
}

// probeFailed counts failed active probes while Closed (any success resets
// the count) and opens the breaker with ReasonProbe on the
// Settings.ProbeFailures-th in a row; it reports whether it opened.
func (c *core) probeFailed(now time.Time, o Outcome) bool {
	switch {
	case o.Kind == Success:
		c.probeFailures = 0
	case o.Probe && o.Kind != Neutral:
		c.probeFailures++
		if c.probeFailures >= c.s.ProbeFailures {
			c.open(now, o, ReasonProbe, c.probeFailures)
			return true
		}
	}
	return false
}

// recordOpen handles a late outcome: see Breaker.
func (c *core) recordOpen(now time.Time, o Outcome) {
	var d time.Duration
	switch o.Kind {
	case RateLimited:
		d = o.RetryAfter
	case AuthFailure:
		d = c.s.AuthOpenFor
	case QuotaExhausted:
		d = c.s.QuotaOpenFor
	}
	if d > 0 {
		if until := now.Add(d); until.After(c.openUntil) {
			c.openUntil = until
		}
	}
}

func (c *core) recordHalfOpen(now time.Time, o Outcome) {
	if c.probeN == 0 || o.Kind > QualityFailure {
		return // not a probe's outcome: see Breaker
	}
	c.popProbe()
	switch o.Kind {
	case Neutral:
	case Success:
		c.stage = 0
		c.setState(Recovering, now, ReasonProbeSucceeded)
		c.sampleLatency(o) // a probe's latency starts the new average
	default:
		c.open(now, o, ReasonProbeFailed, 1)
	}
}

func (c *core) recordRecovering(now time.Time, o Outcome) {
	if c.recordQuality(now, o) {
		return
	}
	switch o.Kind {
	case Neutral:
	case Success:
		c.stageSuccesses++
		if c.sampleLatency(o) {
			c.open(now, o, ReasonLatency, c.lat.n)
			return
		}
		c.maybeNextStage(now)
	case Failure, RateLimited, AuthFailure, QuotaExhausted:
		c.open(now, o, ReasonRecoveryFailed, 1)
	}
}

// recordQuality counts an answer (Success or QualityFailure) in the
// quality window and opens the breaker when the trigger fires; it reports
// whether it opened or the outcome was a QualityFailure (which nothing
// else counts).
func (c *core) recordQuality(now time.Time, o Outcome) bool {
	q := &c.s.Quality
	if o.Kind != Success && o.Kind != QualityFailure {
		return false
	}
	if q.Threshold > 0 {
		c.qwin.add(now, o.Kind == QualityFailure)
		if o.Kind == QualityFailure {
			total, failed := c.qwin.counts(now)
			if total >= q.MinRequests && float64(failed) >= q.Threshold*float64(total) {
				c.open(now, o, ReasonQuality, failed)
				return true
			}
		}
	}
	return o.Kind == QualityFailure
}

// maybeNextStage moves to the next recovery stage, or closes after the last,
// once the stage lasted RecoveryStageDuration with at least one success.
func (c *core) maybeNextStage(now time.Time) {
	if c.stageSuccesses == 0 || now.Sub(c.since) < c.s.RecoveryStageDuration {
		return
	}
	if c.stage+1 < len(c.s.RecoveryStages) {
		c.stage++
		c.setState(Recovering, now, ReasonStageCompleted)
		return
	}
	c.setState(Closed, now, ReasonRecovered)
}

// sampleLatency feeds a Success's latency to the EWMA and reports whether
// the latency trigger fires.
func (c *core) sampleLatency(o Outcome) bool {
	l := &c.s.Latency
	if l.Threshold <= 0 || o.Latency <= 0 {
		return false
	}
	c.lat.add(o.Latency)
	return c.lat.n >= l.MinRequests && c.lat.get() > l.Threshold
}

// open opens the breaker (a re-open from HalfOpen or Recovering grows the
// cooldown).
func (c *core) open(now time.Time, o Outcome, reason string, failures int) {
	if c.state == HalfOpen || c.state == Recovering {
		c.opens++
	}
	c.openUntil = now.Add(c.cooldown(o))
	c.opened = Opening{At: now, Until: c.openUntil, Reason: reason, Failures: failures, Last: o}
	c.setState(Open, now, reason)
}

// cooldown returns how long to stay open: OpenFor*CooldownMultiplier^opens
// capped at MaxOpenFor, raised to the outcome's own duration (Retry-After,
// AuthOpenFor, QuotaOpenFor) if longer, times the jitter, and never below
// Retry-After.
func (c *core) cooldown(o Outcome) time.Duration {
	s := c.s
	d := float64(s.OpenFor)
	for i := 0; i < c.opens && d < float64(s.MaxOpenFor) && s.CooldownMultiplier > 1; i++ {
		d *= s.CooldownMultiplier
	}
	d = min(d, float64(s.MaxOpenFor))
	switch o.Kind {
	case RateLimited:
		d = max(d, float64(o.RetryAfter))
	case AuthFailure:
		d = max(d, float64(s.AuthOpenFor))
	case QuotaExhausted:
		d = max(d, float64(s.QuotaOpenFor))
	}
	if s.Jitter > 0 {
		u := min(max(s.Rand(), 0), 1)
		d *= 1 + s.Jitter*(2*u-1)
	}
	cd := time.Duration(math.MaxInt64)
	if d < float64(math.MaxInt64) {
		cd = time.Duration(d)
	}
	if o.Kind == RateLimited && cd < o.RetryAfter {
		cd = o.RetryAfter
	}
	return cd
}

func (c *core) snapshot(now time.Time) Snapshot {
	sn := Snapshot{
		State:               c.state,
		OpenUntil:           c.openUntil,
		ConsecutiveFailures: c.consecutive,
		LatencyEWMA:         c.lat.get(),
		LatencySamples:      c.lat.n,
		Opens:               c.opens,
		ProbesInFlight:      c.probeN,
		Generation:          c.gen,
		Since:               c.since,
		Opened:              c.opened,
	}
	if c.s.ErrorRate.Threshold > 0 {
		sn.Requests, sn.Failures = c.win.counts(now)
	}
	if c.s.Quality.Threshold > 0 {
		sn.Answers, sn.QualityFailures = c.qwin.counts(now)
	}
	switch c.state {
	case Closed:
		sn.Share = 1
	case Recovering:
		sn.Stage = c.stage
		sn.Share = c.s.RecoveryStages[c.stage]
	}
	return sn
}
