package breaker

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/llm-failover/llm-failover/clock"
)

// Clock tells the time: the module's one Clock (package clock). A nil
// Clock in Settings means the wall clock.
type Clock = clock.Clock

// Defaults applied by New (in Settings.withDefaults, and nowhere else).
const (
	DefaultConsecutiveFailures   = 3
	DefaultOpenFor               = 30 * time.Second
	DefaultMaxOpenFor            = 5 * time.Minute
	DefaultCooldownMultiplier    = 2.0
	DefaultAuthOpenFor           = 10 * time.Minute
	DefaultQuotaOpenFor          = time.Hour
	DefaultHalfOpenProbes        = 1
	DefaultProbeTimeout          = 60 * time.Second
	DefaultRecoveryStageDuration = 10 * time.Second
	DefaultErrorRateWindow       = 60 * time.Second
	DefaultErrorRateMinRequests  = 20
	DefaultLatencyMinRequests    = 5
	DefaultLatencyAlpha          = 0.3
	DefaultQualityWindow         = 5 * time.Minute
	DefaultQualityMinRequests    = 10
	DefaultProbeFailures         = 2

	// MaxHalfOpenProbes bounds Settings.HalfOpenProbes (its slots are
	// allocated once, in New).
	MaxHalfOpenProbes = 1024
)

// DefaultRecoveryStages returns the default traffic shares of the recovery
// stages: 10%, 50%, 100%.
func DefaultRecoveryStages() []float64 { return []float64{0.1, 0.5, 1.0} }

// ErrInvalidSettings is wrapped by every error Settings.Validate reports.
var ErrInvalidSettings = errors.New("breaker: invalid settings")

// Settings configures a Breaker. The zero value works: every zero field takes
// the default given in its comment. New never panics: a field that Validate
// rejects is replaced by its default (or clamped, where the comment says so);
// call Validate to report such fields to the user.
type Settings struct {
	// ConsecutiveFailures opens the breaker on the Nth consecutive Failure
	// (or RateLimited without Retry-After) while Closed. Default 3; >= 1.
	ConsecutiveFailures int
	// OpenFor is the first cooldown. Default 30s; > 0.
	OpenFor time.Duration
	// MaxOpenFor caps the growing cooldown (before jitter). Default 5m;
	// >= OpenFor. If only OpenFor is set and exceeds the default, New raises
	// MaxOpenFor to OpenFor.
	MaxOpenFor time.Duration
	// CooldownMultiplier multiplies the cooldown on each re-open (a failure
	// in HalfOpen or Recovering): OpenFor*CooldownMultiplier^Opens, capped at
	// MaxOpenFor. Default 2; >= 1.
	CooldownMultiplier float64
	// AuthOpenFor is how long an AuthFailure opens the breaker. Default 10m; > 0.
	AuthOpenFor time.Duration
	// QuotaOpenFor is how long a QuotaExhausted opens the breaker. Default 1h; > 0.
	QuotaOpenFor time.Duration
	// Jitter spreads every cooldown: cooldown *= 1 + Jitter*(2u-1), u from
	// Rand. Zero means no jitter (the config layer supplies 0.1). In [0, 1).
	// Jitter never shortens a cooldown below the provider's Retry-After.
	Jitter float64
	// Rand returns u in [0,1) for the jitter. Default math/rand/v2.Float64.
	Rand func() float64
	// HalfOpenProbes is how many probes HalfOpen admits at once. Default 1;
	// in [1, MaxHalfOpenProbes] (New clamps a larger value).
	HalfOpenProbes int
	// ProbeTimeout frees a probe slot whose outcome has not been recorded by
	// then (the request may never have reached this target). Default 60s; > 0.
	ProbeTimeout time.Duration
	// RecoveryStages are the traffic shares admitted in Recovering, one per
	// stage. Default [0.1, 0.5, 1.0]; each in (0, 1], increasing, the
	// last exactly 1.0. New copies the slice.
	RecoveryStages []float64
	// RecoveryStageDuration is how long a stage lasts; it also needs at least
	// one success and no failure before the next stage starts. After the
	// last stage the breaker closes. Default 10s; > 0.
	RecoveryStageDuration time.Duration
	// ProbeFailures opens a Closed breaker on the Nth failed active probe
	// in a row (Outcome.Probe; a success of any kind in between resets the
	// count), with ReasonProbe. Default 2; >= 1.
	ProbeFailures int
	// ErrorRate opens the breaker on a failure ratio. Zero value: off.
	ErrorRate ErrorRate
	// Latency opens the breaker on slow responses. Zero value: off.
	Latency Latency
	// Quality opens the breaker on a share of answers failing quality
	// checks. Zero value: off.
	Quality Quality
	// Clock supplies the time when a method is called with a zero time.
	// Default: the wall clock.
	Clock Clock
	// OnStateChange is called for every transition, after the breaker's lock
	// is released, one call at a time and in transition order. It may call
	// any method of the Breaker. Default: none.
	OnStateChange func(Transition)
	// OnOutcome is called by Record with every outcome, after the breaker's
	// lock is released (package fleet counts failures across replicas
	// with it). It must not block. Default: none.
	OnOutcome func(name string, now time.Time, o Outcome)
}

// ErrorRate opens a Closed breaker when, over the sliding Window, failures
// divided by total outcomes reach Threshold and total is at least
// MinRequests. Success counts in total; Failure, RateLimited, AuthFailure and
// QuotaExhausted count as failures; Neutral is not counted. The window is a
// ring of 10 time buckets (Window/10 wide each), so outcomes leave it in steps
// of Window/10; it allocates nothing per request.
type ErrorRate struct {
	// Threshold is the failure ratio that opens. 0 turns the trigger off;
	// in [0, 1].
	Threshold float64
	// Window is the length of the sliding window. Default 60s; >= 0.
	Window time.Duration
	// MinRequests is the least number of counted outcomes in the window
	// before the ratio is trusted. Default 20; >= 0.
	MinRequests int
}

// Latency opens a breaker (Closed or Recovering) when the exponentially
// weighted moving average of Outcome.Latency (time to first response headers)
// over Success outcomes exceeds Threshold, once MinRequests samples were
// taken since the breaker last opened.
//
// It is an EWMA, not a p95: an EWMA is one float updated in O(1) with no
// allocation and no window of samples, and it follows a sustained slowdown of
// the typical request, which is what a failover should react to. A p95 would
// need a histogram or sorted sample window per target and would also open on
// a slow tail (long prompts, long outputs) that another provider would not
// serve faster. With the default Alpha 0.3 one outlier moves the average by
// 30% of its excess and decays within a few requests.
type Latency struct {
	// Threshold is the EWMA that opens. 0 turns the trigger off; >= 0.
	Threshold time.Duration
	// MinRequests is the least number of samples before the EWMA is
	// trusted. Default 5; >= 0.
	MinRequests int
	// Alpha is the weight of the newest sample. Default 0.3; in (0, 1].
	Alpha float64
}

// Quality opens a Closed or Recovering breaker when, over the sliding
// Window, QualityFailure outcomes divided by answers (Success and
// QualityFailure) reach Threshold and answers are at least MinRequests:
// the brief's "response quality drops below thresholds". Its window is
// its own (the error-rate window's shape, 10 buckets), separate from the
// error rate's, since a target that answers every request badly is
// available but should still be routed around.
type Quality struct {
	// Threshold is the share of failed answers that opens. 0 turns the
	// trigger off; in [0, 1].
	Threshold float64
	// Window is the length of the sliding window. Default 5m; >= 0.
	Window time.Duration
	// MinRequests is the least number of answers in the window before the
	// share is trusted. Default 10; >= 0.
	MinRequests int
}

// withDefaults returns s with every default applied and every invalid field
// replaced; it is the only place defaults are applied.
func (s Settings) withDefaults() Settings {
	if s.ConsecutiveFailures <= 0 {
		s.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if s.ProbeFailures <= 0 {
		s.ProbeFailures = DefaultProbeFailures
	}
	if s.OpenFor <= 0 {
		s.OpenFor = DefaultOpenFor
	}
	if s.MaxOpenFor <= 0 {
		s.MaxOpenFor = DefaultMaxOpenFor
	}
	if s.MaxOpenFor < s.OpenFor {
		s.MaxOpenFor = s.OpenFor
	}
	if !(s.CooldownMultiplier >= 1) || math.IsInf(s.CooldownMultiplier, 0) {
		s.CooldownMultiplier = DefaultCooldownMultiplier
	}
	if s.AuthOpenFor <= 0 {
		s.AuthOpenFor = DefaultAuthOpenFor
	}
	if s.QuotaOpenFor <= 0 {
		s.QuotaOpenFor = DefaultQuotaOpenFor
	}
	if !(s.Jitter >= 0 && s.Jitter < 1) {
		s.Jitter = 0
	}
	if s.Rand == nil {
		s.Rand = rand.Float64
	}
	if s.HalfOpenProbes <= 0 {
		s.HalfOpenProbes = DefaultHalfOpenProbes
	}
	if s.HalfOpenProbes > MaxHalfOpenProbes {
		s.HalfOpenProbes = MaxHalfOpenProbes
	}
	if s.ProbeTimeout <= 0 {
		s.ProbeTimeout = DefaultProbeTimeout
	}
	if len(s.RecoveryStages) == 0 || CheckRecoveryStages(s.RecoveryStages) != nil {
		s.RecoveryStages = DefaultRecoveryStages()
	} else {
		s.RecoveryStages = append([]float64(nil), s.RecoveryStages...)
	}
	if s.RecoveryStageDuration <= 0 {
		s.RecoveryStageDuration = DefaultRecoveryStageDuration
	}
	if !(s.ErrorRate.Threshold > 0 && s.ErrorRate.Threshold <= 1) {
		s.ErrorRate = ErrorRate{}
	} else {
		if s.ErrorRate.Window <= 0 {
			s.ErrorRate.Window = DefaultErrorRateWindow
		}
		if s.ErrorRate.MinRequests <= 0 {
			s.ErrorRate.MinRequests = DefaultErrorRateMinRequests
		}
	}
	if s.Latency.Threshold <= 0 {
		s.Latency = Latency{}
	} else {
		if s.Latency.MinRequests <= 0 {
			s.Latency.MinRequests = DefaultLatencyMinRequests
		}
		if !(s.Latency.Alpha > 0 && s.Latency.Alpha <= 1) {
			s.Latency.Alpha = DefaultLatencyAlpha
		}
	}
	if !(s.Quality.Threshold > 0 && s.Quality.Threshold <= 1) {
		s.Quality = Quality{}
	} else {
		if s.Quality.Window <= 0 {
			s.Quality.Window = DefaultQualityWindow
		}
		if s.Quality.MinRequests <= 0 {
			s.Quality.MinRequests = DefaultQualityMinRequests
		}
	}
	if s.Clock == nil {
		s.Clock = clock.Wall{}
	}
	return s
}

// Validate reports every invalid field, each with its path, joined with
// errors.Join; each wraps ErrInvalidSettings. Zero fields are valid (they
// take defaults). It never panics.
func (s Settings) Validate() error {
	var errs []error
	bad := func(path string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidSettings, path, fmt.Sprintf(format, args...)))
	}
	nonNeg := func(path string, d time.Duration) {
		if d < 0 {
			bad(path, "must not be negative, got %v", d)
		}
	}
	if s.ConsecutiveFailures < 0 {
		bad("ConsecutiveFailures", "must not be negative, got %d", s.ConsecutiveFailures)
	}
	if s.ProbeFailures < 0 {
		bad("ProbeFailures", "must not be negative, got %d", s.ProbeFailures)
	}
	nonNeg("OpenFor", s.OpenFor)
	nonNeg("MaxOpenFor", s.MaxOpenFor)
	if s.OpenFor > 0 && s.MaxOpenFor > 0 && s.MaxOpenFor < s.OpenFor {
		bad("MaxOpenFor", "%v is below OpenFor %v", s.MaxOpenFor, s.OpenFor)
	}
	if s.CooldownMultiplier != 0 && (!(s.CooldownMultiplier >= 1) || math.IsInf(s.CooldownMultiplier, 0)) {
		bad("CooldownMultiplier", "must be 0 (default) or a finite value >= 1, got %v", s.CooldownMultiplier)
	}
	nonNeg("AuthOpenFor", s.AuthOpenFor)
	nonNeg("QuotaOpenFor", s.QuotaOpenFor)
	if !(s.Jitter >= 0 && s.Jitter < 1) {
		bad("Jitter", "must be in [0, 1), got %v", s.Jitter)
	}
	if s.HalfOpenProbes < 0 || s.HalfOpenProbes > MaxHalfOpenProbes {
		bad("HalfOpenProbes", "must be in [0, %d], got %d", MaxHalfOpenProbes, s.HalfOpenProbes)
	}
	nonNeg("ProbeTimeout", s.ProbeTimeout)
	if len(s.RecoveryStages) > 0 {
		if err := CheckRecoveryStages(s.RecoveryStages); err != nil {
			bad("RecoveryStages", "%v", err)
		}
	}
	nonNeg("RecoveryStageDuration", s.RecoveryStageDuration)
	if !(s.ErrorRate.Threshold >= 0 && s.ErrorRate.Threshold <= 1) {
		bad("ErrorRate.Threshold", "must be in [0, 1], got %v", s.ErrorRate.Threshold)
	}
	nonNeg("ErrorRate.Window", s.ErrorRate.Window)
	if s.ErrorRate.MinRequests < 0 {
		bad("ErrorRate.MinRequests", "must not be negative, got %d", s.ErrorRate.MinRequests)
	}
	nonNeg("Latency.Threshold", s.Latency.Threshold)
	if s.Latency.MinRequests < 0 {
		bad("Latency.MinRequests", "must not be negative, got %d", s.Latency.MinRequests)
	}
	if !(s.Latency.Alpha >= 0 && s.Latency.Alpha <= 1) {
		bad("Latency.Alpha", "must be in [0, 1] (0 = default), got %v", s.Latency.Alpha)
	}
	if !(s.Quality.Threshold >= 0 && s.Quality.Threshold <= 1) {
		bad("Quality.Threshold", "must be in [0, 1], got %v", s.Quality.Threshold)
	}
	nonNeg("Quality.Window", s.Quality.Window)
	if s.Quality.MinRequests < 0 {
		bad("Quality.MinRequests", "must not be negative, got %d", s.Quality.MinRequests)
	}
	return errors.Join(errs...)
}

// CheckRecoveryStages checks a non-empty RecoveryStages list: each share in
// (0, 1], each above the one before, the last exactly 1.0. It reports every
// problem (errors.Join) and is the one statement of that rule: config's
// validation calls it too.
func CheckRecoveryStages(stages []float64) error {
	var errs []error
	prev := 0.0
	for i, v := range stages {
		switch {
		case !(v > 0 && v <= 1):
			errs = append(errs, fmt.Errorf("stage %d: share must be in (0, 1], got %v", i, v))
		case v <= prev:
			errs = append(errs, fmt.Errorf("stage %d: share %v does not increase on the previous stage's %v", i, v, prev))
		}
		prev = v
	}
	if n := len(stages); n > 0 && stages[n-1] != 1 {
		errs = append(errs, fmt.Errorf("last stage's share must be 1.0, got %v", stages[n-1]))
	}
	return errors.Join(errs...)
}
