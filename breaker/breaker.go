package breaker

import (
	"sync"
	"time"
)

// Outcome is the result of one attempt on a target, as the attempt phase
// saw it.
type Outcome struct {
	Kind Kind
	// Latency is the time to first response headers; 0 = unknown (not
	// sampled). Only Success outcomes are sampled.
	Latency time.Duration
	// RetryAfter is the provider's rate-limit hint (RateLimited only);
	// 0 = none.
	RetryAfter time.Duration
	// Status is the HTTP status the provider answered; 0 = none (a reset,
	// a timeout). Kept only as part of an Opening.
	Status int
	// Detail is the failure's classification and message (e.g. "overloaded:
	// 529 Overloaded"), kept only as part of an Opening so an open breaker
	// can say why. It must hold no prompt, answer or key: the caller
	// redacts and bounds it. "" = none.
	Detail string
	// Probe marks the outcome of an active probe (a synthetic request the
	// server sent itself, package probe), not of a user's request: while
	// Closed, Settings.ProbeFailures failed probes in a row open the
	// breaker with ReasonProbe. It counts like any other outcome otherwise.
	Probe bool
}

// Opening is why a breaker last opened: the trigger, what it had counted,
// and the outcome that tripped it. It is kept through the Open, HalfOpen
// and Recovering states that follow, and cleared when the breaker closes.
type Opening struct {
	// At is when the breaker opened; zero when it has not opened since it
	// last closed.
	At time.Time
	// Until is the end of the cooldown set at opening (a late outcome may
	// extend Snapshot.OpenUntil past it).
	Until time.Time
	// Reason is the trigger: one of the Reason* constants.
	Reason string
	// Failures is what the trigger counted at opening: the consecutive
	// failures (ReasonConsecutiveFailures), the failures in the window
	// (ReasonErrorRate), the latency samples in the average
	// (ReasonLatency), or 1 for a trigger that needs one outcome (auth,
	// quota, Retry-After, a failed probe or a failure while recovering).
	Failures int
	// Last is the outcome that tripped it.
	Last Outcome
}

// Transition describes one state change, as passed to
// Settings.OnStateChange. A stage change inside Recovering is a transition
// too, with From == To == Recovering and Stage set to the new stage.
type Transition struct {
	Name     string // the breaker's name
	From, To State
	At       time.Time
	Reason   string
	Until    time.Time // To == Open: when the cooldown ends
	Stage    int       // To == Recovering: the stage entered
	// Opening is why it opened (To == Open; zero otherwise).
	Opening Opening
	// Fleet is set when the transition was adopted from another replica
	// (Adopt) or held for one (HoldOpen) rather than decided here: package
	// fleet does not publish it again.
	Fleet bool
}

// Snapshot is a read-only view of a breaker at a given time.
type Snapshot struct {
	State State
	// OpenUntil is when the cooldown ends (Open only; zero otherwise).
	OpenUntil time.Time
	// Stage is the recovery stage (Recovering only).
	Stage int
	// Share is the traffic share admitted: the stage's share when
	// Recovering, 1 when Closed, 0 when Open or HalfOpen.
	Share               float64
	ConsecutiveFailures int
	// Requests and Failures are the counts in the error-rate window (0 when
	// the trigger is off).
	Requests, Failures int
	// Answers and QualityFailures are the counts in the quality window (0
	// when the quality trigger is off).
	Answers, QualityFailures int
	LatencyEWMA              time.Duration
	// LatencySamples is the number of samples in LatencyEWMA.
	LatencySamples int
	// Opens is the number of re-opens in a row; it drives the growing
	// cooldown and is reset when the breaker closes.
	Opens          int
	ProbesInFlight int
	// Generation increases on every transition.
	Generation uint64
	// Since is when the current state (or recovery stage) began.
	Since time.Time
	// Opened is why the breaker last opened, while it is Open, HalfOpen or
	// Recovering; zero when Closed.
	Opened Opening
}

// Breaker is the circuit breaker of one target. Its methods are safe for
// concurrent use; Allow and Record do not allocate.
//
// Late outcomes. Record has no generation argument, so an outcome is matched
// to the breaker's state when it arrives:
//   - Open: the outcome belongs to an attempt admitted before the breaker
//     opened. It changes nothing, except that an AuthFailure,
//     QuotaExhausted, or RateLimited with RetryAfter extends OpenUntil to
//     now plus its own duration (AuthOpenFor, QuotaOpenFor, RetryAfter; no
//     jitter) if that ends later.
//   - HalfOpen with no probe in flight (none admitted, or all freed by
//     ProbeTimeout): the outcome is not a probe's and is ignored.
//   - HalfOpen with probes in flight: the outcome is taken as a probe's and
//     frees the oldest probe slot.
//   - Closed and Recovering: every outcome counts. An attempt admitted
//     before an earlier opening cannot be told apart here; it is rare (its
//     outcome must outlive the whole cooldown and half-open phase).
type Breaker struct {
	name     string
	s        Settings // with defaults applied; read-only after New
	mu       sync.Mutex
	c        core // guarded by mu
	queue    []Transition
	qhead    int  // next transition of queue to deliver
	draining bool // a goroutine is delivering queue
}

// New returns a Closed breaker named name (e.g. "openai/gpt-4o"). It applies
// the defaults of Settings and never panics; invalid fields are replaced
// (see Settings).
func New(name string, s Settings) *Breaker {
	b := &Breaker{name: name, s: s.withDefaults()}
	b.c = core{
		s:      &b.s,
		name:   name,
		probes: make([]time.Time, b.s.HalfOpenProbes),
		win:    newWindow(b.s.ErrorRate.Window),
		qwin:   newWindow(b.s.Quality.Window),
		lat:    ewma{alpha: b.s.Latency.Alpha},
	}
	if b.s.OnStateChange != nil {
		b.queue = make([]Transition, 0, 8)
		b.c.events = &b.queue
	}
	return b
}

// Name returns the name given to New.
func (b *Breaker) Name() string { return b.name }

// now replaces a zero time with the clock's.
func (b *Breaker) now(t time.Time) time.Time {
	if t.IsZero() {
		return b.s.Clock.Now()
	}
	return t
}

// Allow decides whether a request may go to the target at now (a zero now
// means Settings.Clock). An Open breaker past its cooldown becomes HalfOpen
// here. Closed: Allow. Open: Reject. HalfOpen: Probe while a probe slot is
// free, else Reject. Recovering: Allow when u < the stage's share, else
// Reject; u should be uniform in [0,1).
func (b *Breaker) Allow(now time.Time, u float64) Decision {
	return b.Admit(now, u).Decision
}

// Admission is an Allow decision together with the state it was decided in
// and what Release needs to give a probe slot back.
type Admission struct {
	Decision Decision
	// State is the breaker's state the decision was taken in, the
	// transitions due at now applied; OpenUntil is its cooldown's end (as
	// in Snapshot). A caller needs no Snapshot beside the decision.
	State     State
	OpenUntil time.Time
	gen       uint64    // the breaker's generation when admitted
	at        time.Time // the probe slot's admission time
}

// Admit is Allow, returning the Admission that Release takes.
func (b *Breaker) Admit(now time.Time, u float64) Admission {
	now = b.now(now)
	b.mu.Lock()
	return b.admitLocked(now, u)
}

// AdmitBehind is Admit for a target planned behind another, where a probe
// would rarely be sent but would hold the slot: a HalfOpen breaker is left
// untouched (no probe slot taken, no transition applied) and the Admission
// is a Reject in HalfOpen.
func (b *Breaker) AdmitBehind(now time.Time, u float64) Admission {
	now = b.now(now)
	b.mu.Lock()
	view := b.c // as Snapshot: a copy that emits nothing
	view.events = nil
	if view.advance(now); view.state == HalfOpen {
		b.mu.Unlock()
		return Admission{Decision: Reject, State: HalfOpen, OpenUntil: view.openUntil, at: now}
	}
	return b.admitLocked(now, u)
}

// admitLocked decides at now with b.mu held, and releases it.
func (b *Breaker) admitLocked(now time.Time, u float64) Admission {
	d := b.c.allow(now, u)
	a := Admission{Decision: d, State: b.c.state, OpenUntil: b.c.openUntil, gen: b.c.gen, at: now}
	b.unlockAndNotify()
	return a
}

// Release gives back the probe slot of an Admission that will not be used
// (the request will never reach the target), so the next request can probe
// at once instead of after ProbeTimeout. It does nothing unless a is a Probe
// admitted in the breaker's current generation whose slot is still held: a
// slot already freed by an outcome or ProbeTimeout, or one from an earlier
// half-open phase, is left alone.
func (b *Breaker) Release(now time.Time, a Admission) {
	if a.Decision != Probe {
		return
	}
	now = b.now(now)
	b.mu.Lock()
	b.c.release(now, a)
	b.unlockAndNotify()
}

// Record records the outcome of an attempt on the target at now (a zero now
// means Settings.Clock). See Breaker for how late outcomes are treated.
func (b *Breaker) Record(now time.Time, o Outcome) {
	now = b.now(now)
	b.mu.Lock()
	b.c.record(now, o)
	b.unlockAndNotify()
	if b.s.OnOutcome != nil {
		b.s.OnOutcome(b.name, now, o)
	}
}

// Snapshot returns a view of the breaker at now (a zero now means
// Settings.Clock), with the lazy transitions (open->half-open, expired probe
// slots, a due recovery stage) applied to the view only.
func (b *Breaker) Snapshot(now time.Time) Snapshot {
	now = b.now(now)
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.c // the view works on a copy and emits nothing
	c.events = nil
	c.advance(now)
	return c.snapshot(now)
}

// unlockAndNotify releases b.mu, then delivers queued transitions to
// OnStateChange, in order and one at a time. If another goroutine is already
// delivering (or this is a re-entrant call from the callback), it leaves the
// new transitions to that goroutine and returns.
func (b *Breaker) unlockAndNotify() {
	if b.draining || b.qhead == len(b.queue) {
		b.mu.Unlock()
		return
	}
	b.draining = true
	done := false
	defer func() {
		if !done { // OnStateChange panicked; let the next caller deliver the rest
			b.mu.Lock()
			b.draining = false
			b.mu.Unlock()
		}
	}()
	for b.qhead < len(b.queue) {
		t := b.queue[b.qhead]
		b.qhead++
		b.mu.Unlock()
		b.s.OnStateChange(t)
		b.mu.Lock()
	}
	b.queue, b.qhead = b.queue[:0], 0
	b.draining = false
	done = true
	b.mu.Unlock()
}
