package events

import (
	"strings"
	"time"
)

// Version is the schema version written in every Event's "v" field. A
// change that renames or removes a field, or changes a field's meaning,
// bumps it; adding a field does not (readers ignore unknown fields).
const Version = 1

// Kind is what an Event reports.
type Kind string

// The kinds of version 1. A reader must accept (and may skip) kinds it does
// not know.
const (
	// KindFailover: an attempt failed in a way that makes Envoy retry on
	// the next target of the plan.
	KindFailover Kind = "failover"
	// KindBreakerTransition: a target's breaker changed state (or recovery
	// stage).
	KindBreakerTransition Kind = "breaker_transition"
	// KindPolicyDenial: the route phase refused a request (client policy,
	// every target open, no capable target).
	KindPolicyDenial Kind = "policy_denial"
	// KindConfigReload: a configuration was loaded (or refused).
	KindConfigReload Kind = "config_reload"
	// KindProbe: the route phase planned a half-open probe of a target
	// (reason "probe"), or the server sent an active probe (reason
	// "active", package probe).
	KindProbe Kind = "probe"
	// KindExhausted: the last planned attempt failed in a way that would
	// fail over, and no target is left: the client gets the error.
	KindExhausted Kind = "exhausted"
	// KindFallbackServed: an attempt after the first answered: a fallback
	// served the request.
	KindFallbackServed Kind = "fallback_served"
	// KindAnswerCost: an answer reached the client and its usage is known:
	// its tokens and cost (one per answer, first attempts included).
	KindAnswerCost Kind = "answer_cost"
	// KindBudget: a budget crossed its warning share or was exhausted
	// (once per budget, window and threshold in one process).
	KindBudget Kind = "budget"
	// KindAttempt: one attempt's outcome, as its target's breaker recorded
	// it (opt-in: audit.attempts). The input of the replay lab (package
	// replay); one line per attempt.
	KindAttempt Kind = "attempt"
	// KindAffinityMoved: a conversation remembered on one target was
	// answered by another, which it now stays on (conversation affinity).
	KindAffinityMoved Kind = "affinity_moved"
	// KindRegionOutage: a region's share of open targets reached
	// routing.regional_outage_share (reason "start") or fell below it
	// ("end"): its targets are planned behind every other region's while
	// it lasts.
	KindRegionOutage Kind = "region_outage"
)

// Routine reports a kind published for every request (answer_cost): the
// Bus's history does not keep it, so it cannot push the rest out, and a
// subscription may skip it (SubscribeOptions.SkipRoutine).
func (k Kind) Routine() bool { return k == KindAnswerCost }

// Target names one failover target: a provider and one of its models.
type Target struct {
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
}

// ParseTarget splits a target key "provider/model" (a breaker's name) at
// its first slash; a key without a slash is a provider alone.
func ParseTarget(key string) Target {
	p, m, _ := strings.Cut(key, "/")
	return Target{Provider: p, Model: m}
}

// String returns "provider/model", or "" for the zero Target.
func (t Target) String() string {
	if t.Model == "" {
		return t.Provider
	}
	return t.Provider + "/" + t.Model
}

// IsZero reports whether t names nothing.
func (t Target) IsZero() bool { return t == Target{} }

// Event is one audit record, schema version 1 (docs/audit.md). Fields that
// do not apply to a kind are left zero and omitted from JSON. It holds no
// part of a prompt or an answer and never a key.
type Event struct {
	// V is the schema version; Publish sets it to Version.
	V int `json:"v"`
	// Seq numbers the events of one Bus from 1, in publish order; Publish
	// sets it. A gap seen by a subscriber means it dropped events.
	Seq uint64 `json:"seq"`
	// Time is when it happened (UTC); Publish sets it from the Bus clock
	// when zero.
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// RequestID is Envoy's x-request-id of the request concerned.
	RequestID string `json:"request_id,omitempty"`
	// Chain is the routing chain the request was planned on.
	Chain string `json:"chain,omitempty"`
	// Client is the authenticated client's name (never its key).
	Client string `json:"client,omitempty"`
	// From is the target that failed (failover), the breaker's target
	// (breaker_transition, probe).
	From Target `json:"from,omitzero"`
	// To is the next target of the plan, when known (failover).
	To Target `json:"to,omitzero"`
	// Reason is a short, fixed phrase: the failure's classification
	// (failover), the transition's cause (breaker_transition), the refusal
	// (policy_denial), "ok" or the error (config_reload).
	Reason string `json:"reason,omitempty"`
	// Quality is the quality check that failed, when Reason is "quality"
	// (failover, exhausted): empty, invalid_json, truncated or refusal.
	Quality string `json:"quality,omitempty"`
	// Status is the HTTP status the provider answered (failover) or the
	// client was given (policy_denial); 0 when none (a reset, a timeout).
	Status int `json:"status,omitempty"`
	// Attempt is Envoy's attempt number, from 1 (failover, exhausted,
	// fallback_served).
	Attempt int `json:"attempt,omitempty"`
	// AddedLatencyMS is the time the failed attempt cost the request, in
	// milliseconds (failover).
	AddedLatencyMS int64 `json:"added_latency_ms,omitempty"`
	// BreakerFrom and BreakerTo are the breaker states ("closed", "open",
	// "half-open", "recovering") of a breaker_transition.
	BreakerFrom string `json:"breaker_from,omitempty"`
	BreakerTo   string `json:"breaker_to,omitempty"`
	// Stage is the recovery stage entered (breaker_transition to
	// recovering).
	Stage int `json:"stage,omitempty"`
	// Failures is the number of failures that opened the breaker
	// (breaker_transition to open).
	Failures int `json:"failures,omitempty"`
	// CooldownUntil is when an opened breaker's cooldown ends
	// (breaker_transition to open).
	CooldownUntil time.Time `json:"cooldown_until,omitzero"`
	// ConfigGen identifies the configuration (the "gen" every plan
	// carries): the one loaded (config_reload), or the one the request was
	// planned with (failover, exhausted, fallback_served).
	ConfigGen uint64 `json:"config_gen,omitempty"`
	// Detail is a bounded, sanitized human message (e.g. the provider's
	// error class, a config error); never a prompt, answer or key.
	Detail string `json:"detail,omitempty"`
	// InputTokens (cached ones included), CachedInputTokens and
	// OutputTokens are an answer's usage (answer_cost; attempt: below).
	InputTokens       int64 `json:"input_tokens,omitempty"`
	CachedInputTokens int64 `json:"cached_input_tokens,omitempty"`
	OutputTokens      int64 `json:"output_tokens,omitempty"`
	// CostUSD is the answer's cost in US dollars (answer_cost); nil when
	// the target has no price: unknown, never 0.
	CostUSD *float64 `json:"cost_usd,omitempty"`
	// UsageEstimated is set when the answer reported no usage and the
	// tokens (and cost) are estimates (answer_cost).
	UsageEstimated bool `json:"usage_estimated,omitempty"`
	// Budget names the budget concerned (budget; policy_denial
	// budget_exceeded).
	Budget string `json:"budget,omitempty"`
	// Conversation is the first 8 hex characters of the conversation's key
	// (a keyed hash, never the identifier it was made from), to follow one
	// conversation across events (affinity_moved).
	Conversation string `json:"conversation,omitempty"`
	// Region is the region concerned (region_outage).
	Region string `json:"region,omitempty"`
	// Since is when the outage started (region_outage, reason "end").
	Since time.Time `json:"since,omitzero"`
	// ProbeLatencyMS is an active probe's duration through Envoy, in
	// milliseconds (probe, reason active).
	ProbeLatencyMS int64 `json:"probe_latency_ms,omitempty"`
	// ProbeInputTokens and ProbeOutputTokens are the tokens an active
	// probe's answer reported (probe, reason active): what it cost.
	ProbeInputTokens  int64 `json:"probe_input_tokens,omitempty"`
	ProbeOutputTokens int64 `json:"probe_output_tokens,omitempty"`

	// The fields below describe one attempt (kind attempt); Time is when its
	// outcome was recorded on the target's breaker, From its target,
	// Reason its provider classification ("success", "overloaded", ...),
	// Status the provider's status (0: none), Attempt Envoy's attempt number.

	// Model is the model the client asked for, so that another
	// configuration can resolve the request's chain again.
	Model string `json:"model,omitempty"`
	// Outcome is what the breaker recorded: "success", "failure",
	// "rate-limited", "auth-failure", "quota-exhausted", "neutral".
	Outcome string `json:"outcome,omitempty"`
	// SentAt is when the attempt was sent to its provider.
	SentAt time.Time `json:"sent_at,omitzero"`
	// TTFBMS is the time from SentAt to the provider's response headers,
	// in milliseconds; 0 when none came.
	TTFBMS int64 `json:"ttfb_ms,omitempty"`
	// LatencyMS is the time from SentAt to Time, in milliseconds.
	LatencyMS int64 `json:"latency_ms,omitempty"`
	// RetryAfterMS is the provider's Retry-After hint, in milliseconds
	// (rate_limited only); 0 when none.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// InputTokens and OutputTokens (above) are, on an attempt event, the
	// tokens a whole (not streamed) answer reported; 0 when unknown.
	// Planned is the number of attempts the request's plan allowed (its
	// targets plus same-target retries); 0 when unknown.
	Planned int `json:"planned,omitempty"`
	// ActiveProbe marks an attempt of an active probe (package probe), not
	// of a client's request.
	ActiveProbe bool `json:"active_probe,omitempty"`
}
