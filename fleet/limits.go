package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-failover/llm-failover/config"
)

// This file shares the clients' request-rate and token windows
// (fleet.client_limits: shared): every fleet.limits_sync_every, each
// replica adds what it counted since the last sync to the fleet's total of
// each window (INCRBY, expiring after the window) and reads the total
// back; Admit then refuses on the fleet's count. Between syncs a replica
// knows the others' counts as of the last one, so the fleet can overshoot
// a limit by what the other replicas admit in one sync interval.

// limitsLoop syncs the limiter's windows until the fleet stops.
func (f *Fleet) limitsLoop() {
	defer f.wg.Done()
	tick := time.NewTicker(f.cfg.LimitsSyncEvery.D())
	defer tick.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-tick.C:
			if f.limiter != nil && f.cfg.ClientLimits == config.ClientLimitsShared {
				f.syncLimits()
			}
			if f.budgets != nil {
				f.syncBudgets()
			}
		}
	}
}

// syncLimits shares one round of window counts in one pipeline.
func (f *Fleet) syncLimits() {
	ws := f.limiter.Windows(f.clock.Now())
	if len(ws) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	defer cancel()
	pipe := f.rdb.Pipeline()
	totals := make([]*redis.IntCmd, len(ws))
	for i, w := range ws {
		key := f.prefix + "{client:" + w.Client + "}:" + w.Kind + ":" + strconv.FormatInt(w.Start.UnixMilli(), 10)
		totals[i] = pipe.IncrBy(ctx, key, w.Delta)
		pipe.PExpire(ctx, key, w.Length+time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if f.ctx.Err() == nil {
			f.fail("limits", err)
		}
		return
	}
	f.ok()
	for i, w := range ws {
		f.limiter.Shared(w, totals[i].Val())
	}
}
