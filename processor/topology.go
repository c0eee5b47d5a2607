package processor

import (
	"slices"
	"time"

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

// fitTopology is plan as the configured Envoy version can attempt it. On
// 1.40 and 1.39 that is the plan itself. On 1.38 the request goes to one
// aggregate cluster per plan shape (docs/compatibility.md): the plan keeps
// the first step of each of its clusters in the longest prefix of its
// distinct clusters that has a generated shape (r.shape, counted and logged
// when shorter than the plan), and a multi-target shape has no same-target
// retries, since previous_priorities would send them back to the first
// child. Steps left out give back their half-open probe slots. The signed
// plan is the result, so the attempt phase knows which attempt is the last.
func (r *routeStream) fitTopology(plan routing.Plan, now time.Time) routing.Plan {
	if r.st.cfg.Envoy.Version != config.EnvoyV138 {
		return plan
	}
	var clusters []string
	for _, s := range plan.Steps {
		if !slices.Contains(clusters, s.Cluster) {
			clusters = append(clusters, s.Cluster)
		}
	}
	shape := contract.ShapeFor(clusters, r.st.shapes)
	r.shape = shape.Cluster
	if shape.Len < len(clusters) {
		r.s.tel.CountShapeFallback(plan.Chain)
		r.logger().Warn("plan shape not generated: later targets are not attempted (raise envoy.max_shapes)",
			"chain", plan.Chain, "planned", len(clusters), "attempted", shape.Len, "cluster", shape.Cluster)
	}
	kept := make([]routing.Step, 0, shape.Len)
	for _, s := range plan.Steps {
		if i := slices.Index(clusters, s.Cluster); i < shape.Len && !slices.ContainsFunc(kept, func(k routing.Step) bool { return k.Cluster == s.Cluster }) {
			kept = append(kept, s)
			continue
		}
		s.Release(now) // a half-open probe slot this request will not use
	}
	plan.Steps = kept
	if len(kept) > 1 {
		plan.SameTargetRetries = 0
	}
	return plan
}

// clusterHeaders adds to m what the configured Envoy version's topology
// reads to send each attempt of plan to its cluster (docs/compatibility.md):
//
//   - 1.40: nothing; the priority_group override is in the plan's dynamic
//     metadata (planMetadata).
//   - 1.39: slot headers 1..A for the plan's A attempts, padded with the
//     last target (its same-target retries stay on it), and
//     x-envoy-attempt-count pinned to "0", slot 1's key, since the matcher
//     reads the previous attempt's count and a client may send any.
//   - 1.38: the route's cluster_header: the shape fitTopology chose.
func (r *routeStream) clusterHeaders(m *mutation, plan routing.Plan) {
	switch r.st.cfg.Envoy.Version {
	case config.EnvoyV139:
		m.setHeader(contract.HeaderAttemptCount, contract.AttemptCountFirst)
		for n := 1; n <= len(plan.Steps)+plan.SameTargetRetries; n++ {
			m.setHeader(contract.SlotHeader(n), plan.Steps[min(n, len(plan.Steps))-1].Cluster)
		}
	case config.EnvoyV138:
		m.setHeader(contract.HeaderCluster, r.shape)
	}
}
