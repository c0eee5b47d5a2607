package affinity

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/llm-failover/llm-failover/clock"
)

// Target is the target that served a conversation.
type Target struct {
	Provider string
	Model    string
}

// String returns "provider/model", the target's breaker key.
func (t Target) String() string { return t.Provider + "/" + t.Model }

// Store remembers the target that last served each conversation. Get and
// Put must be safe for concurrent use and must not block on the network
// for long: the route phase calls Get while planning and Put when an
// answer's headers pass. A fleet-wide implementation (issue 18) answers Get
// from a local copy and writes Put through asynchronously.
type Store interface {
	// Get returns the target remembered for key, if any and not expired.
	Get(key Key) (Target, bool)
	// Put remembers t for key for ttl from now, replacing any earlier target.
	Put(key Key, t Target, ttl time.Duration)
}

// Local is the in-process Store: at most a fixed number of conversations
// (the least recently used is forgotten first), each expiring ttl after
// its last Put, on an injected clock. It is golang-lru's simplelru (not
// safe for concurrent use) inside one mutex, so that reading an entry and
// dropping it once expired is one step. It starts no goroutine: an expired
// entry is dropped when it is read, or evicted by newer ones.
type Local struct {
	clock clock.Clock

	mu  sync.Mutex
	lru *simplelru.LRU[Key, entry]
}

var _ Store = (*Local)(nil)

type entry struct {
	target  Target
	expires time.Time
}

// NewLocal returns a Local holding at most size conversations (at least 1)
// on clock c (nil: the wall clock).
func NewLocal(size int, c clock.Clock) *Local {
	if c == nil {
		c = clock.Wall{}
	}
	l, _ := simplelru.NewLRU[Key, entry](max(size, 1), nil) // errors only for size <= 0
	return &Local{clock: c, lru: l}
}

// Get returns the live target of key; an expired entry is forgotten.
func (l *Local) Get(key Key) (Target, bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.lru.Get(key)
	if !ok {
		return Target{}, false
	}
	if !now.Before(e.expires) {
		l.lru.Remove(key)
		return Target{}, false
	}
	return e.target, true
}

// Put remembers t for key until ttl from now.
func (l *Local) Put(key Key, t Target, ttl time.Duration) {
	e := entry{target: t, expires: l.clock.Now().Add(ttl)}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lru.Add(key, e)
}

// Resize changes the bound (at least 1), forgetting the least recently
// used conversations beyond it.
func (l *Local) Resize(size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lru.Resize(max(size, 1))
}

// Len is the number of conversations held, expired ones not yet dropped
// included.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
