package events

import (
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/llm-failover/llm-failover/clock"
)

// Limits of a Bus. Zero fields take their defaults; out-of-range fields
// are clamped (NewBus never fails).
type Options struct {
	// History is how many recent events the Bus keeps for late
	// subscribers (Recent, Subscribe's backlog). Default 512; 0..100000
	// (negative means 0: no history).
	History int
	// Buffer is each subscriber's channel capacity when Subscribe is not
	// given one. A subscriber whose buffer is full loses the event (counted
	// in its Dropped and the Bus's Stats). Default 256; 1..100000.
	Buffer int
	// MaxSubscribers bounds the live subscriptions; Subscribe beyond it
	// returns ErrTooManySubscribers. Default 64; 1..10000.
	MaxSubscribers int
	// Clock stamps events published with a zero Time. Default: wall clock.
	Clock clock.Clock
}

// Defaults and bounds of Options.
const (
	DefaultHistory        = 512
	MaxHistory            = 100000
	DefaultBuffer         = 256
	MaxBuffer             = 100000
	DefaultMaxSubscribers = 64
	MaxMaxSubscribers     = 10000
	// MaxTextLen bounds every string field of an Event, in bytes; Publish
	// cuts longer text at a rune boundary.
	MaxTextLen = 256
)

// ErrTooManySubscribers is returned by Subscribe when Options.MaxSubscribers
// subscriptions are live.
var ErrTooManySubscribers = errors.New("events: too many subscribers")

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("events: bus closed")

func (o Options) withDefaults() Options {
	o.History = clampDefault(o.History, DefaultHistory, 0, MaxHistory)
	o.Buffer = clampDefault(o.Buffer, DefaultBuffer, 1, MaxBuffer)
	o.MaxSubscribers = clampDefault(o.MaxSubscribers, DefaultMaxSubscribers, 1, MaxMaxSubscribers)
	if o.Clock == nil {
		o.Clock = clock.Wall{}
	}
	return o
}

// clampDefault maps 0 to def and clamps v to [lo, hi].
func clampDefault(v, def, lo, hi int) int {
	if v == 0 {
		v = def
	}
	return min(max(v, lo), hi)
}

// Stats are a Bus's counters since NewBus.
type Stats struct {
	// Published is the number of events published (the last Seq).
	Published uint64
	// Dropped is the number of deliveries lost to full subscriber buffers,
	// over every subscription, closed ones included.
	Dropped uint64
	// Subscribers is the number of live subscriptions.
	Subscribers int
}

// Bus fans events out to subscribers. Publish never blocks: it stamps the
// event, keeps it in the history ring and offers it to each subscriber's
// buffered channel, dropping it for a subscriber whose buffer is full. Its
// methods are safe for concurrent use. The zero Bus is not usable; use
// NewBus.
type Bus struct {
	o Options

	mu      sync.Mutex
	seq     uint64
	ring    []Event // History entries; oldest at head once full
	head    int
	n       int
	subs    map[*Subscription]struct{}
	dropped uint64
	closed  bool
}

// NewBus returns a Bus with o's limits (see Options for defaults).
func NewBus(o Options) *Bus {
	o = o.withDefaults()
	return &Bus{o: o, ring: make([]Event, o.History), subs: map[*Subscription]struct{}{}}
}

// Publish stamps e (V, Seq, and Time when zero), records it in the history
// and delivers it to every subscriber with room in its buffer. It never
// blocks on a subscriber and returns the stamped event. A nil Bus
// discards the event, so hooks need no nil check.
func (b *Bus) Publish(e Event) Event {
	if b == nil {
		return e
	}
	e.V = Version
	if e.Time.IsZero() {
		e.Time = b.o.Clock.Now()
	}
	e.Time = e.Time.UTC()
	if !e.CooldownUntil.IsZero() {
		e.CooldownUntil = e.CooldownUntil.UTC()
	}
	if !e.SentAt.IsZero() {
		e.SentAt = e.SentAt.UTC()
	}
	for _, f := range []*string{&e.RequestID, &e.Chain, &e.Client, &e.From.Provider, &e.From.Model,
		&e.To.Provider, &e.To.Model, &e.Reason, &e.Quality, &e.BreakerFrom, &e.BreakerTo, &e.Detail, &e.Model, &e.Outcome} {
		*f = CleanText(*f, MaxTextLen)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return e
	}
	b.seq++
	e.Seq = b.seq
	if len(b.ring) > 0 && !e.Kind.Routine() {
		b.ring[(b.head+b.n)%len(b.ring)] = e
		if b.n < len(b.ring) {
			b.n++
		} else {
			b.head = (b.head + 1) % len(b.ring)
		}
	}
	for s := range b.subs {
		if s.kinds != nil && !s.kinds[e.Kind] || s.skipRoutine && e.Kind.Routine() {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.dropped++
			b.dropped++
		}
	}
	return e
}

// Recent returns the history, oldest first (at most Options.History
// events).
func (b *Bus) Recent() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recentLocked(nil)
}

func (b *Bus) recentLocked(kinds map[Kind]bool) []Event {
	out := make([]Event, 0, b.n)
	for i := range b.n {
		e := b.ring[(b.head+i)%len(b.ring)]
		if kinds == nil || kinds[e.Kind] {
			out = append(out, e)
		}
	}
	return out
}

// Stats returns the Bus's counters.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Published: b.seq, Dropped: b.dropped, Subscribers: len(b.subs)}
}

// SubscribeOptions shape one subscription.
type SubscribeOptions struct {
	// Buffer is the channel capacity; 0 means Options.Buffer; clamped to
	// 1..MaxBuffer.
	Buffer int
	// Kinds keeps only these kinds; empty means every kind.
	Kinds []Kind
	// SkipRoutine leaves out the routine kinds (Kind.Routine: one event
	// per request), which the history never holds.
	SkipRoutine bool
}

// Subscription receives the events published after it was made, through
// C, until it is closed. Its Backlog holds the history (of its kinds) at
// the moment it subscribed, so backlog followed by C has neither gap nor
// duplicate, except for events dropped when C was full.
type Subscription struct {
	// Backlog is the history at subscription time, oldest first.
	Backlog []Event

	bus   *Bus
	ch    chan Event
	kinds map[Kind]bool // nil: every kind
	// skipRoutine leaves out routine kinds (SubscribeOptions.SkipRoutine).
	skipRoutine bool
	dropped     uint64 // guarded by bus.mu
	closed      bool   // guarded by bus.mu
}

// Subscribe starts a subscription. It fails with ErrTooManySubscribers when
// Options.MaxSubscribers are live, and ErrClosed after Close.
func (b *Bus) Subscribe(o SubscribeOptions) (*Subscription, error) {
	size := b.o.Buffer
	if o.Buffer != 0 {
		size = min(max(o.Buffer, 1), MaxBuffer)
	}
	s := &Subscription{bus: b, ch: make(chan Event, size), skipRoutine: o.SkipRoutine}
	if len(o.Kinds) > 0 {
		s.kinds = make(map[Kind]bool, len(o.Kinds))
		for _, k := range o.Kinds {
			s.kinds[k] = true
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if len(b.subs) >= b.o.MaxSubscribers {
		return nil, ErrTooManySubscribers
	}
	s.Backlog = b.recentLocked(s.kinds)
	b.subs[s] = struct{}{}
	return s, nil
}

// C delivers the events published after Subscribe; it is closed by Close
// (of the subscription or the Bus).
func (s *Subscription) C() <-chan Event { return s.ch }

// Dropped returns how many events this subscription lost to a full buffer.
func (s *Subscription) Dropped() uint64 {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}

// Close ends the subscription and closes C; events still buffered in C can
// be read. It is safe to call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.bus.subs, s)
	close(s.ch)
}

// Close closes every subscription; later Publish calls are discarded and
// later Subscribe calls fail with ErrClosed.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		s.closeLocked()
	}
}

// CleanText makes s safe for one log line and bounded: invalid UTF-8 and
// control characters become spaces, and it is cut to max bytes at a rune
// boundary.
func CleanText(s string, max int) string {
	clean := len(s) <= max && utf8.ValidString(s)
	if clean {
		for _, r := range s {
			if unicode.IsControl(r) {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	var sb strings.Builder
	for _, r := range strings.ToValidUTF8(s, " ") {
		if unicode.IsControl(r) {
			r = ' '
		}
		if sb.Len()+utf8.RuneLen(r) > max {
			break
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
