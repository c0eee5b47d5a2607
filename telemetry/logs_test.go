package telemetry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/telemetry"
)

// memLogs keeps the exported log records.
type memLogs struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (m *memLogs) Export(_ context.Context, rs []sdklog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.records = append(m.records, r.Clone())
	}
	return nil
}
func (m *memLogs) Shutdown(context.Context) error   { return nil }
func (m *memLogs) ForceFlush(context.Context) error { return nil }

func (m *memLogs) all() []sdklog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sdklog.Record(nil), m.records...)
}

var _ sdklog.Exporter = (*memLogs)(nil)

// logTelemetry is a telemetry with the audit log records on or off, kept in memory.
func logTelemetry(t *testing.T, on bool) (*telemetry.Telemetry, *memLogs) {
	t.Helper()
	yaml := "telemetry: {logs: {audit: false}}\n"
	if on {
		yaml = "telemetry: {logs: {audit: true}}\n"
	}
	c, err := config.Parse([]byte("providers: [{name: p, api: openai, host: h}]\nchains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	mem := &memLogs{}
	tel, err := telemetry.New(c.Telemetry, telemetry.Options{LogExporter: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, mem
}

// TestLogs_AuditEventsBecomeLogRecords verifies every audit event, also one
// published before forwarding began, is one log record whose body is the
// event's versioned JSON line and whose event name and attributes say its
// kind, request and reason.
func TestLogs_AuditEventsBecomeLogRecords(t *testing.T) {
	tel, mem := logTelemetry(t, true)
	bus := events.NewBus(events.Options{})
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	bus.Publish(events.Event{Kind: events.KindConfigReload, Time: at, ConfigGen: 7})
	stop, err := tel.ForwardEvents(bus)
	if err != nil {
		t.Fatal(err)
	}
	sent := bus.Publish(events.Event{Kind: events.KindFailover, Time: at, RequestID: "req-1", Chain: "premium",
		From: events.Target{Provider: "openai", Model: "gpt-4o"}, To: events.Target{Provider: "groq", Model: "llama"},
		Reason: "rate_limited", Status: 429, AddedLatencyMS: 250})
	bus.Close()
	stop()
	recs := mem.all()
	if len(recs) != 2 {
		t.Fatalf("records: got %d, want 2", len(recs))
	}
	r := recs[1]
	got, err := events.Decode([]byte(r.Body().AsString()))
	if err != nil {
		t.Fatalf("body %q: %v", r.Body().AsString(), err)
	}
	if got.Seq != sent.Seq || got.Reason != "rate_limited" || got.To.Provider != "groq" || got.V != events.Version {
		t.Fatalf("body: got %+v, want the published failover %+v", got, sent)
	}
	attrs := map[string]string{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool { attrs[string(kv.Key)] = kv.Value.String(); return true })
	if r.EventName() != "llm_failover.failover" || !r.Timestamp().Equal(at) || attrs["llm_failover.request_id"] != "req-1" ||
		attrs["llm_failover.reason"] != "rate_limited" || attrs["llm_failover.event.v"] != "1" {
		t.Fatalf("record: got name %q time %v attrs %v, want llm_failover.failover at %v with its request and reason", r.EventName(), r.Timestamp(), attrs, at)
	}
	if recs[0].EventName() != "llm_failover.config_reload" {
		t.Fatalf("first record: got %q, want the config_reload published before forwarding", recs[0].EventName())
	}
}

// TestLogs_OffTakesNoSubscriber verifies that without telemetry.logs.audit
// nothing subscribes to the bus and nothing is emitted.
func TestLogs_OffTakesNoSubscriber(t *testing.T) {
	tel, mem := logTelemetry(t, false)
	bus := events.NewBus(events.Options{})
	stop, err := tel.ForwardEvents(bus)
	if err != nil {
		t.Fatal(err)
	}
	bus.Publish(events.Event{Kind: events.KindProbe})
	stop()
	if n := bus.Stats().Subscribers; n != 0 || len(mem.all()) != 0 {
		t.Fatalf("got %d subscribers and %d records, want none", n, len(mem.all()))
	}
}
