package config

import (
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// Triggers are the breaker's rate and latency triggers.
type Triggers struct {
	// Latency opens the breaker when time to first response headers is too slow.
	Latency *LatencyTrigger `json:"latency,omitempty"`
	// ErrorRate opens the breaker when too many requests in a window fail.
	ErrorRate *ErrorRateTrigger `json:"error_rate,omitempty"`
	// Quality opens the breaker when too many answers in a window fail the
	// chains' quality checks (quality.go). On by default in breaker.triggers.
	Quality *QualityTrigger `json:"quality,omitempty"`
}

// LatencyTrigger opens a breaker when the EWMA of time to first response
// headers exceeds Threshold after MinRequests samples.
type LatencyTrigger struct {
	// Threshold; 0 disables the trigger. Default 0 (off), bounds 0..10m.
	Threshold Duration `json:"threshold,omitempty"`
	// MinRequests samples are needed before the trigger can fire. Default 5, 1..10000.
	MinRequests int `json:"min_requests,omitempty"`
}

// ErrorRateTrigger opens a breaker when failures/requests in Window reach Threshold.
type ErrorRateTrigger struct {
	// Threshold is a fraction in (0,1]; 0 disables. Default 0 (off).
	Threshold float64 `json:"threshold,omitempty"`
	// Window is the sliding window. Default 60s, 1s..1h.
	Window Duration `json:"window,omitempty"`
	// MinRequests in the window before the rate counts. Default 20, 1..1000000.
	MinRequests int `json:"min_requests,omitempty"`
}

// Breaker holds the circuit-breaker defaults.
type Breaker struct {
	// ConsecutiveFailures opens the breaker. Default 3, 1..1000.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// OpenFor is the first cooldown. Default 30s, 1ms..24h.
	OpenFor Duration `json:"open_for,omitempty"`
	// MaxOpenFor caps the cooldown growth on repeated failures. Default 5m, >= open_for.
	MaxOpenFor Duration `json:"max_open_for,omitempty"`
	// AuthOpenFor is the cooldown after a 401/403. Default 10m.
	AuthOpenFor Duration `json:"auth_open_for,omitempty"`
	// QuotaOpenFor is the cooldown after a quota-exhausted 429. Default 1h.
	QuotaOpenFor Duration `json:"quota_open_for,omitempty"`
	// Jitter spreads cooldowns by ±this fraction. Default 0.1, 0..0.5.
	Jitter *float64 `json:"jitter,omitempty"`
	// HalfOpenProbes is how many probe requests half-open admits at once. Default 1, 1..100.
	HalfOpenProbes int `json:"half_open_probes,omitempty"`
	// ProbeTimeout frees a half-open probe slot whose outcome was not
	// recorded by then (the request was cancelled, or never reached the
	// target), so the target is probed again. A slot the plan itself does
	// not use is freed at once. Default 60s, 1s..1h.
	ProbeTimeout Duration `json:"probe_timeout,omitempty"`
	// RecoveryStages are traffic shares in (0,1], increasing, ending with 1.0.
	// Default [0.1, 0.5, 1.0].
	RecoveryStages []float64 `json:"recovery_stages,omitempty"`
	// RecoveryStageDuration is the time a recovery stage lasts without failure before
	// the next. Default 10s, 1ms..1h.
	RecoveryStageDuration Duration `json:"recovery_stage_duration,omitempty"`
	// Triggers are the default error-rate and latency triggers (off unless set).
	Triggers Triggers `json:"triggers"`
}

// DefaultJitter is breaker.jitter's default. The breaker package's own zero
// value means no jitter; the configuration spreads cooldowns by default.
const DefaultJitter = 0.1

// applyDefaults takes every default from the breaker package, which applies
// the same ones to a zero breaker.Settings, except jitter (DefaultJitter).
func (b *Breaker) applyDefaults() {
	setInt(&b.ConsecutiveFailures, breaker.DefaultConsecutiveFailures)
	setDur(&b.OpenFor, breaker.DefaultOpenFor)
	setDur(&b.MaxOpenFor, breaker.DefaultMaxOpenFor)
	setDur(&b.AuthOpenFor, breaker.DefaultAuthOpenFor)
	setDur(&b.QuotaOpenFor, breaker.DefaultQuotaOpenFor)
	if b.Jitter == nil {
		j := DefaultJitter
		b.Jitter = &j
	}
	setInt(&b.HalfOpenProbes, breaker.DefaultHalfOpenProbes)
	setDur(&b.ProbeTimeout, breaker.DefaultProbeTimeout)
	if len(b.RecoveryStages) == 0 {
		b.RecoveryStages = breaker.DefaultRecoveryStages()
	}
	setDur(&b.RecoveryStageDuration, breaker.DefaultRecoveryStageDuration)
	b.Triggers.applyQualityDefault()
	b.Triggers.applyDefaults()
}

// applyDefaults fills the triggers that are set; an unset trigger stays off.
func (t *Triggers) applyDefaults() {
	if l := t.Latency; l != nil {
		setInt(&l.MinRequests, breaker.DefaultLatencyMinRequests)
	}
	if r := t.ErrorRate; r != nil {
		setDur(&r.Window, breaker.DefaultErrorRateWindow)
		setInt(&r.MinRequests, breaker.DefaultErrorRateMinRequests)
	}
	if q := t.Quality; q != nil {
		q.applyDefaults()
	}
}

func (b *Breaker) validate(p *problems) {
	p.intIn("breaker.consecutive_failures", b.ConsecutiveFailures, 1, 1000)
	p.durIn("breaker.open_for", b.OpenFor, time.Millisecond, 24*time.Hour)
	if b.MaxOpenFor < b.OpenFor {
		p.bad("breaker.max_open_for", "%s is below open_for (%s)", b.MaxOpenFor, b.OpenFor)
	}
	p.durIn("breaker.auth_open_for", b.AuthOpenFor, time.Millisecond, 24*time.Hour)
	p.durIn("breaker.quota_open_for", b.QuotaOpenFor, time.Millisecond, 7*24*time.Hour)
	if j := b.Jitter; j != nil && (*j < 0 || *j > 0.5) {
		p.bad("breaker.jitter", "%g is outside 0..0.5", *j)
	}
	p.intIn("breaker.half_open_probes", b.HalfOpenProbes, 1, 100)
	p.durIn("breaker.probe_timeout", b.ProbeTimeout, time.Second, time.Hour)
	// The breaker package states the stages rule; each problem is reported.
	if len(b.RecoveryStages) == 0 {
		p.bad("breaker.recovery_stages", "at least one stage is required, the last 1.0")
	} else {
		for _, e := range joined(breaker.CheckRecoveryStages(b.RecoveryStages)) {
			p.bad("breaker.recovery_stages", "%v", e)
		}
	}
	p.durIn("breaker.recovery_stage_duration", b.RecoveryStageDuration, time.Millisecond, time.Hour)
	b.Triggers.validate(p, "breaker.triggers")
}

// validate checks the triggers that are set; path names them.
func (t *Triggers) validate(p *problems, path string) {
	if l := t.Latency; l != nil {
		p.durIn(path+".latency.threshold", l.Threshold, 0, 10*time.Minute)
		p.intIn(path+".latency.min_requests", l.MinRequests, 1, 10000)
	}
	if r := t.ErrorRate; r != nil {
		if r.Threshold < 0 || r.Threshold > 1 {
			p.bad(path+".error_rate.threshold", "%g is outside 0..1", r.Threshold)
		}
		p.durIn(path+".error_rate.window", r.Window, time.Second, time.Hour)
		p.intIn(path+".error_rate.min_requests", r.MinRequests, 1, 1_000_000)
	}
	if q := t.Quality; q != nil {
		q.validate(p, path+".quality")
	}
}
