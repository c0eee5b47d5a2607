// Package events is the audit trail: a versioned Event schema (every
// failover, breaker transition, policy denial, probe and configuration
// reload), a Bus that fans events out to subscribers without ever blocking
// the publisher (bounded per-subscriber buffers, drops counted, a bounded
// history for late subscribers), and sinks that write them out (JSON lines
// to a rotating file). The wire format, version 1, is specified in
// docs/audit.md; the replay lab reads it. An Event never carries any part of
// a prompt, an answer or a key.
package events
