package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// This file counts failures across the fleet (fleet.shared_counting).

// Reasons of openings decided by the fleet's shared counts.
const (
	ReasonSharedConsecutive = "consecutive failures across the fleet"
	ReasonSharedErrorRate   = "error rate across the fleet"
)

// countKind is how the shared count takes an outcome: "s" resets the
// consecutive failures and counts a request, "f" counts a failure, ""
// leaves it out (a neutral outcome; and auth, quota and Retry-After
// outcomes, which open the breaker that saw them at once and are shared as
// that transition).
func countKind(o breaker.Outcome) string {
	switch o.Kind {
	case breaker.Success:
		return "s"
	case breaker.Failure:
		return "f"
	case breaker.RateLimited:
		if o.RetryAfter == 0 {
			return "f"
		}
	}
	return ""
}

// countLoop counts queued outcomes of closed breakers fleet-wide, and opens
// the breaker when the fleet's count reaches its trigger.
func (f *Fleet) countLoop() {
	defer f.wg.Done()
	for {
		select {
		case <-f.ctx.Done():
			return
		case oc := <-f.outcomes:
			f.count(oc)
		}
	}
}

func (f *Fleet) count(oc outcome) {
	b := f.reg.Lookup(oc.target)
	if b == nil || b.Snapshot(oc.at).State != breaker.Closed {
		return // only a closed breaker counts toward opening
	}
	kind := countKind(oc.o)
	er := b.ErrorRateSettings()
	keys := []string{f.key(oc.target, "count")}
	windowOn, bucketTTL := "0", int64(1)
	countTTL := int64(10 * time.Minute / time.Millisecond)
	if er.Threshold > 0 && er.Window > 0 {
		windowOn = "1"
		width := max(er.Window/10, time.Millisecond)
		idx := oc.at.UnixMilli() / width.Milliseconds()
		for i := int64(0); i < 10; i++ {
			keys = append(keys, f.key(oc.target, "win:"+strconv.FormatInt(idx-i, 10)))
		}
		bucketTTL = (er.Window + width).Milliseconds()
		countTTL = max(countTTL, bucketTTL)
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	v, err := countScript.Run(ctx, f.rdb, keys, kind, bucketTTL, windowOn, countTTL).Int64Slice()
	cancel()
	if err == nil && len(v) != 3 {
		err = errMessage
	}
	if err != nil {
		if f.ctx.Err() == nil {
			f.fail("count", err)
		}
		return
	}
	f.ok()
	consecutive, requests, failures := int(v[0]), int(v[1]), int(v[2])
	now := f.clock.Now()
	switch {
	case kind == "f" && consecutive >= b.ConsecutiveFailuresToOpen():
		if b.OpenShared(now, oc.o, ReasonSharedConsecutive, consecutive) {
			f.stats.sharedOpens.Add(1)
		}
	case windowOn == "1" && requests >= er.MinRequests && requests > 0 && float64(failures) >= er.Threshold*float64(requests):
		if b.OpenShared(now, oc.o, ReasonSharedErrorRate, failures) {
			f.stats.sharedOpens.Add(1)
		}
	}
}
