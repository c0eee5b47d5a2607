package events

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"gopkg.in/natefinch/lumberjack.v2"
)

// FileOptions configure a FileSink. Zero fields take their defaults; the
// config package validates the bounds (config/audit.go), NewFileSink
// clamps them.
type FileOptions struct {
	// Path is the file events are appended to, one JSON line each
	// (Encode). Required. Rotated files sit beside it, named
	// <name>-<UTC time>.<ext>.
	Path string
	// MaxSizeMB rotates the file when a write would take it past this
	// size, in megabytes. Default 100; 1..10240.
	MaxSizeMB int
	// MaxBackups is how many rotated files are kept. Default 10; 1..10000.
	MaxBackups int
	// MaxAgeDays removes rotated files older than this. Default 30;
	// 1..3650.
	MaxAgeDays int
	// Buffer is the sink's subscription buffer: events waiting to be
	// written. Events past it are dropped and counted (Stats). Default
	// 4096; 1..MaxBuffer.
	Buffer int
	// Logger receives write failures and recoveries; nil discards.
	Logger *slog.Logger
}

// Defaults of FileOptions.
const (
	DefaultFileMaxSizeMB  = 100
	DefaultFileMaxBackups = 10
	DefaultFileMaxAgeDays = 30
	DefaultFileBuffer     = 4096
)

func (o FileOptions) withDefaults() FileOptions {
	o.MaxSizeMB = clampDefault(o.MaxSizeMB, DefaultFileMaxSizeMB, 1, 10240)
	o.MaxBackups = clampDefault(o.MaxBackups, DefaultFileMaxBackups, 1, 10000)
	o.MaxAgeDays = clampDefault(o.MaxAgeDays, DefaultFileMaxAgeDays, 1, 3650)
	o.Buffer = clampDefault(o.Buffer, DefaultFileBuffer, 1, MaxBuffer)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// FileStats are a FileSink's counters.
type FileStats struct {
	// Written is the number of events written.
	Written uint64
	// Failed is the number of events whose write failed (lost).
	Failed uint64
	// Dropped is the number of events lost to a full buffer.
	Dropped uint64
}

// FileSink writes a Bus's events to a rotating JSON-lines file. Make it
// with NewFileSink and run it with Run. The rotation is lumberjack's, which
// starts one cleanup goroutine per file on the first write and never stops
// it: one per process, as the server makes one sink.
type FileSink struct {
	o       FileOptions
	sub     *Subscription
	w       io.WriteCloser
	written atomic.Uint64
	failed  atomic.Uint64
}

// NewFileSink subscribes to b and prepares Path: it creates the directory
// and checks the file can be opened for appending, so a bad path fails at
// start. The history b holds is written first, then every later event.
func NewFileSink(b *Bus, o FileOptions) (*FileSink, error) {
	o = o.withDefaults()
	if o.Path == "" {
		return nil, fmt.Errorf("events: file sink: no path")
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o750); err != nil {
		return nil, fmt.Errorf("events: file sink: %w", err)
	}
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("events: file sink: %w", err)
	}
	f.Close()
	sub, err := b.Subscribe(SubscribeOptions{Buffer: o.Buffer})
	if err != nil {
		return nil, fmt.Errorf("events: file sink: %w", err)
	}
	w := &lumberjack.Logger{Filename: o.Path, MaxSize: o.MaxSizeMB, MaxBackups: o.MaxBackups, MaxAge: o.MaxAgeDays, LocalTime: false}
	return &FileSink{o: o, sub: sub, w: w}, nil
}

// Run writes events until ctx is done or the Bus closes, then writes what
// is still buffered, closes the file and returns. Lines are gathered and
// written together, always whole (the file rotates between writes, so a
// line never spans two files), whenever no event waits or batchBytes are
// gathered: a burst costs few system calls and a quiet file is complete.
func (s *FileSink) Run(ctx context.Context) error {
	batch := make([]byte, 0, batchBytes)
	n := 0 // events in batch
	failing := false
	flush := func() {
		if n == 0 {
			return
		}
		if _, err := s.w.Write(batch); err != nil {
			s.failed.Add(uint64(n))
			if !failing {
				s.o.Logger.Error("audit file: write failed; events are lost until it recovers", "file", s.o.Path, "error", err.Error())
			}
			failing = true
		} else {
			s.written.Add(uint64(n))
			if failing {
				s.o.Logger.Info("audit file: writing again", "file", s.o.Path, "lost", s.failed.Load())
				failing = false
			}
		}
		batch, n = batch[:0], 0
	}
	add := func(e Event) {
		line, err := Encode(e)
		if err != nil { // cannot happen for a published event
			s.failed.Add(1)
			return
		}
		batch = append(batch, line...)
		n++
		if len(batch) >= batchBytes || len(s.sub.C()) == 0 {
			flush()
		}
	}
	for _, e := range s.sub.Backlog {
		add(e)
	}
	flush()
	s.sub.Backlog = nil
	done := ctx.Done()
	for {
		select {
		case e, ok := <-s.sub.C():
			if !ok {
				flush()
				if err := s.w.Close(); err != nil {
					return fmt.Errorf("events: file sink: %w", err)
				}
				return nil
			}
			add(e)
		case <-done:
			s.sub.Close()
			done = nil // drain what is buffered; C is closed now
		}
	}
}

// batchBytes is the most a write gathers.
const batchBytes = 64 << 10

// Stats returns the sink's counters.
func (s *FileSink) Stats() FileStats {
	return FileStats{Written: s.written.Load(), Failed: s.failed.Load(), Dropped: s.sub.Dropped()}
}
