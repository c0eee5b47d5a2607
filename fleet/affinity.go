package fleet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/llm-failover/llm-failover/affinity"
)

// This file shares conversation affinity (chains[].affinity) across the
// fleet: a conversation whose next turn reaches another replica finds the
// target that served it there too. Reads stay local: every Put is also
// published on the fleet's affinity channel, and every replica writes what
// it hears into its own bounded store. A turn that arrives at another
// replica before the message (a millisecond on one network) is routed as a
// new conversation would be.

// AffinityStore is the affinity.Store of a fleet member: an affinity.Local
// (bounded, with TTLs, on the local clock) whose Puts are published to the
// other replicas once the fleet starts. Make it before the server
// (processor.Options.AffinityStore) and give it to the fleet
// (Options.Affinity).
type AffinityStore struct {
	*affinity.Local
	fleet atomic.Pointer[Fleet]
}

var _ affinity.Store = (*AffinityStore)(nil)

// NewAffinityStore wraps local.
func NewAffinityStore(local *affinity.Local) *AffinityStore { return &AffinityStore{Local: local} }

// LocalStore returns the wrapped store (the server resizes it on reload
// and exports its size).
func (s *AffinityStore) LocalStore() *affinity.Local { return s.Local }

// Put remembers t for key locally and publishes it to the fleet, without
// waiting: when the queue is full the message is dropped and counted.
func (s *AffinityStore) Put(key affinity.Key, t affinity.Target, ttl time.Duration) {
	s.Local.Put(key, t, ttl)
	if f := s.fleet.Load(); f != nil {
		select {
		case f.affQueue <- affinityMessage{Replica: f.replica, Key: key.String(), Provider: t.Provider, Model: t.Model, TTLMS: ttl.Milliseconds()}:
		default:
			f.stats.dropped.Add(1)
		}
	}
}

// affinityMessage is one conversation's target, published on the fleet's
// affinity channel as JSON.
type affinityMessage struct {
	Replica  string `json:"r"`
	Key      string `json:"k"` // the conversation key, hex
	Provider string `json:"p"`
	Model    string `json:"m"`
	TTLMS    int64  `json:"ttl"`
}

// parseAffinity reads one affinity message; it refuses anything over
// MaxMessageBytes, a key that is not 16 bytes of hex, an empty replica,
// provider or model, and a TTL that is not positive or over a week.
func parseAffinity(s string) (affinityMessage, affinity.Key, error) {
	var m affinityMessage
	var k affinity.Key
	if len(s) > MaxMessageBytes {
		return m, k, fmt.Errorf("%w: %d bytes", errMessage, len(s))
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, k, fmt.Errorf("%w: %v", errMessage, err)
	}
	b, err := hex.DecodeString(m.Key)
	if err != nil || len(b) != len(k) {
		return m, k, fmt.Errorf("%w: key %q", errMessage, m.Key)
	}
	copy(k[:], b)
	if m.Replica == "" || m.Provider == "" || m.Model == "" || m.TTLMS <= 0 || m.TTLMS > int64(7*24*time.Hour/time.Millisecond) {
		return m, k, fmt.Errorf("%w: fields out of range", errMessage)
	}
	return m, k, nil
}

// applyAffinity writes another replica's conversation into the local store.
func (f *Fleet) applyAffinity(payload string) {
	m, k, err := parseAffinity(payload)
	if err != nil {
		f.stats.malformed.Add(1)
		return
	}
	if m.Replica == f.replica || f.affinity == nil {
		return
	}
	f.affinity.Local.Put(k, affinity.Target{Provider: m.Provider, Model: m.Model}, time.Duration(m.TTLMS)*time.Millisecond)
	f.stats.applied.Add(1)
}

// affinityLoop publishes queued conversations, as many as are waiting in
// one pipeline. A failed publish drops them (counted): affinity is a
// preference, and the next turn's answer publishes again.
func (f *Fleet) affinityLoop() {
	defer f.wg.Done()
	batch := make([]affinityMessage, 0, 64)
	for {
		select {
		case <-f.ctx.Done():
			return
		case m := <-f.affQueue:
			batch = append(batch[:0], m)
		}
	more:
		for len(batch) < cap(batch) {
			select {
			case m := <-f.affQueue:
				batch = append(batch, m)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
		pipe := f.rdb.Pipeline()
		for _, m := range batch {
			b, _ := json.Marshal(m) // strings and integers: cannot fail
			pipe.Publish(ctx, f.affChannel, string(b))
		}
		_, err := pipe.Exec(ctx)
		cancel()
		if err != nil {
			if f.ctx.Err() == nil {
				f.fail("affinity", err)
				f.stats.dropped.Add(int64(len(batch)))
			}
			continue
		}
		f.ok()
		f.stats.published.Add(int64(len(batch)))
	}
}
