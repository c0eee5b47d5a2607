// Package routing turns a request's model into a plan: the chain it belongs
// to and the ordered targets Envoy walks, one per attempt, chosen from live
// breaker state and from what the request needs of a target (Needs:
// capabilities, context window, fields only OpenAI-format targets serve;
// the target a conversation stays on, affinity.go). A Table is an immutable snapshot of the configuration with
// the breakers of its targets; breakers outlive configuration reloads through
// a Registry. The plan is published to Envoy as the priority_group cluster
// specifier's override (docs/envoy-contract.md). A chain's tiers share
// traffic by weight (tiers.go), and regions order plans by the request's
// preferred region, keep a strict chain in it, and move a region in outage
// behind the others (region.go, regionwatch.go; docs/tiers-regions.md).
package routing
