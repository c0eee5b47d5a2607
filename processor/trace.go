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

// attemptRecord is one attempt's outcome, as the trace shows it.
type attemptRecord struct {
	Attempt  int
	Provider string
	Model    string
	Class    provider.Class
	Status   int // 0: no response headers (reset, timeout)
	Latency  time.Duration
	Message  string
}

// outcomeName names the attempt's outcome; an attempt without response
// headers is "no_response".
func (a attemptRecord) outcomeName() string {
	if a.Status == 0 && a.Class != provider.ClassSuccess {
		return "no_response"
	}
	return a.Class.String()
}

// traceStore is the bounded, expiring record of each request's attempts,
// keyed by x-request-id. It holds what this replica saw: on another replica
// a trace may miss attempts, but every attempt it lists is true.
type traceStore struct {
	cache *lru.Cache[string, *requestTrace]
	ttl   time.Duration
}

type requestTrace struct {
	mu       sync.Mutex
	created  time.Time
	attempts []attemptRecord
}

func newTraceStore(size int, ttl time.Duration) *traceStore {
	c, err := lru.New[string, *requestTrace](size)
	if err != nil { // only for size <= 0, which config validation rules out
		c, _ = lru.New[string, *requestTrace](16)
	}
	return &traceStore{cache: c, ttl: ttl}
}

// add records a, replacing an earlier record of the same attempt number.
func (s *traceStore) add(id string, now time.Time, a attemptRecord) {
	if id == "" {
		return
	}
	t, ok := s.cache.Get(id)
	if !ok || now.Sub(t.created) > s.ttl {
		t = &requestTrace{created: now}
		if prev, loaded, _ := s.cache.PeekOrAdd(id, t); loaded && now.Sub(prev.created) <= s.ttl {
			t = prev
		} else if loaded {
			s.cache.Add(id, t)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.attempts {
		if t.attempts[i].Attempt == a.Attempt {
			t.attempts[i] = a
			return
		}
	}
	t.attempts = append(t.attempts, a)
}

// get returns the attempts of id in attempt order.
func (s *traceStore) get(id string, now time.Time) []attemptRecord {
	if id == "" {
		return nil
	}
	t, ok := s.cache.Get(id)
	if !ok || now.Sub(t.created) > s.ttl {
		return nil
	}
	t.mu.Lock()
	out := append([]attemptRecord(nil), t.attempts...)
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt < out[j].Attempt })
	return out
}

// formatTrace renders the x-llm-failover-trace header value:
// "attempt=1;provider=p;model=m;outcome=o;status=429;ms=12, attempt=2;...".
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
	}
	return b.String()
}

// attemptsJSON converts records for an error body.
func attemptsJSON(recs []attemptRecord) []attemptJSON {
	out := make([]attemptJSON, len(recs))
	for i, a := range recs {
		out[i] = attemptJSON{Attempt: a.Attempt, Provider: a.Provider, Model: a.Model, Outcome: a.outcomeName(),
			Status: a.Status, LatencyMS: a.Latency.Milliseconds(), Message: a.Message}
	}
	return out
}
