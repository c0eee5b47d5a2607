package config

import (
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// Quality is a chain's quality checks on its answers (chains[].quality):
// an answer that fails one is failed over to the next planned target like
// a server error, and counted in the target's breaker as a quality failure
// (triggers.quality). Every check is off by default. Whole (non-streamed)
// answers are checked after translation; a streamed answer only for what
// is known before its first content reaches the client (docs/quality.md).
type Quality struct {
	// Empty fails an answer with no content and no tool call (whitespace
	// only is no content). Default false.
	Empty bool `json:"empty,omitempty"`
	// InvalidJSON fails an answer that is not a JSON object when the
	// request asked for response_format json_object, or not valid against
	// the schema it gave with json_schema (Responses: text.format).
	// Default false. Not checked on streams.
	InvalidJSON bool `json:"invalid_json,omitempty"`
	// TruncatedBelow fails an answer cut for length (finish_reason length,
	// Anthropic max_tokens, Gemini MAX_TOKENS) that used fewer completion
	// tokens than this share of the request's max_tokens (any such answer
	// when the request set no max_tokens or the answer has no usage).
	// Default 0 (off); 0..1.
	TruncatedBelow float64 `json:"truncated_below,omitempty"`
	// Refusal fails a refusal: OpenAI's message refusal, Anthropic
	// stop_reason refusal, Gemini finishReason SAFETY and other blocks, a
	// content_filter finish. Default false: a refusal reaches the client.
	Refusal bool `json:"refusal,omitempty"`
}

// QualityTrigger opens a target's breaker when the share of its answers
// that fail quality checks in Window reaches Threshold (breaker.Quality).
type QualityTrigger struct {
	// Threshold is a share in (0,1]; 0 disables. Default 0.5 in
	// breaker.triggers (on: only chains with quality checks produce
	// quality failures); a chain's triggers.quality overrides it.
	Threshold float64 `json:"threshold,omitempty"`
	// Window is the sliding window. Default 5m, 1s..1h.
	Window Duration `json:"window,omitempty"`
	// MinRequests answers in the window before the share counts. Default 10, 1..1000000.
	MinRequests int `json:"min_requests,omitempty"`
}

// DefaultQualityThreshold is breaker.triggers.quality.threshold's default.
const DefaultQualityThreshold = 0.5

// applyQualityDefault sets the breaker-wide quality trigger when unset.
func (t *Triggers) applyQualityDefault() {
	if t.Quality == nil {
		t.Quality = &QualityTrigger{Threshold: DefaultQualityThreshold}
	}
}

// applyDefaults fills an unset window and minimum.
func (q *QualityTrigger) applyDefaults() {
	setDur(&q.Window, breaker.DefaultQualityWindow)
	setInt(&q.MinRequests, breaker.DefaultQualityMinRequests)
}

// validate checks the trigger's bounds; path names it.
func (q *QualityTrigger) validate(p *problems, path string) {
	if q.Threshold < 0 || q.Threshold > 1 {
		p.bad(path+".threshold", "%g is outside 0..1", q.Threshold)
	}
	p.durIn(path+".window", q.Window, time.Second, time.Hour)
	p.intIn(path+".min_requests", q.MinRequests, 1, 1_000_000)
}

// validate checks a chain's quality block; path names it.
func (q *Quality) validate(p *problems, path string) {
	if q.TruncatedBelow < 0 || q.TruncatedBelow > 1 {
		p.bad(path+".truncated_below", "%g is outside 0..1", q.TruncatedBelow)
	}
}

// Breaker is the breaker's quality trigger, the zero value when off.
func (q *QualityTrigger) Breaker() breaker.Quality {
	if q == nil || q.Threshold <= 0 {
		return breaker.Quality{}
	}
	return breaker.Quality{Threshold: q.Threshold, Window: q.Window.D(), MinRequests: q.MinRequests}
}
