package events

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/embedded"
)

// recLogger records the log records emitted on it.
type recLogger struct {
	embedded.Logger
	mu   sync.Mutex
	recs []otellog.Record
}

func (l *recLogger) Emit(_ context.Context, r otellog.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
}

func (l *recLogger) Enabled(context.Context, otellog.EnabledParameters) bool { return true }

var _ otellog.Logger = (*recLogger)(nil)

// The log sink emits one event record per event, backlog first, named
// after the kind, stamped with the event's time, WARN for a breaker
// opening, with the JSON fields as attributes; it drains its buffer when
// its context ends.
func TestLogSink_EmitsOneRecordPerEvent(t *testing.T) {
	b := NewBus(Options{Clock: fixedClock{t0}})
	b.Publish(Event{Kind: KindConfigReload, Reason: "loaded", ConfigGen: 7})
	l := &recLogger{}
	s, err := NewLogSink(b, l, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(Event{Kind: KindBreakerTransition, From: Target{"openai", "gpt-4o"}, Reason: "consecutive failures",
		BreakerFrom: "closed", BreakerTo: "open", Failures: 3, Status: 503, CooldownUntil: t0.Add(30 * time.Second)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Run(ctx)
	if len(l.recs) != 2 {
		t.Fatalf("%d records, want 2", len(l.recs))
	}
	r := l.recs[1]
	if r.EventName() != "llm_failover.audit.breaker_transition" || !r.Timestamp().Equal(t0) || r.Severity() != otellog.SeverityWarn ||
		r.Body().AsString() != "breaker_transition" {
		t.Errorf("record: name %q, time %v, severity %v, body %v; want llm_failover.audit.breaker_transition, %v, WARN, the kind",
			r.EventName(), r.Timestamp(), r.Severity(), r.Body(), t0)
	}
	got := map[attribute.Key]string{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		got[kv.Key] = kv.Value.String()
		return true
	})
	want := map[attribute.Key]string{"v": "1", "seq": "2", "kind": "breaker_transition", "from.provider": "openai", "from.model": "gpt-4o",
		"reason": "consecutive failures", "status": "503", "breaker_from": "closed", "breaker_to": "open", "failures": "3",
		"cooldown_until": "2026-11-30T10:00:30Z"}
	if len(got) != len(want) {
		t.Errorf("attributes = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	if l.recs[0].EventName() != "llm_failover.audit.config_reload" || l.recs[0].Severity() != otellog.SeverityInfo {
		t.Errorf("first record %q severity %v, want the backlog's config_reload at INFO", l.recs[0].EventName(), l.recs[0].Severity())
	}
}
