package main

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/telemetry"
)

// newTelemetry builds the process's metrics and traces from the telemetry
// section (read at start only: a reload keeps them) and logs what it exports.
func newTelemetry(cfg *config.Config, log *slog.Logger) (*telemetry.Telemetry, error) {
	tel, err := telemetry.New(cfg.Telemetry, telemetry.Options{LogRecords: cfg.Audit.OTelLogs})
	if err != nil {
		return nil, err
	}
	if p := tel.LoggerProvider(); p != nil {
		// audit.otel_logs: the audit trail's log sink (startAudit) emits on
		// the global LoggerProvider.
		otel.SetLoggerProvider(p)
	}
	t := cfg.Telemetry
	if t.Metrics.OTLP || t.Traces.Enabled || cfg.Audit.OTelLogs {
		log.Info("telemetry exports over OTLP", "endpoint", t.OTLP.Endpoint, "metrics", t.Metrics.OTLP, "traces", t.Traces.Enabled,
			"audit_logs", cfg.Audit.OTelLogs, "plain_text", t.OTLP.PlainText())
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
