package replay

import (
	"time"
)

// Report is the outcome of a replay: the same recording served by the
// baseline and by the candidate. Its renderings (Text, JSON, HTML) read
// only this value.
type Report struct {
	// From and To bound the recording (first attempt sent, last outcome).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Baseline is the recording as it happened ("recorded") or the
	// --baseline configuration replayed; Candidate is the candidate replayed.
	Baseline  *Run `json:"baseline"`
	Candidate *Run `json:"candidate"`
	// Violations are the --fail-if criteria that held (Gate).
	Violations []Violation `json:"violations,omitempty"`
	// Skipped counts the input lines not replayed, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// Run is one configuration's (or the recording's) figures.
type Run struct {
	// Name is "recorded", or the configuration's file name.
	Name string `json:"name"`
	// Requests is the number of client requests; Answered those a target
	// answered; Returned those given a provider's error no other target
	// would avoid (a 400, a content policy refusal); Failed the others, by
	// reason (the last attempt's class when every attempt failed over,
	// "all_targets_open", "no_chain").
	Requests int            `json:"requests"`
	Answered int            `json:"answered"`
	Returned int            `json:"returned"`
	Failed   map[string]int `json:"failed"`
	// Attempts is the number of attempts sent; FailedAttempts those that
	// failed in a way that fails over (time and money spent on failing
	// targets).
	Attempts       int `json:"attempts"`
	FailedAttempts int `json:"failed_attempts"`
	// AddedTTFB is the time to first byte failovers added to answered
	// requests (from the request's first attempt to the start of the one
	// that answered), in milliseconds, over every answered request.
	AddedTTFB Percentiles `json:"added_ttfb_ms"`
	// Flaps is the number of times a breaker opened from closed (or
	// recovering): a reopening after a failed half-open probe is part of the
	// same incident.
	Flaps int `json:"flaps"`
	// Incidents are the breaker openings (one per flap) with how long traffic took to
	// leave the target and to come back.
	Incidents []Incident `json:"incidents"`
	// Transitions are every breaker transition, in time order.
	Transitions []Transition `json:"transitions"`
	// InputTokens and OutputTokens are what the answers reported.
	InputTokens  int64 `json:"input_tokens"`
	OutputTokens int64 `json:"output_tokens"`
	// Assumed counts, per target, the attempts whose outcome was not
	// recorded for their request: "nearest" took the target's outcome
	// recorded nearest in time, "unrecorded" (a target never recorded) took
	// a success with the recording's median time to first byte.
	Assumed map[string]Assumed `json:"assumed,omitempty"`
	// Timeline is the run cut in equal buckets, for the plots.
	Timeline []Bucket `json:"timeline"`
	// Plans are the targets each request was planned on and attempted
	// (only with Options.KeepPlans).
	Plans []Plan `json:"plans,omitempty"`

	added []int32 // added TTFB of each answered request, ms
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// Incident is one opening of a target's breaker.
type Incident struct {
	Target string `json:"target"`
	// Start is the first failure of the run of failures that opened it;
	// Left when it opened (traffic left); Back when it closed again (zero:
	// not within the recording).
	Start time.Time `json:"start"`
	Left  time.Time `json:"left"`
	Back  time.Time `json:"back,omitzero"`
	// LeftAfterMS is Left - Start; BackAfterMS Back - Start (0: never).
	LeftAfterMS int64 `json:"left_after_ms"`
	BackAfterMS int64 `json:"back_after_ms,omitempty"`
}

// Transition is one breaker state change.
type Transition struct {
	At     time.Time `json:"at"`
	Target string    `json:"target"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// Assumed counts assumed outcomes of one target.
type Assumed struct {
	Nearest    int `json:"nearest,omitempty"`
	Unrecorded int `json:"unrecorded,omitempty"`
}

// Bucket is a slice of the run's time.
type Bucket struct {
	Start time.Time `json:"start"`
	// Attempts counts the attempts sent in the bucket, per target.
	Attempts map[string]int `json:"attempts"`
	// AddedP95MS is the 95th percentile added TTFB of the requests that
	// started in the bucket and were answered.
	AddedP95MS int64 `json:"added_p95_ms"`

	added []int32
}

// Plan is one request's plan and what was attempted.
type Plan struct {
	RequestID string   `json:"request_id"`
	Planned   []string `json:"planned"`
	Attempted []string `json:"attempted"`
	Result    string   `json:"result"`
}

// AnsweredShare is Answered / Requests (1 with no request).
func (r *Run) AnsweredShare() float64 {
	if r.Requests == 0 {
		return 1
	}
	return float64(r.Answered) / float64(r.Requests)
}

// MeanLeftAfterMS is the mean time from an incident's first failure until
// traffic left the target (its breaker opened); -1 without incident.
func (r *Run) MeanLeftAfterMS() int64 {
	return mean(r.Incidents, func(in Incident) (int64, bool) { return in.LeftAfterMS, true })
}

// MeanBackAfterMS is the mean time from an incident's first failure until
// the target's breaker closed again, over the incidents that ended within
// the recording; -1 without one.
func (r *Run) MeanBackAfterMS() int64 {
	return mean(r.Incidents, func(in Incident) (int64, bool) { return in.BackAfterMS, !in.Back.IsZero() })
}

func mean(ins []Incident, f func(Incident) (int64, bool)) int64 {
	var sum, n int64
	for _, in := range ins {
		if v, ok := f(in); ok {
			sum, n = sum+v, n+1
		}
	}
	if n == 0 {
		return -1
	}
	return sum / n
}
