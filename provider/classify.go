package provider

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Class is what an attempt's outcome means for the breaker and for failover.
type Class uint8

// The outcome classes.
const (
	ClassSuccess        Class = iota
	ClassRateLimited          // 429: fail over; the breaker opens for the provider's hint
	ClassQuotaExhausted       // 429 insufficient_quota / spend limit: trip for long, fail over
	ClassOverloaded           // 529, 503 overloaded, in-stream overloaded_error: fail over
	ClassServerError          // other 5xx: fail over
	ClassAuth                 // 401/403: this provider's key; fail over, trip for long
	ClassTimeout              // 408 / 504 / no response headers: fail over
	ClassContextLength        // context window exceeded: fail over only to a larger window
	ClassContentPolicy        // content filtered: return it, do not fail over
	ClassInvalidRequest       // 400/404/413/422: return it
	ClassClientError          // any other 4xx: return it
	ClassCancelled            // the client left before an answer: nobody's failure (neutral)
	ClassCut                  // an answer torn down after it reached the client: provider or client, unknown (neutral)
	ClassQuality              // a 200 answer that failed a chain's quality check (Code: the reason, quality.go): fail over
)

var classNames = [...]string{"success", "rate_limited", "quota_exhausted", "overloaded", "server_error",
	"auth", "timeout", "context_length", "content_policy", "invalid_request", "client_error", "cancelled", "cut", "quality"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// FailsOver reports whether another target may serve a request that got c.
// ClassContextLength fails over only to a larger window; the caller decides.
func (c Class) FailsOver() bool {
	switch c {
	case ClassRateLimited, ClassQuotaExhausted, ClassOverloaded, ClassServerError, ClassAuth, ClassTimeout, ClassQuality:
		return true
	}
	return false
}

// Classification is one response's meaning.
type Classification struct {
	Class  Class
	Status int
	// RetryAfter is the provider's hint (Retry-After, retry-after-ms,
	// x-ratelimit-reset-*, anthropic-ratelimit-*-reset); 0 when none.
	RetryAfter time.Duration
	// Type, Code and Message come from the provider's error body, if any.
	Type, Code, Message string
}

// ClassifyStatus gives the class a bare status code implies.
func ClassifyStatus(status int) Class {
	switch {
	case status < 400:
		return ClassSuccess
	case status == 429:
		return ClassRateLimited
	case status == 401 || status == 403:
		return ClassAuth
	case status == 408 || status == 504:
		return ClassTimeout
	case status == 529 || status == 503:
		return ClassOverloaded
	case status >= 500:
		return ClassServerError
	case status == 400 || status == 404 || status == 413 || status == 422:
		return ClassInvalidRequest
	}
	return ClassClientError
}

// classifyOpenAIStyle classifies an OpenAI-shaped error: {"error":{"message","type","code"}}.
func classifyOpenAIStyle(status int, h http.Header, body []byte, now time.Time) Classification {
	c := Classification{Class: ClassifyStatus(status), Status: status, RetryAfter: RetryAfter(h, now)}
	e := gjson.GetBytes(body, "error")
	if e.IsObject() {
		c.Type = e.Get("type").String()
		c.Code = e.Get("code").String()
		c.Message = e.Get("message").String()
	} else if e.Type == gjson.String {
		c.Message = e.String()
	}
	refine(&c)
	return c
}

// refine adjusts a status class by the error's type, code and message.
func refine(c *Classification) {
	lower := strings.ToLower(c.Code + " " + c.Type + " " + c.Message)
	switch {
	case strings.Contains(lower, "insufficient_quota") || strings.Contains(lower, "quota exceeded") ||
		strings.Contains(lower, "billing") || strings.Contains(lower, "spend limit") ||
		strings.Contains(lower, "resource_exhausted") && strings.Contains(lower, "quota"):
		if c.Status == 429 || c.Status == 403 || c.Status == 402 {
			c.Class = ClassQuotaExhausted
		}
	case strings.Contains(lower, "context_length_exceeded") || strings.Contains(lower, "context length") ||
		strings.Contains(lower, "context window") || strings.Contains(lower, "prompt is too long") ||
		strings.Contains(lower, "maximum context") || strings.Contains(lower, "too many tokens"):
		if c.Status == 400 || c.Status == 413 || c.Status == 422 {
			c.Class = ClassContextLength
		}
	case strings.Contains(lower, "content_filter") || strings.Contains(lower, "content_policy") ||
		strings.Contains(lower, "content management policy") || strings.Contains(lower, "safety"):
		if c.Status == 400 || c.Status == 403 {
			c.Class = ClassContentPolicy
		}
	case strings.Contains(lower, "overloaded"):
		if c.Status >= 500 {
			c.Class = ClassOverloaded
		}
	}
}

// RetryAfter reads a provider's rate-limit hint from response headers.
// Retry-After (seconds or HTTP date) and retry-after-ms say when to retry and
// win when present (the larger of the two). Without them the hint is the
// largest of x-ratelimit-reset-requests / -tokens / x-ratelimit-reset
// (OpenAI durations like "6m0s", "1.5s", "20ms", seconds, Unix epoch seconds
// or milliseconds, RFC 3339) and anthropic-ratelimit-*-reset (RFC 3339):
// those are sent on every response and say when a whole bucket refills,
// which overstates the wait when a retry hint exists. Zero when none parse;
// hints of a week or more are ignored.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	var best time.Duration
	take := func(d time.Duration) {
		if d > best && d < MaxRetryAfter {
			best = d
		}
	}
	if v := h.Get("Retry-After"); v != "" {
		if d, ok := ParseRetryAfter(v, now); ok {
			take(d)
		}
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && n >= 0 {
			take(time.Duration(n * float64(time.Millisecond)))
		}
	}
	if best > 0 {
		return best
	}
	for _, k := range []string{"X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens", "X-Ratelimit-Reset"} {
		if v := h.Get(k); v != "" {
			take(parseResetDuration(v, now))
		}
	}
	for _, k := range []string{"Anthropic-Ratelimit-Requests-Reset", "Anthropic-Ratelimit-Tokens-Reset",
		"Anthropic-Ratelimit-Input-Tokens-Reset", "Anthropic-Ratelimit-Output-Tokens-Reset"} {
		if v := h.Get(k); v != "" {
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(v)); err == nil {
				take(t.Sub(now))
			}
		}
	}
	return best
}

// MaxRetryAfter is the longest rate-limit hint taken: longer ones are ignored.
const MaxRetryAfter = 7 * 24 * time.Hour

// ParseRetryAfter reads a Retry-After value (delay-seconds, fractions
// accepted, or an HTTP date) as a wait from now. ok is false for what the
// breaker ignores: unparseable, negative, a date in the past, or
// MaxRetryAfter or more.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if !(n >= 0 && n < MaxRetryAfter.Seconds()) { // NaN and Inf too
			return 0, false
		}
		d = time.Duration(n * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d < 0 || d >= MaxRetryAfter {
		return 0, false
	}
	return d, true
}

// parseResetDuration reads "6m0s", "1.5s", "20ms", a number of seconds, or RFC 3339.
func parseResetDuration(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
		switch {
		case n >= 1e12: // Unix epoch milliseconds
			return time.UnixMilli(int64(n)).Sub(now)
		case n >= 1e9: // Unix epoch seconds
			return time.Unix(int64(n), 0).Sub(now)
		}
		return time.Duration(n * float64(time.Second))
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.Sub(now)
	}
	return 0
}
