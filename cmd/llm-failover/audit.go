package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
)

// startAudit makes the audit trail's Bus from cfg.Audit and, with
// audit.file, starts the file sink writing it (docs/audit.md). stop closes
// the Bus and waits until the sink has written what it holds; call it
// once the server has stopped publishing.
func startAudit(cfg *config.Config, log *slog.Logger) (bus *events.Bus, stop func(), err error) {
	bus = events.NewBus(cfg.Audit.BusOptions())
	if cfg.Audit.File == "" {
		return bus, bus.Close, nil
	}
	o := cfg.Audit.FileOptions()
	o.Logger = log
	sink, err := events.NewFileSink(bus, o)
	if err != nil {
		return nil, nil, fmt.Errorf("audit.file: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sink.Run(context.Background()); err != nil {
			log.Error("audit file", "file", o.Path, "error", err.Error())
		}
	}()
	return bus, func() {
		bus.Close()
		<-done
		if st := sink.Stats(); st.Dropped > 0 || st.Failed > 0 {
			log.Warn("audit file lost events", "file", o.Path, "dropped", st.Dropped, "failed", st.Failed, "written", st.Written)
		}
	}, nil
}
