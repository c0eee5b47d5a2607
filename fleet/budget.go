package fleet

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-failover/llm-failover/budget"
)

// This file shares budget counters (budgets:) across the fleet, as the
// clients' windows are (limits.go): each replica charges its own
// budget.Local; every fleet.limits_sync_every it adds what it charged since
// the last sync to the fleet's counter of each budget window (INCRBY) and
// reads the total back. A budget's decision reads the local counter plus
// the other replicas' as of the last sync, so Redis is never on a request's
// path, and the fleet can overshoot a budget by what the other replicas
// charge in one interval. The local counters are what budgets.state_file
// keeps; the fleet's live in Redis.

// BudgetStore is the budget.Store of a fleet member. Make it before the
// server (processor.Options.BudgetStore) and give it to the fleet
// (Options.Budgets).
type BudgetStore struct {
	*budget.Local
	remote sync.Map // key -> *remoteCount
}

// remoteCount is what the other replicas charged to one key's current
// window, and what this replica has added to the fleet's counter.
type remoteCount struct {
	mu     sync.Mutex
	start  int64 // the window's start, Unix nanoseconds
	others atomic.Int64
	sent   int64
}

var _ budget.Store = (*BudgetStore)(nil)

// NewBudgetStore wraps local.
func NewBudgetStore(local *budget.Local) *BudgetStore { return &BudgetStore{Local: local} }

// LocalStore returns the wrapped store (the state file keeps it).
func (s *BudgetStore) LocalStore() *budget.Local { return s.Local }

// others is what the other replicas charged to key's window of start.
func (s *BudgetStore) others(key string, start time.Time) int64 {
	v, ok := s.remote.Load(key)
	if !ok {
		return 0
	}
	rc := v.(*remoteCount)
	rc.mu.Lock()
	same := rc.start == start.UnixNano()
	rc.mu.Unlock()
	if !same {
		return 0
	}
	return rc.others.Load()
}

// Get implements budget.Store: the fleet's counter as of the last sync.
func (s *BudgetStore) Get(key string, start time.Time) int64 {
	return s.Local.Get(key, start) + s.others(key, start)
}

// Add implements budget.Store: it charges the local counter and returns
// the fleet's (0 for a window that is over, as budget.Local does).
func (s *BudgetStore) Add(key string, start time.Time, amount int64) int64 {
	n := s.Local.Add(key, start, amount)
	if n == 0 && amount > 0 {
		return 0
	}
	return n + s.others(key, start)
}

// synced records that local (this replica's counter of key's window of
// start) is part of the fleet's counter, total.
func (s *BudgetStore) synced(key string, start time.Time, local, total int64) {
	v, _ := s.remote.LoadOrStore(key, &remoteCount{})
	rc := v.(*remoteCount)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if st := start.UnixNano(); rc.start != st {
		if rc.start > st {
			return // a newer window has begun since
		}
		rc.start, rc.sent = st, 0
	}
	rc.sent = max(rc.sent, local)
	rc.others.Store(max(total-local, 0))
}

// unsent is what this replica charged to key's window of start and has
// not added to the fleet's counter.
func (s *BudgetStore) unsent(key string, start time.Time, local int64) int64 {
	v, ok := s.remote.Load(key)
	if !ok {
		return local
	}
	rc := v.(*remoteCount)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.start != start.UnixNano() {
		return local
	}
	return local - rc.sent
}

// budgetWindowTTL outlives any budget window (a month at most).
const budgetWindowTTL = 33 * 24 * time.Hour

// syncBudgets shares one round of budget counters in one pipeline.
func (f *Fleet) syncBudgets() {
	cs := f.budgets.Local.Snapshot()
	if len(cs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	defer cancel()
	pipe := f.rdb.Pipeline()
	totals := make([]*redis.IntCmd, len(cs))
	for i, c := range cs {
		key := f.prefix + "{budget:" + c.Key + "}:" + strconv.FormatInt(c.Start.UnixMilli(), 10)
		totals[i] = pipe.IncrBy(ctx, key, f.budgets.unsent(c.Key, c.Start, c.Value))
		pipe.PExpire(ctx, key, budgetWindowTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if f.ctx.Err() == nil {
			f.fail("budgets", err)
		}
		return
	}
	f.ok()
	for i, c := range cs {
		f.budgets.synced(c.Key, c.Start, c.Value, totals[i].Val())
	}
}
