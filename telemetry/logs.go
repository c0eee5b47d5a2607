package telemetry

import (
	"context"
	"crypto/tls"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"google.golang.org/grpc/credentials"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
)

// newLogs is the LoggerProvider of the audit log records
// (telemetry.logs.audit): OTLP, or o.LogExporter synchronously.
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

// ForwardEvents emits every event published on bus as an OTel log record
// (telemetry.logs.audit) until stop is called or the bus closes; stop
// waits until the forwarding ends. Without telemetry.logs.audit it does
// nothing. The forwarder is one bus subscriber: like any, it loses events
// when it falls behind by more than its buffer (the bus counts them), and
// the export queue drops records past telemetry.logs.max_queue; the bus's
// publishers never wait.
func (t *Telemetry) ForwardEvents(bus *events.Bus) (stop func(), err error) {
	if t.logs == nil {
		return func() {}, nil
	}
	sub, err := bus.Subscribe(events.SubscribeOptions{})
	if err != nil {
		return nil, fmt.Errorf("telemetry: audit log records: %w", err)
	}
	logger := t.logs.Logger(scopeName)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, e := range sub.Backlog { // published before: the bus's history
			emitEvent(logger, e)
		}
		for e := range sub.C() {
			emitEvent(logger, e)
		}
	}()
	return func() {
		sub.Close()
		<-done
	}, nil
}

// emitEvent emits e as one log record: its body the event's JSON line
// (docs/audit.md), its event name llm_failover.<kind>.
func emitEvent(l otellog.Logger, e events.Event) {
	line, err := events.Encode(e)
	if err != nil {
		return // Encode fails only on what json cannot encode; an Event has none
	}
	var r otellog.Record
	r.SetEventName("llm_failover." + Sanitize(string(e.Kind)))
	r.SetTimestamp(e.Time)
	r.SetSeverity(otellog.SeverityInfo)
	if e.Kind == events.KindFailover || e.Kind == events.KindExhausted || e.Kind == events.KindPolicyDenial {
		r.SetSeverity(otellog.SeverityWarn)
	}
	r.SetBody(attribute.StringValue(string(line)))
	r.AddAttributes(
		attribute.Int("llm_failover.event.v", e.V),
		attribute.String("llm_failover.event.kind", string(e.Kind)),
		attribute.String("llm_failover.request_id", e.RequestID),
		attribute.String("llm_failover.chain", e.Chain),
		attribute.String("llm_failover.reason", e.Reason),
	)
	l.Emit(context.Background(), r)
}
