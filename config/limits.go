package config

import (
	"time"
)

// Limits bound what a request may be.
type Limits struct {
	// MaxBodyBytes is the largest request body; it also bounds a non-streamed
	// answer held whole to be judged (a larger one is passed on unjudged) and a
	// single stream event. Default 4MiB, 1KiB..256MiB.
	MaxBodyBytes ByteSize `json:"max_body_bytes,omitempty"`
	// MaxTargets is the longest chain. Default 8, 1..32.
	MaxTargets int `json:"max_targets,omitempty"`
}

// Trace bounds the per-request attempt record.
type Trace struct {
	// MaxEntries is how many requests are remembered. Default 10000, 16..10000000.
	MaxEntries int `json:"max_entries,omitempty"`
	// TTL is how long a request's record lives. Default 5m, 1s..24h.
	TTL Duration `json:"ttl,omitempty"`
}

func (l *Limits) applyDefaults() {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	setInt(&l.MaxTargets, DefaultMaxTargets)
}

func (l *Limits) validate(p *problems) {
	if m := l.MaxBodyBytes; m < 1<<10 || m > 256<<20 {
		p.bad("limits.max_body_bytes", "%s is outside 1KiB..256MiB", m)
	}
	p.intIn("limits.max_targets", l.MaxTargets, 1, 32)
}

func (t *Trace) applyDefaults() {
	setInt(&t.MaxEntries, 10000)
	setDur(&t.TTL, 5*time.Minute)
}

func (t *Trace) validate(p *problems) {
	p.intIn("trace.max_entries", t.MaxEntries, 16, 10_000_000)
	p.durIn("trace.ttl", t.TTL, time.Second, 24*time.Hour)
}
