package events

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// LogSink emits a Bus's events as OpenTelemetry log records (event
// records named "llm_failover.audit.<kind>") on a Logger, for an OTLP
// logs pipeline. A record's attributes are the event's JSON fields under
// the same names ("from.provider", "cooldown_until" as RFC 3339...), so a
// reader of docs/audit.md reads them alike; its body is the kind.
// Severity: WARN for exhausted, policy_denial and a breaker opening, INFO
// otherwise. Make it with NewLogSink and run it with Run.
type LogSink struct {
	sub    *Subscription
	logger otellog.Logger
	clock  func() time.Time
}

// LoggerName is the instrumentation scope LogSink's records carry.
const LoggerName = "github.com/llm-failover/llm-failover/events"

// NewLogSink subscribes to b with a buffer of buffer events (0: the Bus's
// default; events past it are dropped, counted in Dropped) and emits on
// logger.
func NewLogSink(b *Bus, logger otellog.Logger, buffer int) (*LogSink, error) {
	sub, err := b.Subscribe(SubscribeOptions{Buffer: buffer})
	if err != nil {
		return nil, fmt.Errorf("events: log sink: %w", err)
	}
	return &LogSink{sub: sub, logger: logger, clock: b.o.Clock.Now}, nil
}

// Run emits the backlog, then every event until ctx is done or the Bus
// closes; then it emits what is still buffered and returns.
func (s *LogSink) Run(ctx context.Context) {
	for _, e := range s.sub.Backlog {
		s.emit(e)
	}
	s.sub.Backlog = nil
	done := ctx.Done()
	for {
		select {
		case e, ok := <-s.sub.C():
			if !ok {
				return
			}
			s.emit(e)
		case <-done:
			s.sub.Close()
			done = nil
		}
	}
}

// Dropped is how many events this sink lost to a full buffer.
func (s *LogSink) Dropped() uint64 { return s.sub.Dropped() }

func (s *LogSink) emit(e Event) {
	var r otellog.Record
	r.SetEventName("llm_failover.audit." + string(e.Kind))
	r.SetTimestamp(e.Time)
	r.SetObservedTimestamp(s.clock())
	r.SetSeverity(otellog.SeverityInfo)
	r.SetSeverityText("INFO")
	if e.Kind == KindExhausted || e.Kind == KindPolicyDenial || e.Kind == KindBreakerTransition && e.BreakerTo == "open" {
		r.SetSeverity(otellog.SeverityWarn)
		r.SetSeverityText("WARN")
	}
	r.SetBody(attribute.StringValue(string(e.Kind)))
	r.AddAttributes(Attributes(e)...)
	s.logger.Emit(context.Background(), r)
}

// Attributes are e's fields as OpenTelemetry attributes, named as in its
// JSON (a target's fields as "from.provider", "from.model"); zero fields
// are left out, as in the JSON.
func Attributes(e Event) []attribute.KeyValue {
	kv := make([]attribute.KeyValue, 0, 12)
	kv = append(kv, attribute.Int("v", e.V), attribute.Int64("seq", int64(e.Seq)), attribute.String("kind", string(e.Kind)))
	str := func(k, v string) {
		if v != "" {
			kv = append(kv, attribute.String(k, v))
		}
	}
	num := func(k string, v int64) {
		if v != 0 {
			kv = append(kv, attribute.Int64(k, v))
		}
	}
	str("request_id", e.RequestID)
	str("chain", e.Chain)
	str("client", e.Client)
	str("from.provider", e.From.Provider)
	str("from.model", e.From.Model)
	str("to.provider", e.To.Provider)
	str("to.model", e.To.Model)
	str("reason", e.Reason)
	str("quality", e.Quality)
	num("status", int64(e.Status))
	num("attempt", int64(e.Attempt))
	num("added_latency_ms", e.AddedLatencyMS)
	str("breaker_from", e.BreakerFrom)
	str("breaker_to", e.BreakerTo)
	num("stage", int64(e.Stage))
	num("failures", int64(e.Failures))
	if !e.CooldownUntil.IsZero() {
		str("cooldown_until", e.CooldownUntil.UTC().Format(time.RFC3339Nano))
	}
	num("config_gen", int64(e.ConfigGen))
	str("detail", e.Detail)
	num("input_tokens", e.InputTokens)
	num("cached_input_tokens", e.CachedInputTokens)
	num("output_tokens", e.OutputTokens)
	if e.CostUSD != nil {
		kv = append(kv, attribute.Float64("cost_usd", *e.CostUSD))
	}
	if e.UsageEstimated {
		kv = append(kv, attribute.Bool("usage_estimated", true))
	}
	str("budget", e.Budget)
	// The attempt kind's fields (audit.attempts).
	str("model", e.Model)
	str("outcome", e.Outcome)
	if !e.SentAt.IsZero() {
		str("sent_at", e.SentAt.UTC().Format(time.RFC3339Nano))
	}
	num("ttfb_ms", e.TTFBMS)
	num("latency_ms", e.LatencyMS)
	num("retry_after_ms", e.RetryAfterMS)
	num("planned", int64(e.Planned))
	if e.ActiveProbe {
		kv = append(kv, attribute.Bool("active_probe", true))
	}
	return kv
}
