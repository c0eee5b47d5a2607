package replay

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
)

// Attempt is one recorded attempt's outcome on its target.
type Attempt struct {
	// Target is "provider/model".
	Target string
	// SentAt is when it was sent; At when its outcome was recorded on the
	// target's breaker (SentAt <= At).
	SentAt, At time.Time
	// Class is the provider classification.
	Class provider.Class
	// Outcome is what the breaker recorded (kind, TTFB sample,
	// Retry-After, status, active probe).
	Outcome breaker.Outcome
	// TTFB is the time to the provider's response headers (0: none).
	TTFB time.Duration
	// InputTokens and OutputTokens are the tokens the answer reported.
	InputTokens, OutputTokens int64
	// Seq orders events recorded at the same time (the audit Seq).
	Seq uint64
}

// Request is one recorded request: its attempts in order.
type Request struct {
	ID, Chain, Model, Client string
	// Attempts are the request's attempts, in the order they were sent.
	Attempts []Attempt
}

// Start is when the request's first attempt was sent.
func (r *Request) Start() time.Time { return r.Attempts[0].SentAt }

// Recording is the input of a replay: the recorded requests, ordered by
// start, and the outcomes recorded outside any known request (active
// probes, attempts settled after they ended without an answer), ordered by
// time.
type Recording struct {
	Requests []Request
	// Standalone outcomes are fed to their target's breaker at their time.
	Standalone []Attempt
	// Transitions are the recorded breaker_transition events.
	Transitions []events.Event
	// Denied are the recorded policy_denial events of reason
	// all_targets_open: requests no target was planned for.
	Denied []events.Event
	// Skipped counts lines of other kinds, and attempt lines that could not
	// be used (unknown class or outcome), by reason.
	Skipped map[string]int

	series map[string][]*Attempt // per target, by SentAt: nearest's input
	median time.Duration         // the median recorded TTFB of a success
}

// ErrNoAttempts is returned by Read when the events hold no attempt event:
// the recording was made without audit.attempts.
var ErrNoAttempts = errors.New("replay: the events hold no attempt event (record with audit.attempts: true)")

// Read decodes an audit file (JSON lines, docs/audit.md) into a Recording.
// Lines of other kinds are counted in Skipped; a line that does not decode
// is an error naming its line number.
func Read(r io.Reader) (*Recording, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), events.MaxLineBytes+1)
	var evs []events.Event
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		e, err := events.Decode(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("replay: line %d: %w", n, err)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("replay: reading events: %w", err)
	}
	return FromEvents(evs)
}

// FromEvents builds a Recording from decoded events.
func FromEvents(evs []events.Event) (*Recording, error) {
	rec := &Recording{Skipped: map[string]int{}}
	byID := map[string]int{}
	names := map[string]string{} // one copy of each chain, model, client, target name
	intern := func(s string) string {
		if v, ok := names[s]; ok {
			return v
		}
		names[s] = s
		return s
	}
	for _, e := range evs {
		switch e.Kind {
		case events.KindBreakerTransition:
			rec.Transitions = append(rec.Transitions, e)
			continue
		case events.KindAttempt:
		case events.KindPolicyDenial:
			if e.Reason == "all_targets_open" {
				rec.Denied = append(rec.Denied, e)
				continue
			}
			rec.Skipped["kind "+string(e.Kind)]++
			continue
		default:
			rec.Skipped["kind "+string(e.Kind)]++
			continue
		}
		e.Chain, e.Model, e.Client = intern(e.Chain), intern(e.Model), intern(e.Client)
		a, err := attemptOf(e)
		if err != nil {
			rec.Skipped[err.Error()]++
			continue
		}
		a.Target = intern(a.Target)
		if e.RequestID == "" || e.ActiveProbe {
			rec.Standalone = append(rec.Standalone, a)
			continue
		}
		i, ok := byID[e.RequestID]
		if !ok {
			i = len(rec.Requests)
			byID[e.RequestID] = i
			rec.Requests = append(rec.Requests, Request{ID: e.RequestID, Chain: e.Chain, Model: e.Model, Client: e.Client})
		}
		rec.Requests[i].Attempts = append(rec.Requests[i].Attempts, a)
	}
	if len(rec.Requests) == 0 && len(rec.Standalone) == 0 {
		return nil, ErrNoAttempts
	}
	rec.index()
	return rec, nil
}

// index sorts the recording and builds the per-target series.
func (rec *Recording) index() {
	for i := range rec.Requests {
		slices.SortStableFunc(rec.Requests[i].Attempts, func(a, b Attempt) int { return a.SentAt.Compare(b.SentAt) })
	}
	slices.SortStableFunc(rec.Requests, func(a, b Request) int {
		return cmp.Or(a.Start().Compare(b.Start()), cmp.Compare(a.Attempts[0].Seq, b.Attempts[0].Seq))
	})
	slices.SortStableFunc(rec.Standalone, func(a, b Attempt) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Seq, b.Seq)) })
	rec.series = map[string][]*Attempt{}
	var ttfbs []int32 // ms: a day's successes fit
	add := func(a *Attempt) {
		rec.series[a.Target] = append(rec.series[a.Target], a)
		if a.Class == provider.ClassSuccess && a.TTFB > 0 {
			ttfbs = append(ttfbs, int32(min(a.TTFB.Milliseconds(), 1<<31-1)))
		}
	}
	for i := range rec.Requests {
		for j := range rec.Requests[i].Attempts {
			add(&rec.Requests[i].Attempts[j])
		}
	}
	for i := range rec.Standalone {
		add(&rec.Standalone[i])
	}
	for k, s := range rec.series {
		slices.SortStableFunc(s, func(a, b *Attempt) int { return a.SentAt.Compare(b.SentAt) })
		rec.series[k] = slices.Clip(s)
	}
	if len(ttfbs) > 0 {
		slices.Sort(ttfbs)
		rec.median = time.Duration(ttfbs[len(ttfbs)/2]) * time.Millisecond
	}
}

// nearest is target's recorded outcome sent nearest to t, if any.
func (rec *Recording) nearest(target string, t time.Time) (Attempt, bool) {
	s := rec.series[target]
	if len(s) == 0 {
		return Attempt{}, false
	}
	i, _ := slices.BinarySearchFunc(s, t, func(a *Attempt, t time.Time) int { return a.SentAt.Compare(t) })
	switch {
	case i == len(s):
		return *s[i-1], true
	case i > 0 && t.Sub(s[i-1].SentAt) <= s[i].SentAt.Sub(t):
		return *s[i-1], true
	}
	return *s[i], true
}

// attemptOf is an attempt event as an Attempt.
func attemptOf(e events.Event) (Attempt, error) {
	cls, ok := classOf(e.Reason)
	if !ok {
		return Attempt{}, fmt.Errorf("attempt with unknown class %q", e.Reason)
	}
	kind, ok := kindOf(e.Outcome)
	if !ok {
		return Attempt{}, fmt.Errorf("attempt with unknown outcome %q", e.Outcome)
	}
	sent := e.SentAt
	if sent.IsZero() || sent.After(e.Time) {
		sent = e.Time
	}
	a := Attempt{Target: e.From.String(), SentAt: sent, At: e.Time, Class: cls, TTFB: time.Duration(e.TTFBMS) * time.Millisecond,
		InputTokens: e.InputTokens, OutputTokens: e.OutputTokens, Seq: e.Seq}
	a.Outcome = breaker.Outcome{Kind: kind, RetryAfter: time.Duration(e.RetryAfterMS) * time.Millisecond, Status: e.Status,
		Probe: e.ActiveProbe, Detail: cls.String()}
	if e.Status != 0 {
		a.Outcome.Latency = a.TTFB
	}
	return a, nil
}

// classOf parses a provider class name.
func classOf(s string) (provider.Class, bool) {
	for c := provider.ClassSuccess; c < 64; c++ { // every class the provider package names
		if c.String() == s {
			return c, true
		}
	}
	return 0, false
}

// kindOf parses a breaker outcome kind name.
func kindOf(s string) (breaker.Kind, bool) {
	for k := breaker.Success; k <= breaker.Neutral; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}
