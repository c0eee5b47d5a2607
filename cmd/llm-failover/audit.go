package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
)

// startAudit makes the audit trail's Bus from cfg.Audit and, with
// audit.file, starts the file sink writing it (docs/audit.md). stop closes
// the Bus and waits until the sink has written what it holds; call it
// once the server has stopped publishing.
//
// With audit.otel_logs a log sink emits every event as an OpenTelemetry
// log record on the global LoggerProvider (set by the telemetry setup).
func startAudit(cfg *config.Config, log *slog.Logger) (bus *events.Bus, stop func(), err error) {
	bus = events.NewBus(cfg.Audit.BusOptions())
	var wg sync.WaitGroup
	var after []func() // reports once the sinks are done
	fail := func(err error) (*events.Bus, func(), error) {
		bus.Close()
		wg.Wait()
		return nil, nil, err
	}
	if cfg.Audit.File != "" {
		o := cfg.Audit.FileOptions()
		o.Logger = log
		sink, err := events.NewFileSink(bus, o)
		if err != nil {
			return fail(fmt.Errorf("audit.file: %w", err))
		}
		wg.Go(func() {
			if err := sink.Run(context.Background()); err != nil {
				log.Error("audit file", "file", o.Path, "error", err.Error())
			}
		})
		after = append(after, func() {
			if st := sink.Stats(); st.Dropped > 0 || st.Failed > 0 {
				log.Warn("audit file lost events", "file", o.Path, "dropped", st.Dropped, "failed", st.Failed, "written", st.Written)
			}
		})
	}
	if cfg.Audit.OTelLogs {
		sink, err := events.NewLogSink(bus, otel.Logger(events.LoggerName), 0)
		if err != nil {
			return fail(fmt.Errorf("audit.otel_logs: %w", err))
		}
		wg.Go(func() { sink.Run(context.Background()) })
		after = append(after, func() {
			if n := sink.Dropped(); n > 0 {
				log.Warn("audit log records lost", "dropped", n)
			}
		})
	}
	return bus, func() {
		bus.Close()
		wg.Wait()
		for _, f := range after {
			f()
		}
	}, nil
}
