package processor

import (
	"slices"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/routing"
)

// shapeSet is the set of 1.38 shape clusters envoy-config generates for
// cfg, or nil on other Envoy versions.
func shapeSet(cfg *config.Config) map[string]bool {
	if cfg.Envoy.Version != config.EnvoyV138 {
		return nil
	}
	set := map[string]bool{}
	for _, s := range cfg.Shapes() {
		set[contract.ShapeCluster(s)] = true
	}
	return set
}

// clusterChoice adds to m what the configured Envoy version's topology
// reads to send each attempt of plan to its cluster, and returns the
// request's retry bound (x-envoy-max-retries) on that topology
// (docs/compatibility.md):
//
//   - 1.40: nothing; the priority_group override is in the plan's dynamic
//     metadata (planMetadata).
//   - 1.39: slot headers 1..A for the A attempts, padded with the last
//     target (its same-target retries stay on it), and
//     x-envoy-attempt-count pinned to "0", slot 1's key, since the matcher
//     reads the previous attempt's count and a client may send any.
//   - 1.38: the route's cluster_header: the aggregate of the plan's
//     distinct clusters, or of their longest generated prefix, counted and
//     logged when shorter; the retries stop at its last child, since
//     previous_priorities would then go back to the first.
func (r *routeStream) clusterChoice(m *mutation, plan routing.Plan) int {
	retries := len(plan.Steps) - 1 + plan.SameTargetRetries
	switch r.st.cfg.Envoy.Version {
	case config.EnvoyV139:
		m.setHeader(contract.HeaderAttemptCount, contract.AttemptCountFirst)
		for n := 1; n <= retries+1; n++ {
			m.setHeader(contract.SlotHeader(n), plan.Steps[min(n, len(plan.Steps))-1].Cluster)
		}
	case config.EnvoyV138:
		var clusters []string
		for _, s := range plan.Steps {
			if !slices.Contains(clusters, s.Cluster) {
				clusters = append(clusters, s.Cluster)
			}
		}
		shape := contract.ShapeFor(clusters, r.st.shapes)
		m.setHeader(contract.HeaderCluster, shape.Cluster)
		if shape.Len < len(clusters) {
			counter(&r.s.metrics.shapeFallbacks, plan.Chain).Add(1)
			r.logger().Warn("plan shape not generated: later targets are not attempted (raise envoy.max_shapes)",
				"chain", plan.Chain, "planned", len(clusters), "attempted", shape.Len, "cluster", shape.Cluster)
		}
		if shape.Len > 1 {
			return shape.Len - 1
		}
		if len(clusters) > 1 {
			return plan.SameTargetRetries // only the first target's cluster
		}
	}
	return retries
}
