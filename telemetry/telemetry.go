package telemetry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"

	"github.com/llm-failover/llm-failover/config"
)

// scopeName names the instrumentation scope of every instrument and span.
const scopeName = "github.com/llm-failover/llm-failover"

// Options are New's test hooks; the zero value exports as configured.
type Options struct {
	// SpanExporter receives the spans instead of OTLP when tracing is on
	// (telemetry.traces.enabled), synchronously as each span ends (tests:
	// tracetest.InMemoryExporter).
	SpanExporter sdktrace.SpanExporter
	// LogRecords builds an OTLP LoggerProvider for the audit log records
	// (set from audit.otel_logs; LoggerProvider).
	LogRecords bool
	// LogExporter receives those log records instead of OTLP,
	// synchronously as each is emitted.
	LogExporter sdklog.Exporter
	// Version is the service.version resource attribute; empty leaves it out.
	Version string
}

// Telemetry holds the providers and instruments of one process. Its
// methods are safe for concurrent use.
type Telemetry struct {
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracers  *sdktrace.TracerProvider // nil when tracing is off
	tracer   trace.Tracer
	logs     *sdklog.LoggerProvider // nil unless Options.LogRecords
	prop     propagation.TextMapPropagator

	inst          instruments
	probes        probeInstruments // made on first use (probes.go)
	legacyTokens  bool
	responseModel *boundedValues // gen_ai.response.model comes from the provider
	reasons       *boundedValues // free-text reasons and codes, bounded all the same
	sets          setCaches      // the hot calls' attribute sets (setcache.go)
}

// New builds the providers of cfg (telemetry section, defaults applied):
// the Prometheus exporter on its own registry (Handler), an OTLP metric
// exporter when cfg.Metrics.OTLP, and a TracerProvider exporting to OTLP
// (or o.SpanExporter) when cfg.Traces.Enabled. OTLP exporters connect
// lazily: an unreachable collector fails exports (counted by the SDK), not
// New.
func New(cfg config.Telemetry, o Options) (*Telemetry, error) {
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	res := resource.NewSchemaless(attrs...)

	t := &Telemetry{registry: prometheus.NewRegistry(), prop: propagation.TraceContext{},
		legacyTokens: cfg.Metrics.LegacyTokenUsage, responseModel: newBoundedValues(cfg.Metrics.MaxLabelValues),
		reasons: newBoundedValues(cfg.Metrics.MaxLabelValues)}
	exp, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo(),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(exp),
		sdkmetric.WithCardinalityLimit(20 * cfg.Metrics.MaxLabelValues)}
	if cfg.Metrics.OTLP {
		me, err := otlpmetricgrpc.New(context.Background(), metricOTLPOptions(cfg.OTLP)...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp metric exporter: %w", err)
		}
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me,
			sdkmetric.WithInterval(cfg.Metrics.Interval.D()), sdkmetric.WithTimeout(cfg.OTLP.Timeout.D()))))
	}
	t.meters = sdkmetric.NewMeterProvider(mopts...)
	if err := t.inst.init(t.meters.Meter(scopeName)); err != nil {
		_ = t.meters.Shutdown(context.Background())
		return nil, fmt.Errorf("telemetry: instruments: %w", err)
	}

	t.tracer = noop.NewTracerProvider().Tracer(scopeName)
	if cfg.Traces.Enabled {
		ratio := 1.0
		if cfg.Traces.SampleRatio != nil {
			ratio = *cfg.Traces.SampleRatio
		}
		topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))}
		if o.SpanExporter != nil {
			topts = append(topts, sdktrace.WithSyncer(o.SpanExporter))
		} else {
			se, err := otlptracegrpc.New(context.Background(), traceOTLPOptions(cfg.OTLP)...)
			if err != nil {
				_ = t.meters.Shutdown(context.Background())
				return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
			}
			topts = append(topts, sdktrace.WithBatcher(se, sdktrace.WithMaxQueueSize(cfg.Traces.MaxQueue),
				sdktrace.WithExportTimeout(cfg.OTLP.Timeout.D())))
		}
		t.tracers = sdktrace.NewTracerProvider(topts...)
		t.tracer = t.tracers.Tracer(scopeName)
	}
	if o.LogRecords {
		if t.logs, err = newLogs(cfg, o, res); err != nil {
			_ = t.Shutdown(context.Background())
			return nil, err
		}
	}
	return t, nil
}

func metricOTLPOptions(c config.TelemetryOTLP) []otlpmetricgrpc.Option {
	o := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(c.Endpoint), otlpmetricgrpc.WithTimeout(c.Timeout.D())}
	if c.PlainText() {
		return append(o, otlpmetricgrpc.WithInsecure())
	}
	return append(o, otlpmetricgrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
}

func traceOTLPOptions(c config.TelemetryOTLP) []otlptracegrpc.Option {
	o := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint), otlptracegrpc.WithTimeout(c.Timeout.D())}
	if c.PlainText() {
		return append(o, otlptracegrpc.WithInsecure())
	}
	return append(o, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
}

// Handler serves the metrics in the Prometheus exposition formats (/metrics).
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// WriteText writes the metrics in the Prometheus text format (0.0.4), as
// /metrics serves them to a client that asks for nothing else.
func (t *Telemetry) WriteText(w io.Writer) error {
	mfs, err := t.registry.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if e := enc.Encode(mf); e != nil {
			err = errors.Join(err, e)
		}
	}
	return err
}

// Tracing reports whether spans are recorded (telemetry.traces.enabled).
func (t *Telemetry) Tracing() bool { return t.tracers != nil }

// Tracer is the tracer of the request and attempt spans; a no-op tracer
// when tracing is off.
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Propagator reads and writes W3C trace context (traceparent, tracestate).
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// Meter is the meter of the instruments, for callers adding their own.
func (t *Telemetry) Meter() metric.Meter { return t.meters.Meter(scopeName) }

// Shutdown flushes and stops the exporters; ctx bounds the flush.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	if t.tracers != nil {
		errs = append(errs, t.tracers.Shutdown(ctx))
	}
	if t.logs != nil {
		errs = append(errs, t.logs.Shutdown(ctx))
	}
	errs = append(errs, t.meters.Shutdown(ctx))
	return errors.Join(errs...)
}
