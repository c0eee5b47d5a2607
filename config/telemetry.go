package config

import (
	"net"
	"strings"
	"time"
)

// Telemetry configures the OpenTelemetry metrics and traces (package
// telemetry, docs/observability.md). Metrics are always served on
// server.admin_address /metrics; OTLP export of metrics and traces is off
// until turned on here. Read at start only: a reload keeps the running
// telemetry.
type Telemetry struct {
	// ServiceName is the service.name resource attribute. Default
	// "llm-failover", 1..100 bytes.
	ServiceName string `json:"service_name,omitempty"`
	// OTLP is the collector that OTLP metrics and traces go to.
	OTLP TelemetryOTLP `json:"otlp"`
	// Metrics shapes the metrics.
	Metrics TelemetryMetrics `json:"metrics"`
	// Traces turns tracing on.
	Traces TelemetryTraces `json:"traces"`
	// Logs bounds the audit trail's OTel log records (audit.otel_logs).
	Logs TelemetryLogs `json:"logs"`
}

// TelemetryOTLP is an OTLP/gRPC collector.
type TelemetryOTLP struct {
	// Endpoint is the collector's gRPC host:port. Default "127.0.0.1:4317".
	// A loopback endpoint is reached in plain text; any other over TLS
	// (system roots) unless Insecure.
	Endpoint string `json:"endpoint,omitempty"`
	// Insecure sends to a non-loopback Endpoint in plain text. Default false.
	Insecure bool `json:"insecure,omitempty"`
	// Timeout bounds one export. Default 10s, 1s..1m.
	Timeout Duration `json:"timeout,omitempty"`
}

// TelemetryMetrics shapes the metrics.
type TelemetryMetrics struct {
	// OTLP also pushes the metrics to OTLP.Endpoint every Interval.
	// Default false (/metrics only).
	OTLP bool `json:"otlp,omitempty"`
	// Interval is the OTLP push period. Default 30s, 1s..1h.
	Interval Duration `json:"interval,omitempty"`
	// LegacyTokenUsage also records the older gen_ai.client.token.usage
	// histogram beside gen_ai.client.inference.usage.* (Envoy AI Gateway
	// emits both for now). Default false.
	LegacyTokenUsage bool `json:"legacy_token_usage,omitempty"`
	// MaxLabelValues bounds the distinct values of each attribute that comes
	// from outside the configuration (a provider's response model): past it
	// a value is recorded as "_other". It also caps the series of each
	// instrument (the SDK's cardinality limit, 20 times this). Default 200,
	// 1..10000.
	MaxLabelValues int `json:"max_label_values,omitempty"`
}

// TelemetryTraces turns tracing on.
type TelemetryTraces struct {
	// Enabled exports a span per request and per attempt to OTLP.Endpoint,
	// joining the client's W3C trace (traceparent) and passing it on to
	// the provider. Default false.
	Enabled bool `json:"enabled,omitempty"`
	// SampleRatio is the share of new traces recorded (a client's sampled
	// flag is followed). Default 1, 0..1.
	SampleRatio *float64 `json:"sample_ratio,omitempty"`
	// MaxQueue bounds the spans waiting for export; past it spans are
	// dropped, never the request delayed. Default 2048, 64..1000000.
	MaxQueue int `json:"max_queue,omitempty"`
}

// TelemetryLogs bounds the OTel log records of the audit trail, which
// audit.otel_logs turns on: they go to OTLP.Endpoint.
type TelemetryLogs struct {
	// MaxQueue bounds the records waiting for export; past it records are
	// dropped, never an event's publisher delayed. Default 2048, 64..1000000.
	MaxQueue int `json:"max_queue,omitempty"`
}

// DefaultOTLPEndpoint is a collector on the same host.
const DefaultOTLPEndpoint = "127.0.0.1:4317"

// DefaultMaxLabelValues is telemetry.metrics.max_label_values's default.
const DefaultMaxLabelValues = 200

func (t *Telemetry) applyDefaults() {
	setStr(&t.ServiceName, "llm-failover")
	setStr(&t.OTLP.Endpoint, DefaultOTLPEndpoint)
	setDur(&t.OTLP.Timeout, 10*time.Second)
	setDur(&t.Metrics.Interval, 30*time.Second)
	setInt(&t.Metrics.MaxLabelValues, DefaultMaxLabelValues)
	if t.Traces.SampleRatio == nil {
		one := 1.0
		t.Traces.SampleRatio = &one
	}
	setInt(&t.Traces.MaxQueue, 2048)
	setInt(&t.Logs.MaxQueue, 2048)
}

func (t *Telemetry) validate(p *problems) {
	if n := len(t.ServiceName); n < 1 || n > 100 || strings.ContainsFunc(t.ServiceName, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		p.bad("telemetry.service_name", "%q must be 1..100 bytes without control characters", t.ServiceName)
	}
	if host, port, err := net.SplitHostPort(t.OTLP.Endpoint); err != nil || host == "" || port == "" || strings.Contains(t.OTLP.Endpoint, "/") {
		p.bad("telemetry.otlp.endpoint", "%q must be host:port (the collector's OTLP/gRPC address, no scheme)", t.OTLP.Endpoint)
	}
	p.durIn("telemetry.otlp.timeout", t.OTLP.Timeout, time.Second, time.Minute)
	p.durIn("telemetry.metrics.interval", t.Metrics.Interval, time.Second, time.Hour)
	p.intIn("telemetry.metrics.max_label_values", t.Metrics.MaxLabelValues, 1, 10000)
	if r := t.Traces.SampleRatio; r != nil && !(*r >= 0 && *r <= 1) {
		p.bad("telemetry.traces.sample_ratio", "%g is outside 0..1", *r)
	}
	p.intIn("telemetry.traces.max_queue", t.Traces.MaxQueue, 64, 1_000_000)
	p.intIn("telemetry.logs.max_queue", t.Logs.MaxQueue, 64, 1_000_000)
}

// PlainText reports whether the OTLP endpoint is reached without TLS:
// loopback, or Insecure.
func (o TelemetryOTLP) PlainText() bool { return o.Insecure || IsLoopback(o.Endpoint) }
