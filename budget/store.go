package budget

import (
	"sync"
	"sync/atomic"
	"time"
)

// Store holds budget counters: the amount charged to a key within the
// window that starts at a given time. Implementations are safe for
// concurrent use and exact: every Add is counted once.
type Store interface {
	// Add adds amount to key's counter of the window starting at start and
	// returns the counter after it. An Add for a window older than the
	// key's current one is dropped (that window is over) and returns 0.
	Add(key string, start time.Time, amount int64) int64
	// Get returns key's counter of the window starting at start: 0 when
	// nothing was added in it.
	Get(key string, start time.Time) int64
}

// Local is the Store of one process: per key, the current window's counter
// behind an atomic pointer, so Get and Add take no lock (a new key takes
// sync.Map's, once).
type Local struct {
	m sync.Map // key -> *counter
}

var _ Store = (*Local)(nil)

// NewLocal returns an empty local store.
func NewLocal() *Local { return &Local{} }

// counter is one key's current window.
type counter struct{ cur atomic.Pointer[cell] }

// cell is the count of one window.
type cell struct {
	start int64 // the window's start, Unix nanoseconds
	n     atomic.Int64
}

func (l *Local) counter(key string) *counter {
	if c, ok := l.m.Load(key); ok {
		return c.(*counter)
	}
	c, _ := l.m.LoadOrStore(key, &counter{})
	return c.(*counter)
}

// Add implements Store. The first Add of a newer window replaces the cell
// with a compare-and-swap; concurrent Adds of that window all land in the
// cell that won.
func (l *Local) Add(key string, start time.Time, amount int64) int64 {
	c, s := l.counter(key), start.UnixNano()
	for {
		cur := c.cur.Load()
		switch {
		case cur != nil && cur.start == s:
			return cur.n.Add(amount)
		case cur != nil && cur.start > s:
			return 0
		}
		next := &cell{start: s}
		if c.cur.CompareAndSwap(cur, next) {
			return next.n.Add(amount)
		}
	}
}

// Get implements Store.
func (l *Local) Get(key string, start time.Time) int64 {
	c, ok := l.m.Load(key)
	if !ok {
		return 0
	}
	cur := c.(*counter).cur.Load()
	if cur == nil || cur.start != start.UnixNano() {
		return 0
	}
	return cur.n.Load()
}

// Counter is one key's counter of one window, as the state file keeps it.
type Counter struct {
	Key   string    `json:"key"`
	Start time.Time `json:"window_start"`
	Value int64     `json:"value"`
}

// Snapshot returns every key's current counter.
func (l *Local) Snapshot() []Counter {
	var out []Counter
	l.m.Range(func(k, v any) bool {
		if cur := v.(*counter).cur.Load(); cur != nil {
			out = append(out, Counter{Key: k.(string), Start: time.Unix(0, cur.start).UTC(), Value: cur.n.Load()})
		}
		return true
	})
	return out
}

// Restore adds saved counters (a restart's state file) to the store.
func (l *Local) Restore(cs []Counter) {
	for _, c := range cs {
		l.Add(c.Key, c.Start, c.Value)
	}
}
