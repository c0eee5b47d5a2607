// Package fleet keeps the circuit breakers of several llm-failover replicas
// in step through Redis (or Valkey), so an outage one replica sees opens
// the target on all of them, exactly one replica probes a target that has
// cooled down, and recovery stages advance fleet-wide.
//
// Redis is never on a request's path. Plans read only local breakers; the
// fleet learns of local transitions through routing.Registry.Observe and
// publishes them from a background goroutine, coalesced per target, so a
// slow or absent Redis costs a request nothing. Other replicas' transitions
// arrive by Pub/Sub and are applied with breaker.Adopt; every target's last
// transition is also kept in a Redis hash, read at start, after every
// reconnection and every fleet.resync_every, so a replica that missed
// messages converges. Each hash carries a per-target generation incremented
// by the script that publishes: the newest generation wins (last writer
// wins), and an older message is ignored. An adopted cooldown is a duration
// applied on the local clock, so it always ends locally even when no
// further message comes.
//
// The half-open probe is leased: as a target's cooldown is about to end,
// each replica tries to take a lease key (SET NX PX fleet.probe_lease); the
// winner lets its breaker go half-open and probe, the others stay open
// (breaker.HoldOpen) until the lease ends or the winner's outcome reaches
// them. A replica that cannot reach Redis takes no lease and decides alone.
//
// With fleet.shared_counting, every outcome on a closed breaker also goes,
// best effort through a bounded queue, to an atomic Lua script that counts
// consecutive failures and the error-rate window across the fleet; when
// the fleet's count reaches a trigger, the replica that saw it opens its
// breaker (breaker.OpenShared) and publishes the opening.
//
// docs/fleet.md is the user's guide: what is shared, the consistency each
// piece gets, partitions, Sentinel, Cluster and Valkey.
package fleet
