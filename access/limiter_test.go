package access

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC) // on a minute and an hour boundary

// TestLimiter_Rate verifies the request rate per fixed window: the request
// reaching the limit is admitted, the next refused until the window ends.
func TestLimiter_Rate(t *testing.T) {
	p := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], rate: {limit: 2, window: 1m}}]}")
	a := p.Client("a")
	l := NewLimiter()
	steps := []struct {
		at        time.Duration
		want      Reason
		wantAfter time.Duration
	}{
		{0, Allowed, 0},
		{10 * time.Second, Allowed, 0},                     // exactly at the limit
		{15 * time.Second, RateExceeded, 45 * time.Second}, // over it: until the window ends
		{59*time.Second + 500*time.Millisecond, RateExceeded, 500 * time.Millisecond},
		{time.Minute, Allowed, 0}, // a new window
	}
	for _, s := range steps {
		d := l.Admit(a, 0, t0.Add(s.at))
		if d.Reason != s.want || d.RetryAfter != s.wantAfter {
			t.Errorf("at +%s: Admit = %s after %s, want %s after %s", s.at, d.Reason, d.RetryAfter, s.want, s.wantAfter)
		}
	}
}

// TestLimiter_TokenBudget verifies the token budget: prompt estimates are
// admitted up to the budget exactly, completion tokens charged later count,
// and a refused request counts nothing.
func TestLimiter_TokenBudget(t *testing.T) {
	p := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], tokens: {limit: 100, window: 1h}, rate: {limit: 10}}]}")
	a := p.Client("a")
	l := NewLimiter()
	if d := l.Admit(a, 60, t0); d.Reason != Allowed {
		t.Fatalf("first: %s, want allowed", d.Reason)
	}
	l.Charge(p, "a", 30, t0.Add(time.Second)) // its answer's completion tokens
	if d := l.Admit(a, 11, t0.Add(2*time.Second)); d.Reason != BudgetExceeded || d.RetryAfter != time.Hour-2*time.Second {
		t.Errorf("over by one: %s after %s, want %s after %s", d.Reason, d.RetryAfter, BudgetExceeded, time.Hour-2*time.Second)
	}
	if d := l.Admit(a, 10, t0.Add(3*time.Second)); d.Reason != Allowed {
		t.Errorf("exactly at the budget: %s, want allowed", d.Reason)
	}
	if req, tok := l.Used(p, "a", t0.Add(4*time.Second)); req != 2 || tok != 100 {
		t.Errorf("Used = %d requests, %d tokens; want 2, 100 (the refused request counts nowhere)", req, tok)
	}
	if req, tok := l.Used(p, "a", t0.Add(time.Hour)); req != 0 || tok != 0 {
		t.Errorf("Used in the next windows = %d, %d; want 0, 0", req, tok)
	}
}

// TestLimiter_UnknownCallersShareOneEntry verifies that unknown callers
// share the default policy's windows and that charges for unlisted names
// make no entry.
func TestLimiter_UnknownCallersShareOneEntry(t *testing.T) {
	p := testPolicy(t, "{default: {rate: {limit: 1}}}")
	l := NewLimiter()
	id1, _ := p.Identify(Caller{Source: "1.1.1.1:1"})
	id2, _ := p.Identify(Caller{Source: "2.2.2.2:2"})
	if d := l.Admit(id1.Client, 0, t0); d.Reason != Allowed {
		t.Fatalf("first unknown caller: %s", d.Reason)
	}
	if d := l.Admit(id2.Client, 0, t0); d.Reason != RateExceeded {
		t.Errorf("second unknown caller: %s, want %s (one shared window)", d.Reason, RateExceeded)
	}
	for i := range 1000 {
		l.Charge(p, "forged-"+string(rune('a'+i%26)), 5, t0)
	}
	if n := l.Len(); n != 1 {
		t.Errorf("Len = %d after charges to unlisted names, want 1", n)
	}
}

// TestLimiter_RetainForgetsRemovedClients verifies that a reload drops the
// windows of clients no longer listed and keeps the others'.
func TestLimiter_RetainForgetsRemovedClients(t *testing.T) {
	p1 := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], rate: {limit: 1}}, {name: b, sources: [127.0.0.2], rate: {limit: 1}}]}")
	l := NewLimiter()
	l.Admit(p1.Client("a"), 0, t0)
	l.Admit(p1.Client("b"), 0, t0)
	p2 := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], rate: {limit: 1}}]}")
	l.Retain(p2)
	if n := l.Len(); n != 1 {
		t.Errorf("Len = %d after Retain, want 1", n)
	}
	if d := l.Admit(p2.Client("a"), 0, t0); d.Reason != RateExceeded {
		t.Errorf("a after the reload: %s, want %s (its window kept)", d.Reason, RateExceeded)
	}
}

// TestLimiter_ChargeAfterReloadUsesThePolicyInForce verifies completion
// tokens of an answer planned before a reload (charged with the old
// policy) count by the configuration now in force: a removed client gets
// no entry back (so, re-added in the same window, it starts empty), and a
// changed window is not reset by each charge, which would let the budget
// never fill while old plans run.
func TestLimiter_ChargeAfterReloadUsesThePolicyInForce(t *testing.T) {
	t.Run("removed client", func(t *testing.T) {
		p1 := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], tokens: {limit: 100}}]}")
		l := NewLimiter()
		l.Retain(p1)
		l.Admit(p1.Client("a"), 10, t0)
		l.Retain(testPolicy(t, "{list: [{name: b, sources: [127.0.0.2], tokens: {limit: 100}}]}"))
		l.Charge(p1, "a", 95, t0.Add(time.Second))
		if n := l.Len(); n != 0 {
			t.Errorf("Len = %d after charging a removed client, want 0", n)
		}
		p3 := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], tokens: {limit: 100}}]}")
		l.Retain(p3)
		if d := l.Admit(p3.Client("a"), 100, t0.Add(2*time.Second)); d.Reason != Allowed {
			t.Errorf("a re-added: %s, want %s (a fresh budget)", d.Reason, Allowed)
		}
	})
	t.Run("changed window", func(t *testing.T) {
		p1 := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], tokens: {limit: 100, window: 1h}}]}")
		p2 := testPolicy(t, "{list: [{name: a, sources: [127.0.0.1], tokens: {limit: 100, window: 1m}}]}")
		l := NewLimiter()
		l.Retain(p2)
		now := t0.Add(30*time.Minute + time.Second) // the 1m and 1h windows start apart
		for i := range 2 {
			if d := l.Admit(p2.Client("a"), 1, now); d.Reason != Allowed {
				t.Fatalf("request %d: %s, want %s", i, d.Reason, Allowed)
			}
			l.Charge(p1, "a", 60, now) // an answer of a plan made under p1
		}
		if _, tokens := l.Used(p2, "a", now); tokens != 122 {
			t.Errorf("tokens used = %d, want every request and charge counted (122)", tokens)
		}
		if d := l.Admit(p2.Client("a"), 1, now); d.Reason != BudgetExceeded {
			t.Errorf("third request: %s, want %s", d.Reason, BudgetExceeded)
		}
	})
}

// TestRetryAfterSeconds verifies the rounding of Retry-After.
func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Hour: 3600} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}
