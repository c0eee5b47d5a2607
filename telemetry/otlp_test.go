package telemetry_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/telemetry"
)

// collector is a fake OTLP/gRPC collector on loopback that keeps what it
// receives: span names and metric names.
type collector struct {
	coltrace.UnimplementedTraceServiceServer

	mu      sync.Mutex
	spans   []string
	metrics map[string]bool
}

func (c *collector) Export(_ context.Context, r *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range r.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

// metricsService adapts collector to the metrics service (its Export has
// another request type).
type metricsService struct {
	colmetrics.UnimplementedMetricsServiceServer
	c *collector
}

func (m metricsService) Export(_ context.Context, r *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	m.c.mu.Lock()
	defer m.c.mu.Unlock()
	for _, rm := range r.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, mt := range sm.GetMetrics() {
				m.c.metrics[mt.GetName()] = true
			}
		}
	}
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

// startCollector serves a fake collector on 127.0.0.1 at a free port.
func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{metrics: map[string]bool{}}
	gs := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(gs, c)
	colmetrics.RegisterMetricsServiceServer(gs, metricsService{c: c})
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return c, ln.Addr().String()
}

// TestOTLP_MetricsAndTracesReachTheCollector verifies that with
// metrics.otlp and traces.enabled the metrics and spans are pushed to the
// collector at otlp.endpoint (plain text on loopback), flushed by Shutdown.
func TestOTLP_MetricsAndTracesReachTheCollector(t *testing.T) {
	c, addr := startCollector(t)
	cfg, err := config.Parse([]byte("providers: [{name: p, api: openai, host: h}]\nchains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]\n" +
		"telemetry: {otlp: {endpoint: \"" + addr + "\", timeout: 5s}, metrics: {otlp: true, interval: 1h}, traces: {enabled: true}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tel, err := telemetry.New(cfg.Telemetry, telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tel.Tracing() {
		t.Fatal("Tracing: got false with traces.enabled, want true")
	}
	tel.CountAttempt("p", "m", "success")
	tel.RecordOperation(context.Background(), telemetry.Operation{GenAIProvider: "openai", Target: "p", RequestModel: "m", Duration: time.Second})
	_, sp := tel.Tracer().Start(context.Background(), "llm_failover.request", trace.WithSpanKind(trace.SpanKindServer))
	sp.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.spans) != 1 || c.spans[0] != "llm_failover.request" {
		t.Errorf("spans: got %v, want the request span", c.spans)
	}
	for _, name := range []string{telemetry.MetricAttempts, telemetry.MetricOperationDuration} {
		if !c.metrics[name] {
			t.Errorf("metrics: got %v, want %s among them", c.metrics, name)
		}
	}
}
