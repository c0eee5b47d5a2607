// Package probe sends the active health probes of issue 16
// (docs/design.md, "Active probes"): per probed target, at its interval
// with jitter, a one-message chat completion with a small max_tokens, sent
// to Envoy's front door with a signed x-llm-failover-probe header that makes
// the route phase plan exactly that target. The probe takes the target's
// cluster, TLS, key and path like real traffic; the attempt phase records
// its outcome in the target's breaker as a probe's (breaker.Outcome.Probe).
// A half-open target is probed here instead of by a user's request when
// probes.synthetic_half_open is on. Probes are rate-limited (a global token
// bucket and a per-target minimum interval). Who probes a target is asked of
// a Claimer: Local probes everything; the fleet store of issue 18 can
// implement one that lets exactly one replica probe a target at a time.
// Time comes from an injected clock: tests call Round with the time they
// set; Run calls it on a ticker.
package probe
