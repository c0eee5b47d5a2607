package config

import (
	"strings"

	"github.com/llm-failover/llm-failover/events"
)

// Audit is the audit trail (docs/audit.md): the in-memory event bus that
// the admin API's WatchEvents and the dashboard read, and the JSON-lines
// file. It is read at start: a reload's changes to it apply at the next
// restart. The defaults come from package events.
type Audit struct {
	// File is the JSON-lines file every audit event is appended to (mode
	// 0600, its directory created). Empty (default): no file.
	File string `json:"file,omitempty"`
	// MaxSizeMB rotates the file at this size, in megabytes. Default 100;
	// 1..10240.
	MaxSizeMB int `json:"max_size_mb,omitempty"`
	// MaxBackups is how many rotated files are kept. Default 10; 1..10000.
	MaxBackups int `json:"max_backups,omitempty"`
	// MaxAgeDays removes rotated files older than this many days. Default
	// 30; 1..3650.
	MaxAgeDays int `json:"max_age_days,omitempty"`
	// FileBuffer is how many events may wait to be written to the file;
	// past it events are dropped from the file and counted. Default 4096;
	// 1..100000.
	FileBuffer int `json:"file_buffer,omitempty"`
	// History is how many recent events are kept in memory for a
	// subscriber that joins late (the dashboard's timeline). Default 512;
	// 1..100000.
	History int `json:"history,omitempty"`
	// SubscriberBuffer is each live subscriber's queue (a WatchEvents
	// stream, a dashboard); a subscriber that falls behind by more loses
	// events, counted. Default 256; 1..100000.
	SubscriberBuffer int `json:"subscriber_buffer,omitempty"`
	// MaxSubscribers bounds the live subscribers; one more is refused.
	// Default 64; 1..10000.
	MaxSubscribers int `json:"max_subscribers,omitempty"`
	// OTelLogs also emits every event as an OpenTelemetry log record
	// (events.LogSink) on the process's global LoggerProvider, which the
	// telemetry setup provides; until one is set the records are
	// discarded. It takes a subscriber and SubscriberBuffer. Default false.
	OTelLogs bool `json:"otel_logs,omitempty"`
	// Attempts also publishes an "attempt" event for every attempt whose
	// outcome a breaker records (target, classification, status, time to
	// first byte, latency, Retry-After, tokens): the input of
	// `llm-failover replay` (docs/replay.md). It costs one line per
	// attempt, about 450 bytes. Read at every reload. Default false.
	Attempts bool `json:"attempts,omitempty"`
}

func (a *Audit) applyDefaults() {
	setInt(&a.MaxSizeMB, events.DefaultFileMaxSizeMB)
	setInt(&a.MaxBackups, events.DefaultFileMaxBackups)
	setInt(&a.MaxAgeDays, events.DefaultFileMaxAgeDays)
	setInt(&a.FileBuffer, events.DefaultFileBuffer)
	setInt(&a.History, events.DefaultHistory)
	setInt(&a.SubscriberBuffer, events.DefaultBuffer)
	setInt(&a.MaxSubscribers, events.DefaultMaxSubscribers)
}

func (a *Audit) validate(p *problems) {
	if strings.ContainsRune(a.File, 0) {
		p.bad("audit.file", "contains a NUL byte")
	}
	p.intIn("audit.max_size_mb", a.MaxSizeMB, 1, 10240)
	p.intIn("audit.max_backups", a.MaxBackups, 1, 10000)
	p.intIn("audit.max_age_days", a.MaxAgeDays, 1, 3650)
	p.intIn("audit.file_buffer", a.FileBuffer, 1, events.MaxBuffer)
	p.intIn("audit.history", a.History, 1, events.MaxHistory)
	p.intIn("audit.subscriber_buffer", a.SubscriberBuffer, 1, events.MaxBuffer)
	p.intIn("audit.max_subscribers", a.MaxSubscribers, 1, events.MaxMaxSubscribers)
}

// BusOptions are the event bus's limits.
func (a *Audit) BusOptions() events.Options {
	return events.Options{History: a.History, Buffer: a.SubscriberBuffer, MaxSubscribers: a.MaxSubscribers}
}

// FileOptions are the file sink's settings (File empty: no sink).
func (a *Audit) FileOptions() events.FileOptions {
	return events.FileOptions{Path: a.File, MaxSizeMB: a.MaxSizeMB, MaxBackups: a.MaxBackups, MaxAgeDays: a.MaxAgeDays, Buffer: a.FileBuffer}
}
