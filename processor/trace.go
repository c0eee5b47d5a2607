package processor

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/llm-failover/llm-failover/provider"
)

// recordState is how far an attempt's record has come.
type recordState uint8

const (
	recInFlight recordState = iota // the request went upstream; no outcome yet
	recPending                     // ended without an answer; waiting for evidence of who ended it
	recDone                        // the outcome is known
)

// attemptRecord is one attempt's outcome, as the trace shows it.
type attemptRecord struct {
	Attempt  int
	Provider string
	Model    string
	Class    provider.Class
	Status   int // 0: no response headers (reset, timeout)
	Latency  time.Duration
	Message  string
	Quality  string // the failed quality check (outcome quality); "" otherwise
	// Placement is where tiers and regions put the target in the plan
	// (contract.Target.Placement); "" for a plain chain.
	Placement string
	Cost      *answerCost // the answer's usage and cost (cost.go); nil: not known

	State recordState
	// Target is the breaker key a pending record is settled on.
	Target string
	// Deadline ends a pending record's wait for evidence.
	Deadline time.Time
	// Probe: the attempt is an active probe's (probe.go); its settled
	// outcome is recorded as a probe's.
	Probe bool
}

// outcomeName names the attempt's outcome; an attempt without response
// headers (or still without an outcome) is "no_response".
func (a attemptRecord) outcomeName() string {
	if a.State != recDone || a.Status == 0 && a.Class != provider.ClassSuccess && a.Class != provider.ClassCancelled {
		return "no_response"
	}
	return a.Class.String()
}

// traceStore is the bounded, expiring record of each request's attempts,
// keyed by the plan's id (newPlanID: the request id and a random suffix, so
// requests sharing an x-request-id keep apart traces), which the route phase
// makes and the attempt phase reads from the plan; an attempt whose plan has
// no id uses its request id. It holds what this replica saw: on another replica a
// trace may miss attempts, but every attempt it lists is true.
//
// An attempt is written when its request goes upstream (in flight) and
// updated with its outcome, so a trace read at any time lists every attempt
// this replica sent. An attempt that ended without an answer is pending until
// evidence says who ended it (docs/envoy-contract.md, attempt phase): Envoy
// going on with the request (a later attempt, or response headers in the
// route phase) blames the provider; the client leaving, or no evidence within
// evidenceWindow, settles it as cancelled. Settling returns the records; the
// caller feeds them to the breakers and metrics.
type traceStore struct {
	cache *lru.Cache[string, *requestTrace]
	ttl   time.Duration

	mu      sync.Mutex
	pending []pendingRef // oldest first; bounded by maxPending
}

type pendingRef struct {
	id       string
	deadline time.Time
}

// Why a pending record was settled, as its trace message says.
const (
	whyRetried  = "the attempt ended without response headers and Envoy retried (reset or per-try timeout)"
	whyAnswered = "the attempt ended without response headers and Envoy answered the client (reset or per-try timeout)"
	whyLeft     = "the client left before an answer"
)

// evidenceWindow bounds the wait for evidence about an attempt that ended
// without an answer; past it the provider is not blamed.
const evidenceWindow = 30 * time.Second

type requestTrace struct {
	mu       sync.Mutex
	created  time.Time
	attempts []attemptRecord
	// Evidence about the request as a whole.
	highest   int  // the highest attempt whose request went upstream
	responded bool // the route phase saw response headers
	left      bool // the route phase ended without response headers: the client left

	// budget is the x-llm-failover-budget value of the plan (budget.go).
	budget string
}

func newTraceStore(size int, ttl time.Duration) *traceStore {
	c, err := lru.New[string, *requestTrace](size)
	if err != nil { // only for size <= 0, which config validation rules out
		c, _ = lru.New[string, *requestTrace](16)
	}
	return &traceStore{cache: c, ttl: ttl}
}

// maxPending bounds the pending records waiting for evidence.
func (s *traceStore) maxPending() int { return max(16, s.cache.Len()+1) }

// trace returns the live trace of id, creating it when create is set.
func (s *traceStore) trace(id string, now time.Time, create bool) *requestTrace {
	if id == "" {
		return nil
	}
	t, ok := s.cache.Get(id)
	if ok && now.Sub(t.created) <= s.ttl {
		return t
	}
	if !create {
		return nil
	}
	t = &requestTrace{created: now}
	if prev, loaded, _ := s.cache.PeekOrAdd(id, t); loaded && now.Sub(prev.created) <= s.ttl {
		return prev
	} else if loaded {
		s.cache.Add(id, t)
	}
	return t
}

// put replaces the record of a.Attempt or adds it; t.mu is held.
func (t *requestTrace) put(a attemptRecord) {
	for i := range t.attempts {
		if t.attempts[i].Attempt == a.Attempt {
			t.attempts[i] = a
			return
		}
	}
	t.attempts = append(t.attempts, a)
}

// settle turns the pending records of t that match into outcomes; t.mu is held.
func (t *requestTrace) settle(match func(attemptRecord) bool, blame bool, why string) []attemptRecord {
	var out []attemptRecord
	for i := range t.attempts {
		a := &t.attempts[i]
		if a.State != recPending || !match(*a) {
			continue
		}
		a.State = recDone
		if blame {
			a.Class = provider.ClassTimeout
		} else {
			a.Class = provider.ClassCancelled
		}
		a.Message = why
		out = append(out, *a)
	}
	return out
}

// everyRecord matches every pending record of a trace.
func everyRecord(attemptRecord) bool { return true }

// begin records attempt a as in flight. A later attempt is evidence that
// Envoy went on with the request: earlier pending attempts are blamed.
func (s *traceStore) begin(id string, now time.Time, a attemptRecord) []attemptRecord {
	out := s.sweep(now)
	t := s.trace(id, now, true)
	if t == nil {
		return out
	}
	a.State = recInFlight
	t.mu.Lock()
	defer t.mu.Unlock()
	t.put(a)
	t.highest = max(t.highest, a.Attempt)
	return append(out, t.settle(func(p attemptRecord) bool { return p.Attempt < a.Attempt }, true,
		whyRetried)...)
}

// finish records attempt a's outcome.
func (s *traceStore) finish(id string, now time.Time, a attemptRecord) {
	t := s.trace(id, now, true)
	if t == nil {
		return
	}
	a.State = recDone
	t.mu.Lock()
	t.put(a)
	t.mu.Unlock()
}

// pend records attempt a, which ended without an answer, as waiting for
// evidence, or settles it at once when the evidence is already there. It
// returns the records settled now (a among them, or none).
func (s *traceStore) pend(id string, now time.Time, a attemptRecord) []attemptRecord {
	out := s.sweep(now)
	t := s.trace(id, now, true)
	if t == nil {
		// No trace key: nothing can bring evidence; do not blame.
		a.State, a.Class = recDone, provider.ClassCancelled
		return append(out, a)
	}
	a.State = recPending
	a.Deadline = now.Add(evidenceWindow)
	t.mu.Lock()
	t.put(a)
	var settled []attemptRecord
	this := func(p attemptRecord) bool { return p.Attempt == a.Attempt }
	switch {
	case t.highest > a.Attempt:
		settled = t.settle(this, true, whyRetried)
	case t.responded:
		settled = t.settle(this, true, whyAnswered)
	case t.left:
		settled = t.settle(this, false, whyLeft)
	}
	t.mu.Unlock()
	if len(settled) == 0 {
		s.mu.Lock()
		s.pending = append(s.pending, pendingRef{id: id, deadline: a.Deadline})
		var drop []pendingRef
		if n := len(s.pending) - s.maxPending(); n > 0 {
			drop, s.pending = s.pending[:n:n], s.pending[n:]
		}
		s.mu.Unlock()
		for _, p := range drop {
			out = append(out, s.expire(p.id, now, time.Time{})...)
		}
	}
	return append(out, settled...)
}

// responded records that the route phase saw response headers for id:
// pending attempts were ended by Envoy (a reset or per-try timeout it
// answered itself), not by the client.
func (s *traceStore) responded(id string, now time.Time) []attemptRecord {
	out := s.sweep(now)
	t := s.trace(id, now, false)
	if t == nil {
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.responded = true
	return append(out, t.settle(everyRecord, true, whyAnswered)...)
}

// left records that the client left before response headers: pending
// attempts are settled as cancelled.
func (s *traceStore) left(id string, now time.Time) []attemptRecord {
	out := s.sweep(now)
	t := s.trace(id, now, false)
	if t == nil {
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.responded {
		return out
	}
	t.left = true
	return append(out, t.settle(everyRecord, false, whyLeft)...)
}

// sweep settles, as not blamed, pending records whose evidence window ended.
func (s *traceStore) sweep(now time.Time) []attemptRecord {
	s.mu.Lock()
	n := 0
	for n < len(s.pending) && !now.Before(s.pending[n].deadline) {
		n++
	}
	// Resliced, not shifted: the cost stays per record, however many wait;
	// append drops the dead front when it grows the array.
	expired := s.pending[:n:n]
	s.pending = s.pending[n:]
	s.mu.Unlock()
	var out []attemptRecord
	for _, p := range expired {
		out = append(out, s.expire(p.id, now, now)...)
	}
	return out
}

// expire settles id's pending records whose deadline is not after by
// (every pending record when by is zero) as not blamed.
func (s *traceStore) expire(id string, now, by time.Time) []attemptRecord {
	t, ok := s.cache.Peek(id)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.settle(func(p attemptRecord) bool { return by.IsZero() || !by.Before(p.Deadline) }, false,
		"no evidence of who ended the attempt (client or Envoy): not counted against the provider")
}

// get returns the attempts of id in attempt order.
func (s *traceStore) get(id string, now time.Time) []attemptRecord {
	t := s.trace(id, now, false)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	out := append([]attemptRecord(nil), t.attempts...)
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt < out[j].Attempt })
	return out
}

// formatTrace renders the x-llm-failover-trace header value:
// "attempt=1;provider=p;model=m;outcome=o;status=429;ms=12, attempt=2;...",
// each attempt followed by its target's placement when tiers or regions
// placed it (";tier=1;weight=3/4;region=eu:preferred").
func formatTrace(recs []attemptRecord) string {
	var b strings.Builder
	for i, a := range recs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("attempt=")
		b.WriteString(strconv.Itoa(a.Attempt))
		b.WriteString(";provider=")
		b.WriteString(url.QueryEscape(a.Provider))
		b.WriteString(";model=")
		b.WriteString(url.QueryEscape(a.Model))
		b.WriteString(";outcome=")
		b.WriteString(a.outcomeName())
		b.WriteString(";status=")
		b.WriteString(strconv.Itoa(a.Status))
		b.WriteString(";ms=")
		b.WriteString(strconv.FormatInt(a.Latency.Milliseconds(), 10))
		if a.Quality != "" {
			b.WriteString(";quality=")
			b.WriteString(a.Quality)
		}
		appendCost(&b, a.Cost)
		// The placement comes last: what follows "ms=" is the outcome's
		// detail (quality, cost), then where the plan put the target.
		if a.Placement != "" { // contract.ValidPlacement: safe in a header as it is
			b.WriteString(";")
			b.WriteString(a.Placement)
		}
	}
	return b.String()
}

// attemptsJSON converts records for an error body.
func attemptsJSON(recs []attemptRecord) []provider.ErrorAttempt {
	out := make([]provider.ErrorAttempt, len(recs))
	for i, a := range recs {
		out[i] = provider.ErrorAttempt{Attempt: a.Attempt, Provider: a.Provider, Model: a.Model, Outcome: a.outcomeName(),
			Status: a.Status, LatencyMS: a.Latency.Milliseconds(), Message: a.Message}
	}
	return out
}
