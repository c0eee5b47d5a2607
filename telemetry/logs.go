package telemetry

import (
	"context"
	"crypto/tls"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"github.com/llm-failover/llm-failover/config"
)

// newLogs is the LoggerProvider of the audit log records
// (Options.LogRecords): OTLP, or o.LogExporter synchronously.
func newLogs(cfg config.Telemetry, o Options, res *resource.Resource) (*sdklog.LoggerProvider, error) {
	var p sdklog.Processor
	if o.LogExporter != nil {
		p = sdklog.NewSimpleProcessor(o.LogExporter)
	} else {
		exp, err := otlploggrpc.New(context.Background(), logOTLPOptions(cfg.OTLP)...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp log exporter: %w", err)
		}
		p = sdklog.NewBatchProcessor(exp, sdklog.WithMaxQueueSize(cfg.Logs.MaxQueue), sdklog.WithExportTimeout(cfg.OTLP.Timeout.D()))
	}
	return sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(p)), nil
}

func logOTLPOptions(c config.TelemetryOTLP) []otlploggrpc.Option {
	o := []otlploggrpc.Option{otlploggrpc.WithEndpoint(c.Endpoint), otlploggrpc.WithTimeout(c.Timeout.D())}
	if c.PlainText() {
		return append(o, otlploggrpc.WithInsecure())
	}
	return append(o, otlploggrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
}

// LoggerProvider is the OTLP LoggerProvider the audit log records go to
// (Options.LogRecords: audit.otel_logs, package events' LogSink on the
// global provider); nil without it.
func (t *Telemetry) LoggerProvider() otellog.LoggerProvider {
	if t.logs == nil {
		return nil
	}
	return t.logs
}
