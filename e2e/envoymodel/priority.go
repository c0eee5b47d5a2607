package envoymodel

import (
	"context"
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	prevprioritiesv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
)

// compileClusterType reads cluster_type: the aggregate cluster
// (source/extensions/clusters/aggregate/cluster.cc, stable and the same in
// 1.38, 1.39 and 1.40) keeps its children's names; any other custom
// cluster type is refused. An aggregate needs lb_policy CLUSTER_PROVIDED
// and no other cluster may use it (cluster_manager_impl.cc
// ClusterManagerImpl::loadCluster: "cluster provided LB specified but
// cluster ... did not provide one", and the converse).
func (m *Model) compileClusterType(cl *cluster, c *clusterv3.Cluster) error {
	provided := c.GetLbPolicy() == clusterv3.Cluster_CLUSTER_PROVIDED
	ct := c.GetClusterType()
	if ct == nil {
		if provided {
			return fmt.Errorf("envoymodel: cluster %q: cluster provided LB specified but the cluster did not provide one", cl.name)
		}
		return nil
	}
	agg := &aggregatev3.ClusterConfig{}
	if tc := ct.GetTypedConfig(); tc == nil || !tc.MessageIs(agg) {
		return fmt.Errorf("envoymodel: cluster %q: cluster_type %q is not modelled", cl.name, ct.GetName())
	} else if err := tc.UnmarshalTo(agg); err != nil {
		return fmt.Errorf("envoymodel: cluster %q: %w", cl.name, err)
	}
	if !provided {
		return fmt.Errorf("envoymodel: cluster %q: cluster provided LB not specified but the aggregate cluster provides one", cl.name)
	}
	if len(agg.GetClusters()) == 0 {
		// aggregate/v3/cluster.proto clusters: min_items 1.
		return fmt.Errorf("envoymodel: cluster %q: an aggregate cluster needs at least one cluster", cl.name)
	}
	if len(c.GetLoadAssignment().GetEndpoints()) > 0 {
		m.warn("cluster %q: an aggregate cluster's load_assignment is ignored", cl.name)
	}
	cl.children = append([]string(nil), agg.GetClusters()...)
	return nil
}

// checkAggregates runs once every cluster is known. A child that does not
// exist is skipped when balancing (cluster.cc linearizePrioritySet: "the
// cluster could be added dynamically by xDS"); the model warns. An
// aggregate of aggregates is refused (not modelled).
func (m *Model) checkAggregates() error {
	for _, cl := range m.clusters {
		for _, name := range cl.children {
			child := m.clusters[name]
			switch {
			case child == nil:
				m.warn("aggregate cluster %q: cluster %q does not exist; it contributes no host", cl.name, name)
			case child.children != nil:
				return fmt.Errorf("envoymodel: aggregate cluster %q: child %q is an aggregate cluster (not modelled)", cl.name, name)
			}
		}
	}
	return nil
}

// hostKey names a host's priority: its cluster and priority there.
type hostKey struct {
	cluster  string
	priority uint32
}

// prioritySet is the priority set a cluster's load balancer chooses from:
// for an ordinary cluster its priorities 0..max (an empty one has no host),
// for an aggregate cluster the linearized priorities of its children.
type prioritySet struct {
	levels [][]*endpoint
	// index maps an attempted host to its priority in this set (the
	// retry priority's PriorityMappingFunc); false when it has none.
	index func(hostKey) (int, bool)
}

// prioritySet resolves the cluster's hosts now.
//
// Ordinary cluster: the mapping is the host's own priority
// (RetryPriority::defaultPriorityMapping).
//
// Aggregate cluster: AggregateClusterLoadBalancer::linearizePrioritySet
// (aggregate/cluster.cc at f1dd21b16c; unchanged in behaviour at
// 8eea3285d6): for each child in order, each of its priorities that has
// any host becomes the next linearized priority (a priority without a host,
// such as an unresolved DNS name, is left out); hostToLinearizedPriority
// maps (child name, priority) to it, a later duplicate child overwriting an
// earlier one's entry.
func (c *cluster) prioritySet(ctx context.Context) *prioritySet {
	if c.children == nil {
		ps := &prioritySet{}
		for _, l := range c.levels {
			for uint32(len(ps.levels)) < l.priority {
				ps.levels = append(ps.levels, nil)
			}
			ps.levels = append(ps.levels, l.hosts(ctx, c))
		}
		ps.index = func(k hostKey) (int, bool) { return int(k.priority), true }
		return ps
	}
	ps := &prioritySet{}
	linear := map[hostKey]int{}
	for _, name := range c.children {
		child := c.m.clusters[name]
		if child == nil {
			continue
		}
		for _, l := range child.levels {
			hs := l.hosts(ctx, child)
			if len(hs) == 0 {
				continue
			}
			linear[hostKey{name, l.priority}] = len(ps.levels)
			ps.levels = append(ps.levels, hs)
		}
	}
	ps.index = func(k hostKey) (int, bool) { i, ok := linear[k]; return i, ok }
	return ps
}

// pick chooses a host. The load goes to the first priority that has a host
// and is not excluded (excluded is nil on a first attempt and when the
// retry priority keeps the original load). Envoy spreads load over
// priorities by their health times the overprovisioning factor (1.4,
// load_balancer_impl.cc LoadBalancerBase::recalculatePerPriorityState);
// with no health checks every host is healthy, so the first priority with
// any host takes all the load and an empty one none: the model's
// all-or-nothing choice is exact for that case. Within the priority, round
// robin (the default lb_policy ROUND_ROBIN; an aggregate delegates to the
// child's load balancer with the priority pinned, aggregate/lb_context.h
// AggregateLoadBalancerContext). No host is errNoHealthyUpstream.
func (c *cluster) pick(ps *prioritySet, excluded []bool) (*endpoint, error) {
	for i, hs := range ps.levels {
		if len(hs) == 0 || i < len(excluded) && excluded[i] {
			continue
		}
		owner := hs[0].cluster
		for _, l := range owner.levels {
			if l.priority == hs[0].priority {
				n := l.rr.Add(1) - 1
				return hs[n%uint64(len(hs))], nil
			}
		}
	}
	return nil, errNoHealthyUpstream
}

// previousPriorities is the state of the
// envoy.retry_priorities.previous_priorities retry priority for one request
// (source/extensions/retry/priority/previous_priorities/previous_priorities.cc,
// the same at f1dd21b16c and 8eea3285d6 but for a refactor).
type previousPriorities struct {
	updateFrequency int
	attempted       []hostKey
	excluded        []bool
	// load is the last adjusted load (per_priority_load_), as the excluded
	// priorities it was computed with; nil is the original load.
	load []bool
}

// compileRetryPriority reads RetryPolicy.retry_priority. Only
// previous_priorities is modelled; its update_frequency must be above 0
// (previous_priorities_config.proto: gt 0).
func compileRetryPriority(rp *routev3.RetryPolicy_RetryPriority) (int, error) {
	if rp == nil {
		return 0, nil
	}
	pp := &prevprioritiesv3.PreviousPrioritiesConfig{}
	tc := rp.GetTypedConfig()
	if tc == nil || !tc.MessageIs(pp) {
		return 0, fmt.Errorf("retry_priority %q is not modelled", rp.GetName())
	}
	if err := tc.UnmarshalTo(pp); err != nil {
		return 0, err
	}
	if pp.GetUpdateFrequency() <= 0 {
		return 0, errors.New("retry_priority previous_priorities: update_frequency must be greater than 0")
	}
	return int(pp.GetUpdateFrequency()), nil
}

// onHostAttempted is RetryStateImpl::onHostAttempted, called from router.cc
// Filter::onUpstreamHostSelected for every selected host, also when its
// connection then fails.
func (p *previousPriorities) onHostAttempted(ep *endpoint) {
	p.attempted = append(p.attempted, hostKey{ep.cluster.name, ep.priority})
}

// determine is PreviousPrioritiesRetryPriority::determinePriorityLoad,
// asked on retries only (router.h Filter::determinePriorityLoad: "We only
// modify the priority load on retries"). It returns the excluded
// priorities, or nil for the original load. Every update_frequency
// attempted hosts, the priorities of the attempted hosts are excluded;
// when that leaves no priority with a host, the exclusions and the
// attempted hosts are cleared and the original load applies again: the
// retries wrap around to the first priority (adjustForAttemptedPriorities).
func (p *previousPriorities) determine(ps *prioritySet) []bool {
	n := len(p.attempted)
	if n < p.updateFrequency {
		return nil
	}
	if n%p.updateFrequency != 0 {
		return p.load
	}
	for len(p.excluded) < len(ps.levels) {
		p.excluded = append(p.excluded, false)
	}
	for _, h := range p.attempted {
		if i, ok := ps.index(h); ok {
			for len(p.excluded) <= i {
				p.excluded = append(p.excluded, false)
			}
			p.excluded[i] = true
		}
	}
	available := func() bool {
		for i, hs := range ps.levels {
			if len(hs) > 0 && !p.excluded[i] {
				return true
			}
		}
		return false
	}
	if !available() {
		for i := range p.excluded {
			p.excluded[i] = false
		}
		p.attempted = nil
		if !available() {
			return nil
		}
	}
	p.load = append([]bool(nil), p.excluded...)
	return p.load
}
