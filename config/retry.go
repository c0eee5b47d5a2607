package config

import "time"

// Retry is a chain's retries on the same target (chains[].retry, the
// product brief's `retry: {max_attempts, backoff: exponential, base, max,
// jitter}`), expressed through Envoy: the plan asks Envoy for
// max_attempts-1 more attempts on its last target (Envoy repeats the last
// priority group), and Envoy's retry back-off spaces every retry of the
// chain's requests (exponential and fully jittered in Envoy; a chain whose
// base or max differs from the route's gets routes of its own, selected by
// the x-llm-failover-chain header the route phase sets: docs/import.md).
type Retry struct {
	// MaxAttempts is the attempts on the plan's last target, the first
	// included; it overrides routing.same_target_retries (which is
	// max_attempts-1) for this chain. Default 1 (no same-target retry),
	// 1..6.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Backoff is how retries are spaced: "exponential" (the default and
	// the only value): Envoy's retry back-off, base
	// envoy.retry_base_interval, the n-th retry waiting a random time in
	// [0, base*2^(n-1)), the interval capped at 10*base (Envoy's
	// JitteredExponentialBackOffStrategy, common/backoff_strategy.cc).
	Backoff string `json:"backoff,omitempty"`
	// Base is the back-off's base interval. Default
	// envoy.retry_base_interval, 1ms..10s.
	Base Duration `json:"base,omitempty"`
	// Max caps the back-off's interval (Envoy's retry_back_off
	// max_interval). Default 10*base, base..60s.
	Max Duration `json:"max,omitempty"`
	// Jitter spreads each wait at random over [0, interval): Envoy's
	// back-off is always fully jittered. Default true; false is refused.
	Jitter *bool `json:"jitter,omitempty"`
}

// BackoffExponential is Retry.Backoff's one value.
const BackoffExponential = "exponential"

// applyDefaults fills the unset fields; base takes envoyBase
// (envoy.retry_base_interval, so it runs after the envoy section's).
func (r *Retry) applyDefaults(envoyBase time.Duration) {
	setInt(&r.MaxAttempts, 1)
	setStr(&r.Backoff, BackoffExponential)
	setDur(&r.Base, envoyBase)
	setDur(&r.Max, 10*r.Base.D())
	if r.Jitter == nil {
		t := true
		r.Jitter = &t
	}
}

func (r *Retry) validate(p *problems, path string) {
	p.intIn(path+".max_attempts", r.MaxAttempts, 1, 6)
	if r.Backoff != BackoffExponential {
		p.bad(path+".backoff", "%q is not exponential (Envoy's retry back-off is exponential with jitter)", r.Backoff)
	}
	p.durIn(path+".base", r.Base, time.Millisecond, 10*time.Second)
	if r.Max < r.Base {
		p.bad(path+".max", "%s is below base (%s)", r.Max, r.Base)
	}
	p.durIn(path+".max", r.Max, time.Millisecond, time.Minute)
	if r.Jitter != nil && !*r.Jitter {
		p.bad(path+".jitter", "Envoy's retry back-off is always jittered (a random wait in [0, interval)); remove jitter: false")
	}
}

// RetryBackoff is the retry back-off of chain ch's requests: its retry's
// base and max, else the route's (envoy.retry_base_interval, and Envoy's
// default max_interval, ten times it).
func (c *Config) RetryBackoff(ch *Chain) (base, max time.Duration) {
	if ch != nil && ch.Retry != nil && ch.Retry.Base > 0 {
		return ch.Retry.Base.D(), ch.Retry.Max.D()
	}
	b := c.Envoy.RetryBaseInterval.D()
	return b, 10 * b
}

// SameTargetRetries is the extra attempts on the plan's last target for
// chain ch: its retry's, else routing.same_target_retries.
func (c *Config) SameTargetRetries(ch *Chain) int {
	if ch != nil && ch.Retry != nil {
		return ch.Retry.MaxAttempts - 1
	}
	if c.Routing.SameTargetRetries == nil {
		return 0
	}
	return *c.Routing.SameTargetRetries
}
