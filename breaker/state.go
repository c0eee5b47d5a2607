package breaker

import "strconv"

// State is the state of a Breaker.
type State uint8

const (
	// Closed admits every request.
	Closed State = iota
	// Open rejects every request until its cooldown ends.
	Open
	// HalfOpen admits up to Settings.HalfOpenProbes concurrent probes.
	HalfOpen
	// Recovering admits a growing share of requests, stage by stage.
	Recovering
)

// String returns "closed", "open", "half-open", "recovering" or "state(N)".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case Recovering:
		return "recovering"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Kind classifies the outcome of one attempt on a target.
type Kind uint8

const (
	// Success is a healthy answer (2xx, first stream event good).
	Success Kind = iota
	// Failure is a transient failure: 5xx, 529 overload, reset, timeout,
	// in-stream error.
	Failure
	// RateLimited is a 429; Outcome.RetryAfter carries the provider's hint.
	RateLimited
	// AuthFailure is a 401/403: the target opens at once for
	// Settings.AuthOpenFor.
	AuthFailure
	// QuotaExhausted is a 429 insufficient_quota or spend limit: the target
	// opens at once for Settings.QuotaOpenFor.
	QuotaExhausted
	// Neutral says nothing about the target's health (a client error such as
	// 400, 404, 413); it only frees a probe slot.
	Neutral
	// QualityFailure is an answer that failed a quality check (empty,
	// invalid JSON, truncated, refusal): the target answers, but badly.
	// It counts only in the quality window (Settings.Quality), never
	// towards consecutive failures or the error rate; a half-open probe
	// answered so fails.
	QualityFailure
)

// String returns "success", "failure", "rate-limited", "auth-failure",
// "quota-exhausted", "neutral", "quality-failure" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case RateLimited:
		return "rate-limited"
	case AuthFailure:
		return "auth-failure"
	case QuotaExhausted:
		return "quota-exhausted"
	case Neutral:
		return "neutral"
	case QualityFailure:
		return "quality-failure"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Decision is the answer of Breaker.Allow.
type Decision uint8

const (
	// Reject: do not send this request to the target.
	Reject Decision = iota
	// Allow: send it.
	Allow
	// Probe: send it as a half-open probe; it holds a probe slot until its
	// outcome is recorded or Settings.ProbeTimeout passes.
	Probe
)

// String returns "reject", "allow", "probe" or "decision(N)".
func (d Decision) String() string {
	switch d {
	case Reject:
		return "reject"
	case Allow:
		return "allow"
	case Probe:
		return "probe"
	}
	return "decision(" + strconv.Itoa(int(d)) + ")"
}
