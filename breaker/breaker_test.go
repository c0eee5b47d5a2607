package breaker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// deadlockTimeout bounds tests that would hang on a deadlock.
const deadlockTimeout = 10 * time.Second

// fakeClock is a settable Clock; tests never sleep.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

var _ Clock = (*fakeClock)(nil)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// fixedRand returns a Settings.Rand that always returns u.
func fixedRand(u float64) func() float64 { return func() float64 { return u } }

// openAt opens a Closed breaker with consecutive failures at now.
func openAt(t *testing.T, b *Breaker, now time.Time) {
	t.Helper()
	for i := 0; i < b.s.ConsecutiveFailures; i++ {
		b.Record(now, Outcome{Kind: Failure})
	}
	if got := b.Snapshot(now).State; got != Open {
		t.Fatalf("after %d failures: state = %v, want open", b.s.ConsecutiveFailures, got)
	}
}

// recoverAt moves an Open breaker whose cooldown ended by now to Recovering.
func recoverAt(t *testing.T, b *Breaker, now time.Time) {
	t.Helper()
	if got := b.Allow(now, 0); got != Probe {
		t.Fatalf("Allow at %v = %v, want probe", now.Sub(t0), got)
	}
	b.Record(now, Outcome{Kind: Success})
	if got := b.Snapshot(now).State; got != Recovering {
		t.Fatalf("after probe success: state = %v, want recovering", got)
	}
}

// cooldownOf returns how long the breaker stays open, seen at now.
func cooldownOf(b *Breaker, now time.Time) time.Duration {
	return b.Snapshot(now).OpenUntil.Sub(now)
}

// TestEnums_String verifies the names of every enum value, unknown ones included.
func TestEnums_String(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Closed.String(), "closed"},
		{Open.String(), "open"},
		{HalfOpen.String(), "half-open"},
		{Recovering.String(), "recovering"},
		{State(9).String(), "state(9)"},
		{Success.String(), "success"},
		{QualityFailure.String(), "quality-failure"},
		{Failure.String(), "failure"},
		{RateLimited.String(), "rate-limited"},
		{AuthFailure.String(), "auth-failure"},
		{QuotaExhausted.String(), "quota-exhausted"},
		{Neutral.String(), "neutral"},
		{Kind(42).String(), "kind(42)"},
		{Reject.String(), "reject"},
		{Allow.String(), "allow"},
		{Probe.String(), "probe"},
		{Decision(7).String(), "decision(7)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

// TestBreaker_ClosedCounting verifies which outcome sequences open a Closed breaker.
func TestBreaker_ClosedCounting(t *testing.T) {
	S, F, N := Outcome{Kind: Success}, Outcome{Kind: Failure}, Outcome{Kind: Neutral}
	RL := Outcome{Kind: RateLimited}
	tests := []struct {
		name     string
		outcomes []Outcome
		want     State
		wantCF   int
	}{
		{"third consecutive failure opens", []Outcome{F, F, F}, Open, 0},
		{"two failures stay closed", []Outcome{F, F}, Closed, 2},
		{"success resets the count", []Outcome{F, F, S, F, F}, Closed, 2},
		{"single 503 between successes", []Outcome{S, F, S, F, S, F, S}, Closed, 0},
		{"neutral neither counts nor resets", []Outcome{F, N, F, N, F}, Open, 0},
		{"neutral alone changes nothing", []Outcome{N, N, N, N}, Closed, 0},
		{"429 without hint counts as failure", []Outcome{RL, F, RL}, Open, 0},
		{"unknown kind is ignored", []Outcome{F, F, {Kind: Kind(99)}}, Closed, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("t", Settings{})
			for _, o := range tt.outcomes {
				b.Record(t0, o)
			}
			sn := b.Snapshot(t0)
			if sn.State != tt.want || sn.ConsecutiveFailures != tt.wantCF {
				t.Errorf("state, consecutive = %v, %d; want %v, %d", sn.State, sn.ConsecutiveFailures, tt.want, tt.wantCF)
			}
			if tt.want == Open {
				if got := cooldownOf(b, t0); got != DefaultOpenFor {
					t.Errorf("cooldown = %v, want %v", got, DefaultOpenFor)
				}
			}
		})
	}
}

// TestBreaker_ImmediateOpens verifies the outcomes that open a Closed breaker at once, and for how long.
func TestBreaker_ImmediateOpens(t *testing.T) {
	tests := []struct {
		name       string
		o          Outcome
		wantFor    time.Duration
		wantReason string
	}{
		{"retry-after shorter than OpenFor", Outcome{Kind: RateLimited, RetryAfter: 5 * time.Second}, 30 * time.Second, ReasonRetryAfter},
		{"retry-after longer than OpenFor", Outcome{Kind: RateLimited, RetryAfter: 2 * time.Minute}, 2 * time.Minute, ReasonRetryAfter},
		{"retry-after above MaxOpenFor", Outcome{Kind: RateLimited, RetryAfter: 20 * time.Minute}, 20 * time.Minute, ReasonRetryAfter},
		{"auth failure", Outcome{Kind: AuthFailure}, 10 * time.Minute, ReasonAuthFailure},
		{"quota exhausted", Outcome{Kind: QuotaExhausted}, time.Hour, ReasonQuotaExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Transition
			b := New("t", Settings{OnStateChange: func(tr Transition) { got = append(got, tr) }})
			b.Record(t0, tt.o)
			if cd := cooldownOf(b, t0); cd != tt.wantFor {
				t.Errorf("cooldown = %v, want %v", cd, tt.wantFor)
			}
			if len(got) != 1 || got[0].Reason != tt.wantReason || got[0].Until != at(tt.wantFor) {
				t.Errorf("transitions = %+v, want one with reason %q until %v", got, tt.wantReason, at(tt.wantFor))
			}
		})
	}
}

// TestBreaker_OpenBecomesHalfOpenLazily verifies Open rejects until the cooldown ends and then admits a probe.
func TestBreaker_OpenBecomesHalfOpenLazily(t *testing.T) {
	b := New("t", Settings{})
	openAt(t, b, t0)
	if got := b.Allow(at(30*time.Second-time.Nanosecond), 0); got != Reject {
		t.Errorf("Allow just before the cooldown ends = %v, want reject", got)
	}
	if got := b.Snapshot(at(30 * time.Second)).State; got != HalfOpen {
		t.Errorf("Snapshot at the cooldown's end: state = %v, want half-open", got)
	}
	if got := b.Allow(at(30*time.Second), 0.99); got != Probe {
		t.Errorf("Allow at the cooldown's end = %v, want probe", got)
	}
	if got := b.Snapshot(at(30 * time.Second)); got.State != HalfOpen || got.ProbesInFlight != 1 || got.Share != 0 {
		t.Errorf("snapshot = %+v, want half-open, 1 probe, share 0", got)
	}
}

// TestBreaker_SnapshotIsReadOnly verifies Snapshot applies lazy transitions to its view only.
func TestBreaker_SnapshotIsReadOnly(t *testing.T) {
	b := New("t", Settings{})
	openAt(t, b, t0)
	gen := b.Snapshot(t0).Generation
	if got := b.Snapshot(at(time.Hour)).State; got != HalfOpen {
		t.Fatalf("view after the cooldown: state = %v, want half-open", got)
	}
	if got := b.Snapshot(at(time.Second)); got.State != Open || got.Generation != gen {
		t.Errorf("view before the cooldown: state, generation = %v, %d; want open, %d", got.State, got.Generation, gen)
	}
}

// TestBreaker_HalfOpenProbeSlots verifies the probe limit and that every outcome kind frees a slot.
func TestBreaker_HalfOpenProbeSlots(t *testing.T) {
	b := New("t", Settings{HalfOpenProbes: 2})
	openAt(t, b, t0)
	now := at(30 * time.Second)
	want := []Decision{Probe, Probe, Reject, Reject}
	for i, w := range want {
		if got := b.Allow(now, 0); got != w {
			t.Errorf("Allow #%d = %v, want %v", i, got, w)
		}
	}
	b.Record(now, Outcome{Kind: Neutral})
	if got := b.Snapshot(now); got.State != HalfOpen || got.ProbesInFlight != 1 {
		t.Errorf("after neutral: state, probes = %v, %d; want half-open, 1", got.State, got.ProbesInFlight)
	}
	if got := b.Allow(now, 0); got != Probe {
		t.Errorf("Allow after neutral freed a slot = %v, want probe", got)
	}
}

// TestBreaker_ProbeTimeoutFreesSlot verifies a probe with no outcome frees its slot after ProbeTimeout, and its late outcome is ignored.
func TestBreaker_ProbeTimeoutFreesSlot(t *testing.T) {
	b := New("t", Settings{ProbeTimeout: 20 * time.Second})
	openAt(t, b, t0)
	start := at(30 * time.Second)
	if got := b.Allow(start, 0); got != Probe {
		t.Fatalf("first Allow = %v, want probe", got)
	}
	if got := b.Allow(start.Add(20*time.Second-1), 0); got != Reject {
		t.Errorf("Allow before ProbeTimeout = %v, want reject", got)
	}
	if got := b.Snapshot(start.Add(20 * time.Second)).ProbesInFlight; got != 0 {
		t.Errorf("view at ProbeTimeout: probes = %d, want 0", got)
	}
	// The timed-out probe's failure arrives late: not a probe's outcome any more.
	b.Record(start.Add(25*time.Second), Outcome{Kind: Failure})
	if got := b.Snapshot(start.Add(25 * time.Second)); got.State != HalfOpen || got.Opens != 0 {
		t.Errorf("after late failure: state, opens = %v, %d; want half-open, 0", got.State, got.Opens)
	}
	if got := b.Allow(start.Add(25*time.Second), 0); got != Probe {
		t.Errorf("Allow after the slot was freed = %v, want probe", got)
	}
}

// TestBreaker_ReleaseGivesBackAnUnusedProbeSlot verifies that a probe slot
// released by the plan that took it (the request will never reach the
// target) is free at once, that only that slot is freed, and that releasing
// a non-probe, a slot already freed, or a slot of an earlier half-open phase
// changes nothing.
func TestBreaker_ReleaseGivesBackAnUnusedProbeSlot(t *testing.T) {
	b := New("t", Settings{HalfOpenProbes: 2})
	openAt(t, b, t0)
	now := at(30 * time.Second)
	first := b.Admit(now, 0)
	second := b.Admit(now.Add(time.Millisecond), 0)
	if first.Decision != Probe || second.Decision != Probe || b.Allow(now, 0) != Reject {
		t.Fatalf("admissions: got %v, %v, want two probes then a reject", first.Decision, second.Decision)
	}
	b.Release(now, first)
	if got := b.Snapshot(now).ProbesInFlight; got != 1 {
		t.Fatalf("after releasing one: probes = %d, want 1", got)
	}
	b.Release(now, first) // already given back
	if got := b.Snapshot(now).ProbesInFlight; got != 1 {
		t.Fatalf("after releasing it twice: probes = %d, want 1", got)
	}
	if got := b.Allow(now, 0); got != Probe {
		t.Fatalf("Allow after the release = %v, want probe", got)
	}
	// The second probe's outcome reopens; its generation's slots are gone.
	b.Record(now, Outcome{Kind: Failure})
	b.Release(now, second)
	if got := b.Snapshot(now); got.State != Open || got.ProbesInFlight != 0 {
		t.Fatalf("release after the breaker moved on: state, probes = %v, %d; want open, 0", got.State, got.ProbesInFlight)
	}
	closed := New("c", Settings{})
	a := closed.Admit(t0, 0)
	closed.Release(t0, a) // an Allow, not a probe
	if got := closed.Snapshot(t0); got.State != Closed || got.Generation != 0 {
		t.Fatalf("release of an Allow: got %v gen %d, want closed gen 0", got.State, got.Generation)
	}
}

// TestBreaker_HalfOpenSuccessRecovers verifies a probe's success moves to Recovering stage 0.
func TestBreaker_HalfOpenSuccessRecovers(t *testing.T) {
	b := New("t", Settings{})
	openAt(t, b, t0)
	recoverAt(t, b, at(30*time.Second))
	if got := b.Snapshot(at(30 * time.Second)); got.Stage != 0 || got.Share != 0.1 || got.ProbesInFlight != 0 {
		t.Errorf("snapshot = %+v, want stage 0, share 0.1, no probes", got)
	}
}

// TestBreaker_HalfOpenFailureReopens verifies a probe's failure re-opens with the grown cooldown or the kind's own longer duration.
func TestBreaker_HalfOpenFailureReopens(t *testing.T) {
	tests := []struct {
		name    string
		o       Outcome
		wantFor time.Duration
	}{
		{"failure", Outcome{Kind: Failure}, time.Minute},
		{"429 without hint", Outcome{Kind: RateLimited}, time.Minute},
		{"429 with short hint", Outcome{Kind: RateLimited, RetryAfter: 10 * time.Second}, time.Minute},
		{"429 with long hint", Outcome{Kind: RateLimited, RetryAfter: 90 * time.Second}, 90 * time.Second},
		{"auth failure", Outcome{Kind: AuthFailure}, 10 * time.Minute},
		{"quota exhausted", Outcome{Kind: QuotaExhausted}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("t", Settings{})
			openAt(t, b, t0)
			now := at(30 * time.Second)
			if got := b.Allow(now, 0); got != Probe {
				t.Fatalf("Allow = %v, want probe", got)
			}
			b.Record(now, tt.o)
			sn := b.Snapshot(now)
			if sn.State != Open || sn.Opens != 1 {
				t.Errorf("state, opens = %v, %d; want open, 1", sn.State, sn.Opens)
			}
			if got := sn.OpenUntil.Sub(now); got != tt.wantFor {
				t.Errorf("cooldown = %v, want %v", got, tt.wantFor)
			}
		})
	}
}

// TestBreaker_GrowingCooldownCapped verifies the cooldown doubles on each re-open up to MaxOpenFor.
func TestBreaker_GrowingCooldownCapped(t *testing.T) {
	b := New("t", Settings{})
	now := t0
	openAt(t, b, now)
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := cooldownOf(b, now); got != w {
			t.Errorf("open #%d: cooldown = %v, want %v", i, got, w)
		}
		now = now.Add(w)
		if got := b.Allow(now, 0); got != Probe {
			t.Fatalf("open #%d: Allow after cooldown = %v, want probe", i, got)
		}
		b.Record(now, Outcome{Kind: Failure})
	}
}

// TestBreaker_CooldownMultiplier verifies a custom multiplier and cap.
func TestBreaker_CooldownMultiplier(t *testing.T) {
	b := New("t", Settings{OpenFor: 10 * time.Second, CooldownMultiplier: 3, MaxOpenFor: time.Minute})
	now := t0
	openAt(t, b, now)
	for i, w := range []time.Duration{10 * time.Second, 30 * time.Second, 60 * time.Second, 60 * time.Second} {
		if got := cooldownOf(b, now); got != w {
			t.Errorf("open #%d: cooldown = %v, want %v", i, got, w)
		}
		now = now.Add(w)
		b.Allow(now, 0)
		b.Record(now, Outcome{Kind: Failure})
	}
}

// TestBreaker_JitterBounds verifies the jitter formula at its extremes and that it never shortens a Retry-After.
func TestBreaker_JitterBounds(t *testing.T) {
	tests := []struct {
		name    string
		jitter  float64
		u       float64
		o       Outcome
		wantFor time.Duration
	}{
		{"u=0 shortens by Jitter", 0.1, 0, Outcome{Kind: Failure}, 27 * time.Second},
		{"u=0.5 is neutral", 0.1, 0.5, Outcome{Kind: Failure}, 30 * time.Second},
		{"u=0.75 lengthens by Jitter/2", 0.1, 0.75, Outcome{Kind: Failure}, 31500 * time.Millisecond},
		{"zero jitter ignores u", 0, 0, Outcome{Kind: Failure}, 30 * time.Second},
		{"auth jittered", 0.1, 0, Outcome{Kind: AuthFailure}, 9 * time.Minute},
		{"retry-after never shortened", 0.5, 0, Outcome{Kind: RateLimited, RetryAfter: 100 * time.Second}, 100 * time.Second},
		{"retry-after may be lengthened", 0.5, 0.75, Outcome{Kind: RateLimited, RetryAfter: 100 * time.Second}, 125 * time.Second},
		{"Rand out of range is clamped", 0.1, 7, Outcome{Kind: Failure}, 33 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("t", Settings{Jitter: tt.jitter, Rand: fixedRand(tt.u), ConsecutiveFailures: 1})
			b.Record(t0, tt.o)
			if got := cooldownOf(b, t0); got != tt.wantFor {
				t.Errorf("cooldown = %v, want %v", got, tt.wantFor)
			}
		})
	}
	// With the default random source every cooldown stays within ±Jitter.
	t.Run("random within bounds", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			b := New("t", Settings{Jitter: 0.1, ConsecutiveFailures: 1})
			b.Record(t0, Outcome{Kind: Failure})
			if got := cooldownOf(b, t0); got < 27*time.Second || got > 33*time.Second {
				t.Fatalf("cooldown = %v, want within [27s, 33s]", got)
			}
		}
	})
}

// TestBreaker_RecoveryStages verifies share admission per stage, stage advance, and closing after the last stage.
func TestBreaker_RecoveryStages(t *testing.T) {
	b := New("t", Settings{})
	openAt(t, b, t0)
	start := at(30 * time.Second)
	recoverAt(t, b, start)

	type step struct {
		after     time.Duration // since start
		u         float64
		want      Decision
		wantStage int
		wantState State
	}
	steps := []step{
		{0, 0.05, Allow, 0, Recovering},
		{0, 0.1, Reject, 0, Recovering},
		{10 * time.Second, 0.05, Allow, 0, Recovering}, // no success in stage 0 yet (the probe's does not count): stays
	}
	for i, s := range steps {
		now := start.Add(s.after)
		got := b.Allow(now, s.u)
		sn := b.Snapshot(now)
		if got != s.want || sn.Stage != s.wantStage || sn.State != s.wantState {
			t.Errorf("step %d: Allow(+%v, %v) = %v, stage %d, state %v; want %v, %d, %v",
				i, s.after, s.u, got, sn.Stage, sn.State, s.want, s.wantStage, s.wantState)
		}
	}
	b.Record(start.Add(11*time.Second), Outcome{Kind: Success}) // stage 0 lasted 10s: advances now
	steps = []step{
		{15 * time.Second, 0.49, Allow, 1, Recovering},
		{15 * time.Second, 0.5, Reject, 1, Recovering},
		{25 * time.Second, 0.6, Reject, 1, Recovering}, // no success in stage 1 yet: stays
	}
	for i, s := range steps {
		now := start.Add(s.after)
		got := b.Allow(now, s.u)
		sn := b.Snapshot(now)
		if got != s.want || sn.Stage != s.wantStage || sn.State != s.wantState {
			t.Errorf("step %d: Allow(+%v, %v) = %v, stage %d, state %v; want %v, %d, %v",
				i, s.after, s.u, got, sn.Stage, sn.State, s.want, s.wantStage, s.wantState)
		}
	}
	// A success once the stage lasted long enough advances at once.
	b.Record(start.Add(25*time.Second), Outcome{Kind: Success})
	if sn := b.Snapshot(start.Add(25 * time.Second)); sn.Stage != 2 || sn.Share != 1 {
		t.Fatalf("after success: stage, share = %d, %v; want 2, 1", sn.Stage, sn.Share)
	}
	if got := b.Allow(start.Add(26*time.Second), 0.999); got != Allow {
		t.Errorf("Allow in last stage = %v, want allow", got)
	}
	b.Record(start.Add(26*time.Second), Outcome{Kind: Success})
	if sn := b.Snapshot(start.Add(35*time.Second - 1)); sn.State != Recovering {
		t.Errorf("before last stage ends: state = %v, want recovering", sn.State)
	}
	sn := b.Snapshot(start.Add(35 * time.Second))
	if sn.State != Closed || sn.Share != 1 || sn.Opens != 0 {
		t.Errorf("after last stage: state, share, opens = %v, %v, %d; want closed, 1, 0", sn.State, sn.Share, sn.Opens)
	}
}

// TestBreaker_RecoveringFailureReopens verifies any failure while Recovering re-opens with the grown cooldown.
func TestBreaker_RecoveringFailureReopens(t *testing.T) {
	for _, k := range []Kind{Failure, RateLimited, AuthFailure, QuotaExhausted} {
		t.Run(k.String(), func(t *testing.T) {
			b := New("t", Settings{AuthOpenFor: time.Second, QuotaOpenFor: time.Second})
			openAt(t, b, t0)
			now := at(30 * time.Second)
			recoverAt(t, b, now)
			b.Record(now, Outcome{Kind: Neutral})
			if got := b.Snapshot(now).State; got != Recovering {
				t.Fatalf("after neutral: state = %v, want recovering", got)
			}
			b.Record(now, Outcome{Kind: k})
			sn := b.Snapshot(now)
			if sn.State != Open || sn.Opens != 1 || sn.OpenUntil.Sub(now) != time.Minute {
				t.Errorf("state, opens, cooldown = %v, %d, %v; want open, 1, 1m", sn.State, sn.Opens, sn.OpenUntil.Sub(now))
			}
		})
	}
}

// TestBreaker_ClosingResetsOpens verifies the cooldown starts over after a full recovery.
func TestBreaker_ClosingResetsOpens(t *testing.T) {
	b := New("t", Settings{RecoveryStages: []float64{1}, RecoveryStageDuration: time.Second})
	openAt(t, b, t0)
	now := at(30 * time.Second)
	b.Allow(now, 0)
	b.Record(now, Outcome{Kind: Failure}) // re-open: 1m
	now = now.Add(time.Minute)
	recoverAt(t, b, now)
	b.Record(now, Outcome{Kind: Success}) // the stage's own success
	now = now.Add(time.Second)
	if got := b.Allow(now, 0); got != Allow {
		t.Fatalf("Allow = %v, want allow", got)
	}
	if sn := b.Snapshot(now); sn.State != Closed || sn.Opens != 0 {
		t.Fatalf("state, opens = %v, %d; want closed, 0", sn.State, sn.Opens)
	}
	openAt(t, b, now)
	if got := cooldownOf(b, now); got != 30*time.Second {
		t.Errorf("cooldown after closing = %v, want 30s", got)
	}
}

// TestBreaker_LateOutcomes verifies outcomes arriving while Open, or in HalfOpen with no probe, do not corrupt the state.
func TestBreaker_LateOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		halfOpen  bool // record after the cooldown, with no probe admitted
		o         Outcome
		wantState State
		wantUntil time.Duration // since t0; open only
	}{
		{"open: failure ignored", false, Outcome{Kind: Failure}, Open, 30 * time.Second},
		{"open: success ignored", false, Outcome{Kind: Success}, Open, 30 * time.Second},
		{"open: short retry-after keeps cooldown", false, Outcome{Kind: RateLimited, RetryAfter: time.Second}, Open, 30 * time.Second},
		{"open: long retry-after extends", false, Outcome{Kind: RateLimited, RetryAfter: time.Minute}, Open, 10*time.Second + time.Minute},
		{"open: auth extends", false, Outcome{Kind: AuthFailure}, Open, 10*time.Second + 10*time.Minute},
		{"open: quota extends", false, Outcome{Kind: QuotaExhausted}, Open, 10*time.Second + time.Hour},
		{"half-open: failure ignored", true, Outcome{Kind: Failure}, HalfOpen, 0},
		{"half-open: success ignored", true, Outcome{Kind: Success}, HalfOpen, 0},
		{"half-open: auth ignored", true, Outcome{Kind: AuthFailure}, HalfOpen, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("t", Settings{})
			openAt(t, b, t0)
			now := at(10 * time.Second)
			if tt.halfOpen {
				now = at(40 * time.Second)
			}
			b.Record(now, tt.o)
			sn := b.Snapshot(now)
			if sn.State != tt.wantState || sn.Opens != 0 || sn.ConsecutiveFailures != 0 {
				t.Errorf("state, opens, consecutive = %v, %d, %d; want %v, 0, 0", sn.State, sn.Opens, sn.ConsecutiveFailures, tt.wantState)
			}
			if tt.wantState == Open && sn.OpenUntil != at(tt.wantUntil) {
				t.Errorf("open until +%v, want +%v", sn.OpenUntil.Sub(t0), tt.wantUntil)
			}
		})
	}
}

// TestBreaker_ErrorRate verifies the error-rate trigger and the expiry of old outcomes from its window.
func TestBreaker_ErrorRate(t *testing.T) {
	S, F := Outcome{Kind: Success}, Outcome{Kind: Failure}
	type batch struct {
		after    time.Duration
		outcomes []Outcome
	}
	tests := []struct {
		name      string
		batches   []batch
		want      State
		wantTotal int // seen at the last batch
	}{
		{"ratio reached", []batch{{0, []Outcome{S, F, S, F}}}, Open, 0},
		{"ratio below threshold", []batch{{0, []Outcome{S, F, S, S, F, S}}}, Closed, 6},
		{"too few requests", []batch{{0, []Outcome{F, S, F}}}, Closed, 3},
		{"within window adds up", []batch{{0, []Outcome{F, F, S}}, {5 * time.Second, []Outcome{S, F}}}, Open, 0},
		{"expired outcomes leave", []batch{{0, []Outcome{F, F, S}}, {10 * time.Second, []Outcome{S, F}}}, Closed, 2},
		{"neutral not counted", []batch{{0, []Outcome{F, {Kind: Neutral}, {Kind: Neutral}, S, F}}}, Closed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("t", Settings{ConsecutiveFailures: 100, ErrorRate: ErrorRate{Threshold: 0.5, Window: 10 * time.Second, MinRequests: 4}})
			var now time.Time
			for _, bt := range tt.batches {
				now = at(bt.after)
				for _, o := range bt.outcomes {
					b.Record(now, o)
				}
			}
			sn := b.Snapshot(now)
			if sn.State != tt.want || sn.Requests != tt.wantTotal {
				t.Errorf("state, requests = %v, %d; want %v, %d", sn.State, sn.Requests, tt.want, tt.wantTotal)
			}
		})
	}
}

// TestWindow_Slides verifies the ring drops a bucket once it is Window old, and tolerates a clock going back.
func TestWindow_Slides(t *testing.T) {
	w := newWindow(10 * time.Second)
	w.add(at(0), true)
	w.add(at(time.Second), false)
	w.add(at(5*time.Second), true)
	w.add(at(4*time.Second), false) // clock went back: counted in the newest bucket
	tests := []struct {
		now          time.Duration
		wantT, wantF int
	}{
		{5 * time.Second, 4, 2},
		{9 * time.Second, 4, 2},
		{10 * time.Second, 3, 1},
		{11 * time.Second, 2, 1},
		{15 * time.Second, 0, 0},
	}
	for _, tt := range tests {
		if gotT, gotF := w.counts(at(tt.now)); gotT != tt.wantT || gotF != tt.wantF {
			t.Errorf("counts(+%v) = %d, %d; want %d, %d", tt.now, gotT, gotF, tt.wantT, tt.wantF)
		}
	}
}

// TestBreaker_LatencyEWMA verifies the EWMA value and the latency trigger after MinRequests samples.
func TestBreaker_LatencyEWMA(t *testing.T) {
	b := New("t", Settings{Latency: Latency{Threshold: time.Second, MinRequests: 3, Alpha: 0.5}})
	b.Record(t0, Outcome{Kind: Success, Latency: time.Second})
	b.Record(t0, Outcome{Kind: Success}) // latency unknown: not sampled
	b.Record(t0, Outcome{Kind: Failure, Latency: time.Hour})
	b.Record(t0, Outcome{Kind: Success, Latency: 3 * time.Second})
	sn := b.Snapshot(t0)
	if sn.LatencyEWMA != 2*time.Second || sn.LatencySamples != 2 || sn.State != Closed {
		t.Fatalf("ewma, samples, state = %v, %d, %v; want 2s, 2, closed", sn.LatencyEWMA, sn.LatencySamples, sn.State)
	}
	var reasons []string
	b = New("t", Settings{
		Latency:       Latency{Threshold: time.Second, MinRequests: 3, Alpha: 0.5},
		OnStateChange: func(tr Transition) { reasons = append(reasons, tr.Reason) },
	})
	b.Record(t0, Outcome{Kind: Success, Latency: 1500 * time.Millisecond})
	b.Record(t0, Outcome{Kind: Success, Latency: 1500 * time.Millisecond})
	if got := b.Snapshot(t0).State; got != Closed {
		t.Fatalf("after 2 slow samples: state = %v, want closed", got)
	}
	b.Record(t0, Outcome{Kind: Success, Latency: 1500 * time.Millisecond})
	sn = b.Snapshot(t0)
	if sn.State != Open || len(reasons) != 1 || reasons[0] != ReasonLatency {
		t.Errorf("after 3 slow samples: state, reasons = %v, %q; want open, [%q]", sn.State, reasons, ReasonLatency)
	}
	if sn.LatencySamples != 0 {
		t.Errorf("samples after opening = %d, want 0 (reset)", sn.LatencySamples)
	}
}

// TestBreaker_LatencyTripsRecovering verifies the latency trigger also re-opens a Recovering breaker.
func TestBreaker_LatencyTripsRecovering(t *testing.T) {
	b := New("t", Settings{Latency: Latency{Threshold: time.Second, MinRequests: 2}})
	openAt(t, b, t0)
	now := at(30 * time.Second)
	b.Allow(now, 0)
	b.Record(now, Outcome{Kind: Success, Latency: 5 * time.Second})
	b.Record(now, Outcome{Kind: Success, Latency: 5 * time.Second})
	if sn := b.Snapshot(now); sn.State != Open || sn.Opens != 1 {
		t.Errorf("state, opens = %v, %d; want open, 1", sn.State, sn.Opens)
	}
}

// TestBreaker_Transitions verifies every transition of a full cycle is reported once, in order, with its details.
func TestBreaker_Transitions(t *testing.T) {
	var got []Transition
	b := New("openai/gpt-4o", Settings{
		RecoveryStages:        []float64{0.5, 1},
		RecoveryStageDuration: time.Second,
		OnStateChange:         func(tr Transition) { got = append(got, tr) },
	})
	openAt(t, b, t0)                                // closed -> open
	b.Allow(at(30*time.Second), 0)                  // open -> half-open
	b.Record(at(30*time.Second), Outcome{})         // half-open -> recovering 0
	b.Record(at(30500*time.Millisecond), Outcome{}) // success in stage 0
	b.Allow(at(31*time.Second), 0)                  // recovering 0 -> 1
	b.Record(at(31*time.Second), Outcome{})         // success in stage 1
	b.Snapshot(at(40 * time.Second))                // a view reports nothing
	b.Allow(at(32*time.Second), 0)                  // recovering 1 -> closed
	want := []Transition{
		{From: Closed, To: Open, At: t0, Reason: ReasonConsecutiveFailures, Until: at(30 * time.Second),
			Opening: Opening{At: t0, Until: at(30 * time.Second), Reason: ReasonConsecutiveFailures, Failures: 3, Last: Outcome{Kind: Failure}}},
		{From: Open, To: HalfOpen, At: at(30 * time.Second), Reason: ReasonCooldownElapsed},
		{From: HalfOpen, To: Recovering, At: at(30 * time.Second), Reason: ReasonProbeSucceeded, Stage: 0},
		{From: Recovering, To: Recovering, At: at(31 * time.Second), Reason: ReasonStageCompleted, Stage: 1},
		{From: Recovering, To: Closed, At: at(32 * time.Second), Reason: ReasonRecovered},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d transitions %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		want[i].Name = "openai/gpt-4o"
		if got[i] != want[i] {
			t.Errorf("transition %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestBreaker_CallbackOutsideLock verifies OnStateChange may call Snapshot, Allow and Record without deadlocking, and re-entrant transitions are still delivered in order.
func TestBreaker_CallbackOutsideLock(t *testing.T) {
	var b *Breaker
	var got []string
	b = New("t", Settings{ConsecutiveFailures: 1, OnStateChange: func(tr Transition) {
		got = append(got, tr.From.String()+"->"+tr.To.String())
		if sn := b.Snapshot(tr.At); sn.State != tr.To && tr.To == Open {
			t.Errorf("Snapshot in callback: state = %v, want %v", sn.State, tr.To)
		}
		switch {
		case tr.To == Open && tr.From == Closed:
			if d := b.Allow(tr.At, 0); d != Reject {
				t.Errorf("Allow in callback = %v, want reject", d)
			}
		case tr.To == HalfOpen:
			// Re-entrant: the probe admitted by the outer Allow fails, re-opening the breaker.
			b.Record(tr.At, Outcome{Kind: Failure})
		}
	}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Record(t0, Outcome{Kind: Failure})
		b.Allow(at(30*time.Second), 0)
	}()
	select {
	case <-done:
	case <-time.After(deadlockTimeout):
		t.Fatalf("deadlock: callbacks did not return within %v", deadlockTimeout)
	}
	want := []string{"closed->open", "open->half-open", "half-open->open"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transitions = %v, want %v", got, want)
	}
}

// TestBreaker_CallbackPanicDoesNotWedge verifies a panicking OnStateChange does not stop later deliveries.
func TestBreaker_CallbackPanicDoesNotWedge(t *testing.T) {
	calls := 0
	b := New("t", Settings{ConsecutiveFailures: 1, OnStateChange: func(tr Transition) {
		calls++
		if calls == 1 {
			panic("boom")
		}
	}})
	func() {
		defer func() { _ = recover() }()
		b.Record(t0, Outcome{Kind: Failure})
	}()
	b.Allow(at(time.Hour), 0)
	if calls != 2 {
		t.Errorf("callback calls = %d, want 2", calls)
	}
}

// TestBreaker_Concurrent hammers every method from many goroutines (run with -race) and checks transitions arrive as an unbroken chain.
func TestBreaker_Concurrent(t *testing.T) {
	clock := &fakeClock{t: t0}
	var (
		mu    sync.Mutex
		last  = Closed
		count int
		bad   []string
	)
	var b *Breaker
	b = New("t", Settings{
		ConsecutiveFailures: 2, OpenFor: time.Millisecond, MaxOpenFor: 4 * time.Millisecond,
		RecoveryStageDuration: time.Millisecond, HalfOpenProbes: 3, Jitter: 0.1,
		ErrorRate: ErrorRate{Threshold: 0.9, Window: time.Second, MinRequests: 5},
		Latency:   Latency{Threshold: 900 * time.Microsecond},
		Clock:     clock,
		OnStateChange: func(tr Transition) {
			_ = b.Snapshot(tr.At)
			mu.Lock()
			defer mu.Unlock()
			if tr.From != last {
				bad = append(bad, fmt.Sprintf("transition %d from %v, previous went to %v", count, tr.From, last))
			}
			last = tr.To
			count++
		},
	})
	var wg sync.WaitGroup
	const goroutines, iterations = 16, 2000
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < iterations; i++ {
				now := t0.Add(time.Duration(i) * 50 * time.Microsecond)
				switch d := b.Allow(now, r.Float64()); d {
				case Allow, Probe:
					b.Record(now, Outcome{Kind: Kind(r.IntN(6)), Latency: time.Duration(r.IntN(1000)) * time.Microsecond, RetryAfter: time.Duration(r.IntN(2)) * time.Millisecond})
				}
				if i%16 == 0 {
					_ = b.Snapshot(now)
					_ = b.Snapshot(time.Time{}) // the clock
				}
			}
		}(uint64(g))
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("transitions out of order (%d of %d): %v", len(bad), count, bad[:min(len(bad), 5)])
	}
	if count == 0 {
		t.Errorf("no transitions happened; the test exercises nothing")
	}
	if sn := b.Snapshot(at(time.Hour)); sn.ProbesInFlight > 3 {
		t.Errorf("probes in flight = %d, want <= 3", sn.ProbesInFlight)
	}
}

// TestBreaker_AllowRecordDoNotAllocate verifies Allow and Record allocate nothing, through every transition.
func TestBreaker_AllowRecordDoNotAllocate(t *testing.T) {
	n := 0
	b := New("t", Settings{
		ConsecutiveFailures: 1, OpenFor: time.Second, RecoveryStages: []float64{0.5, 1}, RecoveryStageDuration: time.Second,
		Jitter:        0.1,
		ErrorRate:     ErrorRate{Threshold: 0.9, Window: time.Minute, MinRequests: 100},
		Latency:       Latency{Threshold: time.Hour},
		OnStateChange: func(Transition) { n++ },
	})
	now := t0
	allocs := testing.AllocsPerRun(200, func() {
		b.Record(now, Outcome{Kind: Failure}) // closed -> open
		now = now.Add(time.Second)
		b.Allow(now, 0)                                             // -> half-open, probe
		b.Record(now, Outcome{Kind: Success, Latency: time.Second}) // -> recovering
		now = now.Add(time.Second)
		b.Allow(now, 0)                       // -> stage 1
		b.Record(now, Outcome{Kind: Success}) //
		now = now.Add(time.Second)
		b.Allow(now, 0.9) // -> closed
		b.Record(now, Outcome{Kind: Neutral})
	})
	if allocs != 0 {
		t.Errorf("allocs per cycle = %v, want 0", allocs)
	}
	if n == 0 {
		t.Errorf("no transitions reported; the test exercises nothing")
	}
}

// TestBreaker_ZeroTimeUsesClock verifies a zero now reads Settings.Clock.
func TestBreaker_ZeroTimeUsesClock(t *testing.T) {
	clock := &fakeClock{t: t0}
	b := New("t", Settings{Clock: clock, ConsecutiveFailures: 1})
	b.Record(time.Time{}, Outcome{Kind: Failure})
	if got := b.Snapshot(time.Time{}).OpenUntil; got != at(30*time.Second) {
		t.Errorf("open until %v, want %v", got, at(30*time.Second))
	}
	clock.t = at(30 * time.Second)
	if got := b.Allow(time.Time{}, 0); got != Probe {
		t.Errorf("Allow after the clock moved = %v, want probe", got)
	}
	if got := New("wall", Settings{}).Snapshot(time.Time{}).Since; !got.IsZero() {
		t.Errorf("new breaker Since = %v, want zero", got)
	}
}

// TestSettings_Defaults verifies New applies every documented default and copies RecoveryStages.
func TestSettings_Defaults(t *testing.T) {
	stages := []float64{0.2, 1}
	b := New("t", Settings{RecoveryStages: stages})
	stages[0] = 0.9
	s := b.s
	checks := []struct {
		name      string
		got, want any
	}{
		{"ConsecutiveFailures", s.ConsecutiveFailures, 3},
		{"OpenFor", s.OpenFor, 30 * time.Second},
		{"MaxOpenFor", s.MaxOpenFor, 5 * time.Minute},
		{"CooldownMultiplier", s.CooldownMultiplier, 2.0},
		{"AuthOpenFor", s.AuthOpenFor, 10 * time.Minute},
		{"QuotaOpenFor", s.QuotaOpenFor, time.Hour},
		{"Jitter", s.Jitter, 0.0},
		{"HalfOpenProbes", s.HalfOpenProbes, 1},
		{"ProbeTimeout", s.ProbeTimeout, 60 * time.Second},
		{"RecoveryStages", fmt.Sprint(s.RecoveryStages), "[0.2 1]"},
		{"RecoveryStageDuration", s.RecoveryStageDuration, 10 * time.Second},
		{"ErrorRate", s.ErrorRate, ErrorRate{}},
		{"Latency", s.Latency, Latency{}},
		{"Rand set", s.Rand != nil, true},
		{"Clock set", s.Clock != nil, true},
		{"default stages", fmt.Sprint(New("t", Settings{}).s.RecoveryStages), "[0.1 0.5 1]"},
		{"ErrorRate defaults", New("t", Settings{ErrorRate: ErrorRate{Threshold: 0.5}}).s.ErrorRate, ErrorRate{Threshold: 0.5, Window: time.Minute, MinRequests: 20}},
		{"Latency defaults", New("t", Settings{Latency: Latency{Threshold: time.Second}}).s.Latency, Latency{Threshold: time.Second, MinRequests: 5, Alpha: 0.3}},
		{"MaxOpenFor raised to OpenFor", New("t", Settings{OpenFor: time.Hour}).s.MaxOpenFor, time.Hour},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestSettings_Validate verifies every invalid field is reported with its path, and New survives them.
func TestSettings_Validate(t *testing.T) {
	tests := []struct {
		name  string
		s     Settings
		wants []string // substrings; none = valid
	}{
		{"zero value", Settings{}, nil},
		{"typical", Settings{Jitter: 0.1, ErrorRate: ErrorRate{Threshold: 0.5, Window: time.Minute, MinRequests: 10}, Latency: Latency{Threshold: 5 * time.Second}}, nil},
		{"negatives", Settings{ConsecutiveFailures: -1, OpenFor: -1, MaxOpenFor: -1, AuthOpenFor: -1, QuotaOpenFor: -1, ProbeTimeout: -1, RecoveryStageDuration: -1, HalfOpenProbes: -1},
			[]string{"ConsecutiveFailures", "OpenFor", "MaxOpenFor", "AuthOpenFor", "QuotaOpenFor", "ProbeTimeout", "RecoveryStageDuration", "HalfOpenProbes"}},
		{"max below open", Settings{OpenFor: time.Minute, MaxOpenFor: time.Second}, []string{"MaxOpenFor: 1s is below OpenFor 1m0s"}},
		{"multiplier below 1", Settings{CooldownMultiplier: 0.5}, []string{"CooldownMultiplier"}},
		{"jitter 1", Settings{Jitter: 1}, []string{"Jitter"}},
		{"too many probes", Settings{HalfOpenProbes: MaxHalfOpenProbes + 1}, []string{"HalfOpenProbes"}},
		{"stage zero", Settings{RecoveryStages: []float64{0, 1}}, []string{"RecoveryStages: stage 0"}},
		{"stage decreasing", Settings{RecoveryStages: []float64{0.5, 0.2, 1}}, []string{"RecoveryStages: stage 1"}},
		{"last stage not 1", Settings{RecoveryStages: []float64{0.1, 0.5}}, []string{"RecoveryStages: last stage"}},
		{"error rate", Settings{ErrorRate: ErrorRate{Threshold: 1.5, Window: -1, MinRequests: -1}},
			[]string{"ErrorRate.Threshold", "ErrorRate.Window", "ErrorRate.MinRequests"}},
		{"latency", Settings{Latency: Latency{Threshold: -1, MinRequests: -1, Alpha: 2}},
			[]string{"Latency.Threshold", "Latency.MinRequests", "Latency.Alpha"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalidSettings", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			// New must not panic and must still work with the invalid settings.
			b := New("t", tt.s)
			b.Record(t0, Outcome{Kind: AuthFailure})
			if d := b.Allow(at(24*time.Hour), 0.5); d != Probe {
				t.Errorf("Allow a day after opening = %v, want probe", d)
			}
		})
	}
}

func Example() {
	b := New("anthropic/claude-sonnet", Settings{
		OnStateChange: func(t Transition) {
			fmt.Printf("%s: %v -> %v (%s)\n", t.Name, t.From, t.To, t.Reason)
		},
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Record(now, Outcome{Kind: RateLimited, RetryAfter: 45 * time.Second})
	fmt.Println(b.Allow(now.Add(44*time.Second), 0.5))
	fmt.Println(b.Allow(now.Add(45*time.Second), 0.5))
	b.Record(now.Add(46*time.Second), Outcome{Kind: Success})
	fmt.Println(b.Allow(now.Add(47*time.Second), 0.05), b.Allow(now.Add(47*time.Second), 0.5))
	// Output:
	// anthropic/claude-sonnet: closed -> open (rate limited with retry-after)
	// reject
	// anthropic/claude-sonnet: open -> half-open (cooldown elapsed)
	// probe
	// anthropic/claude-sonnet: half-open -> recovering (probe succeeded)
	// allow reject
}

// BenchmarkBreaker_AllowRecord measures the hot path: Allow then Record on a Closed breaker with every trigger on.
func BenchmarkBreaker_AllowRecord(b *testing.B) {
	br := New("t", Settings{
		ErrorRate:     ErrorRate{Threshold: 0.5, Window: time.Minute, MinRequests: 20},
		Latency:       Latency{Threshold: time.Hour},
		OnStateChange: func(Transition) {},
	})
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(time.Millisecond)
		if br.Allow(now, 0.5) != Reject {
			k := Success
			if i%10 == 0 {
				k = Failure
			}
			br.Record(now, Outcome{Kind: k, Latency: 200 * time.Millisecond})
		}
	}
}

// BenchmarkBreaker_AllowRecordParallel measures the same path under contention.
func BenchmarkBreaker_AllowRecordParallel(b *testing.B) {
	br := New("t", Settings{ErrorRate: ErrorRate{Threshold: 0.5, Window: time.Minute, MinRequests: 20}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Millisecond)
			if br.Allow(now, 0.5) != Reject {
				br.Record(now, Outcome{Kind: Success, Latency: 200 * time.Millisecond})
			}
		}
	})
}

// TestBreaker_AdmitReturnsTheStateItDecidedIn verifies an Admission names
// the state and cooldown end a Snapshot would, and that AdmitBehind leaves
// a half-open breaker's slots and transitions alone.
func TestBreaker_AdmitReturnsTheStateItDecidedIn(t *testing.T) {
	b := New("t", Settings{OpenFor: 30 * time.Second})
	if a := b.Admit(t0, 0); a.Decision != Allow || a.State != Closed {
		t.Fatalf("closed: got %v in %v, want allow in closed", a.Decision, a.State)
	}
	openAt(t, b, t0)
	want := b.Snapshot(t0).OpenUntil
	if a := b.Admit(at(time.Second), 0); a.Decision != Reject || a.State != Open || !a.OpenUntil.Equal(want) {
		t.Fatalf("open: got %v in %v until %v, want reject in open until %v", a.Decision, a.State, a.OpenUntil, want)
	}
	now := at(30 * time.Second)
	before := b.Snapshot(now)
	if a := b.AdmitBehind(now, 0); a.Decision != Reject || a.State != HalfOpen {
		t.Fatalf("half-open, AdmitBehind: got %v in %v, want reject in half-open", a.Decision, a.State)
	}
	if got := b.Snapshot(now); got != before || b.c.state != Open {
		t.Fatalf("after AdmitBehind: got %+v (state %v), want the breaker untouched", got, b.c.state)
	}
	if a := b.Admit(now, 0); a.Decision != Probe || a.State != HalfOpen {
		t.Fatalf("half-open, Admit: got %v in %v, want probe in half-open", a.Decision, a.State)
	}
	b.Record(now, Outcome{Kind: Success})
	if a := b.Admit(now, 0); a.Decision != Allow || a.State != Recovering {
		t.Fatalf("recovering: got %v in %v, want allow in recovering", a.Decision, a.State)
	}
}

// TestBreaker_OpeningKeepsWhy verifies an opened breaker says why: the
// trigger, what it counted, the tripping outcome's status and detail, and
// the cooldown; the reason outlives the cooldown (HalfOpen, Recovering) and
// is cleared only when the breaker closes.
func TestBreaker_OpeningKeepsWhy(t *testing.T) {
	fail := Outcome{Kind: Failure, Status: 503, Detail: "overloaded: 503 upstream busy"}
	tests := []struct {
		name     string
		s        Settings
		outcomes []Outcome
		want     Opening
	}{
		{"consecutive failures", Settings{}, []Outcome{fail, fail, fail},
			Opening{Reason: ReasonConsecutiveFailures, Failures: 3, Last: fail}},
		{"auth", Settings{}, []Outcome{{Kind: AuthFailure, Status: 401, Detail: "auth: invalid key"}},
			Opening{Reason: ReasonAuthFailure, Failures: 1, Last: Outcome{Kind: AuthFailure, Status: 401, Detail: "auth: invalid key"}}},
		{"retry-after", Settings{}, []Outcome{{Kind: RateLimited, Status: 429, RetryAfter: time.Minute}},
			Opening{Reason: ReasonRetryAfter, Failures: 1, Last: Outcome{Kind: RateLimited, Status: 429, RetryAfter: time.Minute}}},
		{"error rate", Settings{ConsecutiveFailures: 100, ErrorRate: ErrorRate{Threshold: 0.5, MinRequests: 4}},
			[]Outcome{{}, fail, {}, fail},
			Opening{Reason: ReasonErrorRate, Failures: 2, Last: fail}},
		{"latency", Settings{Latency: Latency{Threshold: time.Second, MinRequests: 2}},
			[]Outcome{{Latency: 3 * time.Second}, {Latency: 3 * time.Second}},
			Opening{Reason: ReasonLatency, Failures: 2, Last: Outcome{Latency: 3 * time.Second}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New("t", tc.s)
			for _, o := range tc.outcomes {
				b.Record(t0, o)
			}
			sn := b.Snapshot(t0)
			want := tc.want
			want.At, want.Until = t0, sn.OpenUntil
			if sn.State != Open || sn.Opened != want {
				t.Fatalf("state %v, Opened = %+v; want open, %+v", sn.State, sn.Opened, want)
			}
			if sn.Opened.Until.IsZero() || !sn.Opened.Until.After(t0) {
				t.Errorf("Opened.Until = %v, want after %v", sn.Opened.Until, t0)
			}
			later := sn.OpenUntil
			if sn := b.Snapshot(later); sn.State != HalfOpen || sn.Opened != want {
				t.Errorf("after the cooldown: state %v, Opened = %+v; want half-open, %+v", sn.State, sn.Opened, want)
			}
		})
	}
}

// TestBreaker_OpeningClearedOnClose verifies a breaker that recovered and
// closed no longer reports an opening.
func TestBreaker_OpeningClearedOnClose(t *testing.T) {
	b := New("t", Settings{RecoveryStages: []float64{1}, RecoveryStageDuration: time.Second})
	openAt(t, b, t0)
	now := at(30 * time.Second)
	b.Allow(now, 0)
	b.Record(now, Outcome{}) // probe succeeded: recovering
	if sn := b.Snapshot(now); sn.State != Recovering || sn.Opened.Reason != ReasonConsecutiveFailures {
		t.Fatalf("recovering: state %v, Opened.Reason %q; want recovering, %q", sn.State, sn.Opened.Reason, ReasonConsecutiveFailures)
	}
	b.Record(at(31*time.Second), Outcome{})
	if sn := b.Snapshot(at(31 * time.Second)); sn.State != Closed || sn.Opened != (Opening{}) {
		t.Errorf("closed: state %v, Opened = %+v; want closed, zero", sn.State, sn.Opened)
	}
}

// TestBreaker_ReopenReplacesOpening verifies a failed probe re-opens with
// its own reason and outcome.
func TestBreaker_ReopenReplacesOpening(t *testing.T) {
	b := New("t", Settings{})
	openAt(t, b, t0)
	now := at(30 * time.Second)
	b.Allow(now, 0)
	probe := Outcome{Kind: Failure, Status: 500, Detail: "server-error: 500"}
	b.Record(now, probe)
	sn := b.Snapshot(now)
	want := Opening{At: now, Until: sn.OpenUntil, Reason: ReasonProbeFailed, Failures: 1, Last: probe}
	if sn.State != Open || sn.Opened != want {
		t.Errorf("state %v, Opened = %+v; want open, %+v", sn.State, sn.Opened, want)
	}
}
