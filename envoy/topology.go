package envoy

import (
	"fmt"
	"slices"
	"strconv"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	previouspriov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	matcherspecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/matcher/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// Versions are the Envoy releases the generator writes for (envoy.version,
// envoy-config --envoy-version), oldest first.
func Versions() []string { return config.EnvoyVersions() }

// The topologies (docs/compatibility.md). Each keeps the two properties the
// server needs: every attempt's cluster follows the request's plan, and a
// failed attempt is retried on the next planned provider by Envoy itself.
//
//   - 1.40: the priority_group cluster specifier, overridden per request
//     from dynamic metadata; retries re-run it (refresh_cluster_on_retry).
//   - 1.39: the matcher cluster specifier keyed on x-envoy-attempt-count
//     (the previous attempt's count when a retry re-runs it) and then on the
//     slot header of that attempt, which the route phase writes; retries
//     re-run it (refresh_cluster_on_retry, new in 1.39).
//   - 1.38: a retry cannot change the route's cluster, so the route phase
//     names one aggregate cluster per plan shape (cluster_header), whose
//     children are the plan's provider clusters in order, and the
//     previous_priorities retry plugin moves each retry to the next child.

// clusterChoice sets how the failover route picks its cluster on
// c.Envoy.Version, and the retry policy fields that go with it.
func clusterChoice(c *config.Config, groups []*pgv3.PriorityGroup, a *routev3.RouteAction) {
	switch c.Envoy.Version {
	case config.EnvoyV139:
		a.ClusterSpecifier = &routev3.RouteAction_InlineClusterSpecifierPlugin{InlineClusterSpecifierPlugin: &routev3.ClusterSpecifierPlugin{
			Extension: &corev3.TypedExtensionConfig{Name: matcherPlugin, TypedConfig: mustAny(slotMatcher(c))},
		}}
		a.RetryPolicy.RefreshClusterOnRetry = true
	case config.EnvoyV138:
		a.ClusterSpecifier = &routev3.RouteAction_ClusterHeader{ClusterHeader: contract.HeaderCluster}
		a.RetryPolicy.RetryPriority = &routev3.RetryPolicy_RetryPriority{
			Name: previousPrioritiesPlugin,
			// update_frequency 1: every retry leaves out the children
			// already attempted (previous_priorities.cc determinePriorityLoad).
			ConfigType: &routev3.RetryPolicy_RetryPriority_TypedConfig{TypedConfig: mustAny(&previouspriov3.PreviousPrioritiesConfig{UpdateFrequency: 1})},
		}
	default:
		a.ClusterSpecifier = &routev3.RouteAction_InlineClusterSpecifierPlugin{InlineClusterSpecifierPlugin: &routev3.ClusterSpecifierPlugin{
			Extension: &corev3.TypedExtensionConfig{Name: priorityGroupPlugin, TypedConfig: mustAny(&pgv3.PriorityGroupClusterSpecifier{
				PriorityGroups:            groups,
				OverrideMetadataNamespace: c.MetadataNamespace,
			})},
		}}
		a.RetryPolicy.RefreshClusterOnRetry = true
	}
}

// routePhaseMutationRules is the route-phase filter's allow_expression: the
// per-request bounds, and on 1.39 the attempt count it pins.
func routePhaseMutationRules(c *config.Config) string {
	if c.Envoy.Version == config.EnvoyV139 {
		return contract.SlotBoundsHeaders
	}
	return contract.PerRequestBoundsHeaders
}

// providerClusters are the distinct provider clusters, in provider order.
func providerClusters(c *config.Config) []string {
	var out []string
	for _, p := range c.Providers {
		if !slices.Contains(out, p.Cluster) {
			out = append(out, p.Cluster)
		}
	}
	return out
}

// slotMatcher is the 1.39 cluster specifier: x-envoy-attempt-count "n-1"
// (the route phase pins "0" for attempt 1; a retry re-runs the matcher
// before the router rewrites the header, router.cc Filter::doRetry) leads
// to slot n's header, whose value names the cluster. Every (slot, cluster)
// pair is a leaf: ClusterAction names a fixed cluster. There is no
// on_no_match anywhere: a nested no-match falls through to the enclosing
// on_no_match (exact_map_matcher.h), which would send an unknown slot to
// another slot's cluster; no match at all keeps the previous cluster on a
// retry and none (503 NC) on the first pick
// (matcher_cluster_specifier.cc MatcherRouteEntry::refreshRouteCluster).
func slotMatcher(c *config.Config) *matcherspecv3.MatcherClusterSpecifier {
	clusters := providerClusters(c)
	slots := map[string]*xdsmatcherv3.Matcher_OnMatch{}
	for n := 1; n <= c.MaxAttempts(); n++ {
		leaves := make(map[string]*xdsmatcherv3.Matcher_OnMatch, len(clusters))
		for _, cl := range clusters {
			leaves[cl] = &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Action{Action: &xdscorev3.TypedExtensionConfig{
				Name:        "cluster",
				TypedConfig: mustAny(&matcherspecv3.ClusterAction{Cluster: cl}),
			}}}
		}
		slots[strconv.Itoa(n-1)] = &xdsmatcherv3.Matcher_OnMatch{OnMatch: &xdsmatcherv3.Matcher_OnMatch_Matcher{
			Matcher: headerMap("slot-"+strconv.Itoa(n), contract.SlotHeader(n), leaves),
		}}
	}
	return &matcherspecv3.MatcherClusterSpecifier{ClusterMatcher: headerMap("previous-attempt", contract.HeaderAttemptCount, slots)}
}

// headerMap is a matcher tree on request header h with an exact_match_map.
func headerMap(name, h string, m map[string]*xdsmatcherv3.Matcher_OnMatch) *xdsmatcherv3.Matcher {
	return &xdsmatcherv3.Matcher{MatcherType: &xdsmatcherv3.Matcher_MatcherTree_{MatcherTree: &xdsmatcherv3.Matcher_MatcherTree{
		Input: &xdscorev3.TypedExtensionConfig{Name: name, TypedConfig: mustAny(&matcherv3.HttpRequestHeaderMatchInput{HeaderName: h})},
		TreeType: &xdsmatcherv3.Matcher_MatcherTree_ExactMatchMap{ExactMatchMap: &xdsmatcherv3.Matcher_MatcherTree_MatchMap{
			Map: m,
		}},
	}}}
}

// shapeClusters are the 1.38 aggregate clusters, one per generated plan
// shape (config.Shapes): children in plan order, the attempt-phase ext_proc
// as their upstream filter (the router builds the upstream filter chain
// from the aggregate, upstream_request.cc UpstreamRequest; the children's
// filters never run), and a max_retries breaker as high as the children's
// (only max_retries is the aggregate's own).
func shapeClusters(c *config.Config) ([]*clusterv3.Cluster, error) {
	if c.Envoy.Version != config.EnvoyV138 {
		return nil, nil
	}
	var out []*clusterv3.Cluster
	for _, shape := range c.Shapes() {
		for _, cl := range shape {
			if p := c.ProviderByCluster(cl); p != nil && p.Auth.HeldByEnvoy() {
				return nil, fmt.Errorf("%w: envoy.version %s: provider %q's key is held by Envoy (auth.held_by: envoy), but its cluster %q is a child of aggregate cluster %q, which never runs a child's upstream filters, so the key would not be injected: hold the key in llm-failover, or use Envoy 1.39 or later",
					ErrGenerate, c.Envoy.Version, p.Name, cl, contract.ShapeCluster(shape))
			}
		}
		opts := http2Options([]*hcmv3.HttpFilter{
			{Name: filterExtProc, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(attemptPhaseExtProc(c))}},
		})
		out = append(out, &clusterv3.Cluster{
			Name: contract.ShapeCluster(shape),
			ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
				Name:        aggregateCluster,
				TypedConfig: mustAny(&aggregatev3.ClusterConfig{Clusters: shape}),
			}},
			LbPolicy: clusterv3.Cluster_CLUSTER_PROVIDED,
			CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
				Priority:   corev3.RoutingPriority_DEFAULT,
				MaxRetries: u32(breakerLimit),
			}}},
			// The protocol and pools are the child's (the connection pool
			// comes from the chosen host's cluster); the schema wants one.
			TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(opts)},
		})
	}
	return out, nil
}

// unavailableFallback reports whether provider clusters get the loopback
// "unavailable" endpoint at priority 1. Not on 1.38: an aggregate
// linearizes every child priority level with hosts
// (aggregate/cluster.cc linearizePrioritySet), so previous_priorities
// would send the retry after a child's failure to that child's own
// priority 1 instead of the next provider.
func unavailableFallback(c *config.Config) bool { return c.Envoy.Version != config.EnvoyV138 }
