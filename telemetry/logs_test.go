package telemetry_test

import (
	"context"
	"strings"
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
	c, err := config.Parse([]byte("providers: [{name: p, api: openai, host: h}]\nchains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	mem := &memLogs{}
	tel, err := telemetry.New(c.Telemetry, telemetry.Options{LogRecords: on, LogExporter: mem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel, mem
}

// TestLogs_AuditSinkExportsThroughTheProvider verifies the audit trail's
// log sink (audit.otel_logs) reaches the exporter through the telemetry's
// LoggerProvider, one record per event with its kind and request.
func TestLogs_AuditSinkExportsThroughTheProvider(t *testing.T) {
	tel, mem := logTelemetry(t, true)
	p := tel.LoggerProvider()
	if p == nil {
		t.Fatal("LoggerProvider: got nil with LogRecords, want one")
	}
	bus := events.NewBus(events.Options{})
	sink, err := events.NewLogSink(bus, p.Logger(events.LoggerName), 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); sink.Run(context.Background()) }()
	bus.Publish(events.Event{Kind: events.KindFailover, Time: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), RequestID: "req-1", Reason: "rate_limited"})
	bus.Close()
	<-done
	recs := mem.all()
	if len(recs) != 1 {
		t.Fatalf("records: got %d, want 1", len(recs))
	}
	found := false
	recs[0].WalkAttributes(func(kv attribute.KeyValue) bool {
		found = found || kv.Value.String() == "req-1"
		return true
	})
	if !found && !strings.Contains(recs[0].Body().String(), "req-1") {
		t.Fatalf("record: got body %q, want the event's request id", recs[0].Body().String())
	}
}

// TestLogs_OffHasNoProvider verifies that without audit.otel_logs no
// LoggerProvider is built.
func TestLogs_OffHasNoProvider(t *testing.T) {
	tel, _ := logTelemetry(t, false)
	if p := tel.LoggerProvider(); p != nil {
		t.Fatalf("LoggerProvider: got %v without LogRecords, want nil", p)
	}
}
