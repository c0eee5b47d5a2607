package access

import (
	"sync"
	"time"
)

// Limiter holds the request-rate and token-budget windows: one entry per
// listed client that has a limit, and one entry shared by every unknown
// caller. Nothing a caller sends names an entry, so its size is bounded by
// the configuration. It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	entries map[string]*usage // by client name (Unknown for the default policy)
	// policy is the one the last Retain was given: the configuration in
	// force, whose clients Charge counts by (nil before any Retain).
	policy *Policy
}

// usage is one client's two windows.
type usage struct {
	rate, tokens window
}

// window is a fixed window: the count since start, which is a multiple of
// the window length since the Unix epoch.
type window struct {
	start time.Time
	n     int64
	// remote is the other replicas' count in this window, as of the last
	// fleet sync, and sent the part of n that sync shared (shared.go); both
	// stay 0 outside fleet mode.
	remote, sent int64
}

// roll moves w to the window that holds now, emptied when it is a new one,
// and returns its end.
func (w *window) roll(length time.Duration, now time.Time) time.Time {
	start := time.Unix(0, now.UnixNano()-now.UnixNano()%int64(length))
	if now.UnixNano() < 0 {
		start = now.Truncate(length) // before 1970: a test clock; any fixed grid will do
	}
	if !w.start.Equal(start) {
		w.start, w.n, w.remote, w.sent = start, 0, 0, 0
	}
	return start.Add(length)
}

// NewLimiter returns an empty limiter.
func NewLimiter() *Limiter { return &Limiter{entries: map[string]*usage{}} }

// Decision is the outcome of Admit.
type Decision struct {
	// Reason is Allowed, RateExceeded or BudgetExceeded.
	Reason Reason
	// RetryAfter is how long until the window that refused ends (0 when allowed).
	RetryAfter time.Duration
}

// Admit counts one request of c and its prompt tokens at now, or refuses
// it when it would take the client over its rate or its token budget. A
// request that reaches a limit exactly is admitted. A refused request
// counts nowhere.
func (l *Limiter) Admit(c *Client, prompt int64, now time.Time) Decision {
	if c.rate == nil && c.tokens == nil {
		return Decision{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.entry(c.Name)
	if r := c.rate; r != nil {
		end := u.rate.roll(r.Window.D(), now)
		if u.rate.n+u.rate.remote+1 > r.Limit {
			return Decision{Reason: RateExceeded, RetryAfter: end.Sub(now)}
		}
	}
	if t := c.tokens; t != nil {
		end := u.tokens.roll(t.Window.D(), now)
		if u.tokens.n+u.tokens.remote+max(prompt, 0) > t.Limit {
			return Decision{Reason: BudgetExceeded, RetryAfter: end.Sub(now)}
		}
	}
	if c.rate != nil {
		u.rate.n++
	}
	if c.tokens != nil {
		u.tokens.n += max(prompt, 0)
	}
	return Decision{}
}

// Charge adds tokens (an answer's completion tokens) to the budget of the
// client called name at now. The client is looked up in the policy of the
// last Retain (the configuration in force), else in p: an answer to a
// request planned before a reload is counted by the budget Admit now uses,
// with the same window, and never revives a client the reload removed. A
// name that policy does not list, or a client without a budget, is
// ignored: no entry is ever made for it.
func (l *Limiter) Charge(p *Policy, name string, tokens int64, now time.Time) {
	if tokens <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.policy != nil {
		p = l.policy
	}
	if p == nil {
		return
	}
	c := p.named(name)
	if c == nil || c.tokens == nil {
		return
	}
	u := l.entry(c.Name)
	u.tokens.roll(c.tokens.Window.D(), now)
	u.tokens.n += tokens
}

// Used returns the requests and tokens counted for the client called name
// in the windows that hold now (for tests and the status page).
func (l *Limiter) Used(p *Policy, name string, now time.Time) (requests, tokens int64) {
	c := p.named(name)
	if c == nil {
		return 0, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.entries[c.Name]
	if u == nil {
		return 0, 0
	}
	if c.rate != nil {
		u.rate.roll(c.rate.Window.D(), now)
	}
	if c.tokens != nil {
		u.tokens.roll(c.tokens.Window.D(), now)
	}
	return u.rate.n, u.tokens.n
}

// Retain forgets the windows of clients p no longer lists (after a reload);
// the windows of the others go on. p is the policy in force from now on
// (see Charge).
func (l *Limiter) Retain(p *Policy) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.policy = p
	for name := range l.entries {
		if name != Unknown && p.Client(name) == nil {
			delete(l.entries, name)
		}
	}
}

// Len is the number of entries held (bounded by the listed clients plus one).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// entry returns name's windows, made on first use. Callers hold l.mu and
// pass only names of the policy (a listed client or Unknown).
func (l *Limiter) entry(name string) *usage {
	u := l.entries[name]
	if u == nil {
		u = &usage{}
		l.entries[name] = u
	}
	return u
}

// RetryAfterSeconds is d rounded up to whole seconds, at least 1: the
// Retry-After header value.
func RetryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
