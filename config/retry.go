package config

// Retry is a chain's retries on the same target (chains[].retry, the
// product brief's `retry: {max_attempts, backoff: exponential}`), expressed
// through Envoy: the plan asks Envoy for max_attempts-1 more attempts on
// its last target (Envoy repeats the last priority group), and Envoy's
// route retry back-off spaces every retry (envoy.retry_base_interval,
// exponential and fully jittered in Envoy: docs/import.md).
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
}

// BackoffExponential is Retry.Backoff's one value.
const BackoffExponential = "exponential"

func (r *Retry) applyDefaults() {
	setInt(&r.MaxAttempts, 1)
	setStr(&r.Backoff, BackoffExponential)
}

func (r *Retry) validate(p *problems, path string) {
	p.intIn(path+".max_attempts", r.MaxAttempts, 1, 6)
	if r.Backoff != BackoffExponential {
		p.bad(path+".backoff", "%q is not exponential (Envoy's retry back-off is exponential with jitter)", r.Backoff)
	}
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
