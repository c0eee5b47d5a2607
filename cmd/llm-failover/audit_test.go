package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/log/embedded"
	"go.uber.org/goleak"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/processor"
)

// lumberjackMill is the one goroutine lumberjack starts per rotating file
// (its cleanup loop, on the first write) and never stops: it lives as long
// as the process, which a leak check must allow.
var lumberjackMill = goleak.IgnoreAnyFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun")

// TestStartAudit_FileGetsTheServersEvents verifies serve's wiring: with
// audit.file, the server's start-up config_reload and a breaker opening
// are in the file once stop returns, one decodable line each.
func TestStartAudit_FileGetsTheServersEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "audit.jsonl")
	cfg, err := config.Parse([]byte(`
providers: [{name: p, api: openai, host: localhost, tls: false}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]
audit: {file: ` + path + `}
`))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, stop, err := startAudit(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := processor.New(processor.Options{Config: cfg, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	srv.AuditReload("config.yaml", cfg, nil)
	srv.Registry().Lookup("p/m").Record(time.Time{}, breaker.Outcome{Kind: breaker.AuthFailure, Status: 401})
	stop()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		e, err := events.Decode([]byte(line))
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds = append(kinds, string(e.Kind))
	}
	if strings.Join(kinds, ",") != "config_reload,breaker_transition" {
		t.Errorf("kinds in the file = %v, want config_reload,breaker_transition", kinds)
	}
}

// TestStartAudit_BadFileFailsAtStart verifies an audit.file that cannot be
// opened stops the start with an error naming audit.file.
func TestStartAudit_BadFileFailsAtStart(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Audit: config.Audit{File: filepath.Join(blocker, "audit.jsonl")}}
	if _, _, err := startAudit(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "audit.file") {
		t.Errorf("startAudit err = %v, want one naming audit.file", err)
	}
}

// TestStatus_OpenBreakerSaysWhy verifies /status and the status page show
// why an open breaker opened (its reason, failure count and the failure),
// where the failure count used to read 0 with no reason.
func TestStatus_OpenBreakerSaysWhy(t *testing.T) {
	_, srv := newServer(t, "", "")
	b := srv.Registry().Lookup("p/m")
	for range 3 { // breaker.consecutive_failures' default
		b.Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure, Status: 503, Detail: "overloaded: busy"})
	}
	rec := httptest.NewRecorder()
	writeStatus(rec, srv)
	var got struct{ Targets []targetStatus }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	o := got.Targets[0].Opened
	if got.Targets[0].State != "open" || o == nil || o.Reason != "consecutive failures" || o.Failures != 3 || o.Status != 503 || o.Detail != "overloaded: busy" {
		t.Errorf("/status target = %+v, opened %+v; want open, consecutive failures, 3, 503, overloaded: busy", got.Targets[0], o)
	}
	rec = httptest.NewRecorder()
	writeStatusPage(rec, srv)
	if want := "<td>consecutive failures (3): overloaded: busy</td>"; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("status page lacks %q:\n%s", want, rec.Body)
	}
}

// recProvider is an OpenTelemetry LoggerProvider whose loggers record
// the event names emitted.
type recProvider struct {
	embedded.LoggerProvider
	mu    sync.Mutex
	names []string
}

func (p *recProvider) Logger(string, ...otellog.LoggerOption) otellog.Logger { return &recLogger{p: p} }

type recLogger struct {
	embedded.Logger
	p *recProvider
}

func (l *recLogger) Emit(_ context.Context, r otellog.Record) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.p.names = append(l.p.names, r.EventName())
}

func (l *recLogger) Enabled(context.Context, otellog.EnabledParameters) bool { return true }

// TestStartAudit_OTelLogs verifies audit.otel_logs: every event reaches
// the global LoggerProvider the telemetry setup installs as a log record.
func TestStartAudit_OTelLogs(t *testing.T) {
	p := &recProvider{}
	otel.SetLoggerProvider(p)
	cfg := &config.Config{Audit: config.Audit{OTelLogs: true}}
	bus, stop, err := startAudit(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	bus.Publish(events.Event{Kind: events.KindConfigReload, Reason: "loaded"})
	bus.Publish(events.Event{Kind: events.KindFailover, Reason: "timeout"})
	stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if got := strings.Join(p.names, ","); got != "llm_failover.audit.config_reload,llm_failover.audit.failover" {
		t.Errorf("log records = %s, want the config_reload then the failover", got)
	}
}
