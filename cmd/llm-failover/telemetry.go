package main

import (
	"context"
	"log/slog"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/telemetry"
)

// newTelemetry builds the process's metrics and traces from the telemetry
// section (read at start only: a reload keeps them) and logs what it exports.
func newTelemetry(cfg *config.Config, log *slog.Logger) (*telemetry.Telemetry, error) {
	tel, err := telemetry.New(cfg.Telemetry, telemetry.Options{})
	if err != nil {
		return nil, err
	}
	t := cfg.Telemetry
	if t.Metrics.OTLP || t.Traces.Enabled || t.Logs.Audit {
		log.Info("telemetry exports over OTLP", "endpoint", t.OTLP.Endpoint, "metrics", t.Metrics.OTLP, "traces", t.Traces.Enabled,
			"audit_logs", t.Logs.Audit, "plain_text", t.OTLP.PlainText())
	}
	return tel, nil
}

// shutdownTelemetry flushes the exporters, bounded by the OTLP timeout.
func shutdownTelemetry(tel *telemetry.Telemetry, cfg *config.Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Telemetry.OTLP.Timeout.D())
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry flush incomplete", "error", err.Error())
	}
}

// forwardAudit emits the audit trail as OTel log records when
// telemetry.logs.audit is set; the returned function stops it.
func forwardAudit(tel *telemetry.Telemetry, bus *events.Bus, log *slog.Logger) (stop func()) {
	stop, err := tel.ForwardEvents(bus)
	if err != nil {
		log.Error("audit log records off", "error", err.Error())
		return func() {}
	}
	return stop
}
