package fleet

import (
	"context"
	"strconv"
	"time"
)

// Claim implements probe.Claimer for active probes (probes:): the replica
// that takes target's lease (held ttl, the probe interval; renewed by its
// holder) probes it, so the fleet probes each target once per interval
// instead of once per replica. When Redis does not answer within
// fleet.timeout, it claims: a replica alone probes its own targets. It is
// called by the prober's rounds, never on a request's path.
func (f *Fleet) Claim(target string, _ time.Time, ttl time.Duration) bool {
	if f.ctx == nil || f.ctx.Err() != nil {
		return true
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	defer cancel()
	v, err := claimScript.Run(ctx, f.rdb, []string{f.key(target, "active-probe")}, f.replica,
		strconv.FormatInt(max(ttl, time.Millisecond).Milliseconds(), 10)).Int64Slice()
	if err != nil || len(v) != 2 {
		if err != nil && f.ctx.Err() == nil {
			f.fail("active probe claim", err)
		}
		return true
	}
	f.ok()
	return v[0] == 1
}
