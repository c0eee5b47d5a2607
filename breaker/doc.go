// Package breaker keeps the health of each failover target (one provider and
// model) as a circuit breaker: it opens on consecutive failures, on a
// provider's Retry-After, on auth or quota errors, on a sliding-window error
// rate, on a sliding-window share of answers failing quality checks
// (Settings.Quality, its own window) or on a slow latency EWMA; after a cooldown that grows on every re-open
// it admits a few half-open probes, then readmits traffic in stages
// (Settings.RecoveryStages) before closing again. An opened breaker keeps
// why it opened (Opening: the trigger, what it counted, the outcome that
// tripped it, the cooldown) until it closes, and reports every transition
// to Settings.OnStateChange. The state machine follows
// sony/gobreaker v2 (one setState for every transition, a generation counter,
// lazy open->half-open computed from the time passed in, no timers or
// goroutines) and failsafe-go's time-bucketed windows; every method takes
// `now` so tests drive a fake clock, and Allow and Record never allocate.
// Its place in the system is in docs/design.md, section 3 ("Packages").
package breaker
