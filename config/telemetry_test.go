package config_test

import (
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// TestTelemetry_DefaultsLeaveExportOff verifies that an unset telemetry
// section serves /metrics only: no OTLP push, no tracing, documented defaults.
func TestTelemetry_DefaultsLeaveExportOff(t *testing.T) {
	c, err := config.Parse([]byte(minimal))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tm := c.Telemetry
	tests := []struct {
		name      string
		got, want any
	}{
		{"service_name", tm.ServiceName, "llm-failover"},
		{"otlp.endpoint", tm.OTLP.Endpoint, "127.0.0.1:4317"},
		{"otlp.timeout", tm.OTLP.Timeout.D(), 10 * time.Second},
		{"metrics.otlp", tm.Metrics.OTLP, false},
		{"metrics.interval", tm.Metrics.Interval.D(), 30 * time.Second},
		{"metrics.max_label_values", tm.Metrics.MaxLabelValues, 200},
		{"traces.enabled", tm.Traces.Enabled, false},
		{"traces.sample_ratio", *tm.Traces.SampleRatio, 1.0},
		{"traces.max_queue", tm.Traces.MaxQueue, 2048},
		{"logs.max_queue", tm.Logs.MaxQueue, 2048},
		{"otlp plain text on loopback", tm.OTLP.PlainText(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestTelemetry_ValidateReportsEveryProblemWithItsPath verifies each bound
// of the telemetry section is checked and named by its path.
func TestTelemetry_ValidateReportsEveryProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name, yaml, path string
	}{
		{"endpoint with a scheme", "telemetry: {otlp: {endpoint: 'http://collector:4317'}}\n", "telemetry.otlp.endpoint"},
		{"endpoint without a port", "telemetry: {otlp: {endpoint: collector}}\n", "telemetry.otlp.endpoint"},
		{"timeout too long", "telemetry: {otlp: {timeout: 2m}}\n", "telemetry.otlp.timeout"},
		{"interval too short", "telemetry: {metrics: {interval: 100ms}}\n", "telemetry.metrics.interval"},
		{"label values too many", "telemetry: {metrics: {max_label_values: 20000}}\n", "telemetry.metrics.max_label_values"},
		{"sample ratio above 1", "telemetry: {traces: {sample_ratio: 1.5}}\n", "telemetry.traces.sample_ratio"},
		{"sample ratio negative", "telemetry: {traces: {sample_ratio: -0.1}}\n", "telemetry.traces.sample_ratio"},
		{"queue too small", "telemetry: {traces: {max_queue: 10}}\n", "telemetry.traces.max_queue"},
		{"log queue too large", "telemetry: {logs: {max_queue: 2000000}}\n", "telemetry.logs.max_queue"},
		{"service name with a tab", "telemetry: {service_name: \"a\\tb\"}\n", "telemetry.service_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(minimal + tt.yaml))
			if paths := fieldPaths(t, err); len(paths) != 1 || paths[0] != tt.path {
				t.Fatalf("got %v, want one problem at %s", err, tt.path)
			}
		})
	}
}

// TestTelemetry_TracesOnWithOneSetting verifies traces.enabled alone turns
// tracing on, to the default collector, with a zero sample ratio kept as set.
func TestTelemetry_TracesOnWithOneSetting(t *testing.T) {
	c, err := config.Parse([]byte(minimal + "telemetry: {traces: {enabled: true, sample_ratio: 0}}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !c.Telemetry.Traces.Enabled || c.Telemetry.OTLP.Endpoint != config.DefaultOTLPEndpoint || *c.Telemetry.Traces.SampleRatio != 0 {
		t.Fatalf("got %+v, want tracing on to %s with ratio 0", c.Telemetry, config.DefaultOTLPEndpoint)
	}
}
