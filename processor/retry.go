package processor

import (
	"time"

	"github.com/llm-failover/llm-failover/provider"
)

// This file decides whether a same-target retry (chains[].retry,
// routing.same_target_retries: the plan's extra attempts on its last
// target) is worth making at all.

// envoyBackoffMax is the longest wait Envoy's retry back-off makes before
// an attempt of this chain: its route's retry_back_off max_interval
// (chains[].retry.max, else 10 times envoy.retry_base_interval, Envoy's
// default: retry_state_impl.cc RetryStateImpl::RetryStateImpl).
func (a *attemptStream) envoyBackoffMax() time.Duration {
	_, max := a.st.cfg.RetryBackoff(a.st.cfg.Chain(a.plan.Chain))
	return max
}

// futileRetry reports whether Envoy's next attempt, a retry of this same
// target, would come before the target's own Retry-After ends: a 429 whose
// hint is longer than Envoy's longest back-off would be answered 429 again.
// The attempt is then the last: the client gets the 429 with its
// Retry-After at once, and the breaker keeps the target out of plans until
// the hint ends.
func (a *attemptStream) futileRetry(cls provider.Classification) bool {
	sameTargetNext := a.index+1 >= len(a.plan.Targets)
	return sameTargetNext && cls.Class == provider.ClassRateLimited && cls.RetryAfter > a.envoyBackoffMax()
}
