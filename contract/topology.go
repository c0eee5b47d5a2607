package contract

import (
	"strconv"
	"strings"
)

// Request headers the route phase sets for the cluster choice on Envoy 1.39
// and 1.38 (docs/compatibility.md); on 1.40 the priority_group override in
// dynamic metadata carries it instead.
const (
	// HeaderAttemptCount is the router's attempt count header
	// (VirtualHost.include_request_attempt_count). On 1.39 the matcher
	// cluster specifier is keyed on it: a retry re-runs the matcher after the
	// router counted the attempt but before it rewrites this header
	// (router.cc Filter::doRetry, continueDoRetry), so attempt n reads n-1.
	// The route phase pins it to AttemptCountFirst for attempt 1 (a client
	// may send any value).
	HeaderAttemptCount = "x-envoy-attempt-count"
	// AttemptCountFirst is HeaderAttemptCount's value the route phase pins:
	// the key of slot 1 in the matcher.
	AttemptCountFirst = "0"
	// SlotHeaderPrefix starts the 1.39 per-attempt slot headers: attempt n
	// uses the cluster named by SlotHeader(n).
	SlotHeaderPrefix = "x-llm-failover-slot-"
	// HeaderCluster is the 1.38 route's cluster_header: the route phase
	// writes the plan's shape cluster (ShapeCluster) or, for a one-cluster
	// plan, that provider cluster.
	HeaderCluster = "x-llm-failover-cluster"
	// SlotBoundsHeaders is PerRequestBoundsHeaders plus HeaderAttemptCount:
	// the 1.39 route-phase ext_proc filter's mutation_rules.allow_expression.
	SlotBoundsHeaders = "^x-envoy-(max-retries|upstream-rq-per-try-timeout-ms|attempt-count)$"
)

// SlotHeader is the header naming attempt n's cluster on Envoy 1.39 (n from 1).
func SlotHeader(n int) string { return SlotHeaderPrefix + strconv.Itoa(n) }

// ShapePrefix starts the name of every 1.38 aggregate (shape) cluster.
const ShapePrefix = "llm_failover_shape_"

// shapeSep separates the provider clusters in a shape cluster's name.
const shapeSep = "__"

// ShapeCluster is the name of the 1.38 aggregate cluster whose children are
// clusters, in order (two or more).
func ShapeCluster(clusters []string) string {
	return ShapePrefix + strings.Join(clusters, shapeSep)
}

// Shape is where a plan's distinct clusters go on Envoy 1.38.
type Shape struct {
	// Cluster is the route's cluster: a shape cluster, or the first
	// provider cluster alone.
	Cluster string
	// Len is how many of the plan's distinct clusters it covers.
	Len int
}

// ShapeFor is the cluster a plan whose distinct provider clusters are
// clusters (in order) goes to on Envoy 1.38: the shape cluster of the
// longest prefix of clusters that generated holds (at worst the first
// cluster alone, which needs no aggregate). Len < len(clusters) means the
// plan's later clusters are not attempted.
func ShapeFor(clusters []string, generated map[string]bool) Shape {
	for n := len(clusters); n >= 2; n-- {
		if name := ShapeCluster(clusters[:n]); generated[name] {
			return Shape{Cluster: name, Len: n}
		}
	}
	if len(clusters) == 0 {
		return Shape{}
	}
	return Shape{Cluster: clusters[0], Len: 1}
}
