package processor

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// maxSnapshots bounds how many configuration snapshots are kept for plans in
// flight, however often the configuration is reloaded.
const maxSnapshots = 16

// snapshots keeps the configuration snapshots that plans in flight were made
// with, so that every attempt of a plan runs on the snapshot it was planned
// on (docs/envoy-contract.md, "gen"): a reload that removes a provider does
// not strand a request mid-failover. A replaced snapshot is kept while an
// attempt of one of its plans may still start (config.Config.RequestLifetime), and at most
// maxSnapshots are kept.
type snapshots struct {
	mu   sync.Mutex
	list []kept // oldest first; the last is the current one
}

// kept is a snapshot and when a reload replaced it (zero while current).
type kept struct {
	st      *state
	retired time.Time
}

// add makes st the current snapshot at now and forgets the snapshots no plan
// in flight can need any more. A snapshot of the same generation (the same
// configuration, re-read) is replaced.
func (ss *snapshots) add(st *state, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if n := len(ss.list); n > 0 {
		ss.list[n-1].retired = now
	}
	list := make([]kept, 0, len(ss.list)+1)
	for _, k := range ss.list {
		if k.st.gen != st.gen && now.Sub(k.retired) <= k.st.cfg.RequestLifetime() {
			list = append(list, k)
		}
	}
	list = append(list, kept{st: st})
	if over := len(list) - maxSnapshots; over > 0 {
		list = slices.Clone(list[over:]) // the oldest go, and nothing keeps them
	}
	ss.list = list
}

// get returns the snapshot of generation gen, or nil when it is not kept
// (never loaded here, or forgotten).
func (ss *snapshots) get(gen uint64) *state {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for i := len(ss.list) - 1; i >= 0; i-- {
		if ss.list[i].st.gen == gen {
			return ss.list[i].st
		}
	}
	return nil
}

// generationOf identifies a configuration by its content: the first 53 bits
// of the SHA-256 of its JSON form (exact in the plan's JSON number), so that
// replicas running the same configuration agree on it.
func generationOf(c *config.Config) uint64 {
	b, err := json.Marshal(c)
	if err != nil { // cannot happen: every field marshals
		return 0
	}
	sum := sha256.Sum256(b)
	return binary.BigEndian.Uint64(sum[:8]) >> 11
}
