package envoy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	previouspriov3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	matcherspecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/matcher/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// CheckVersion is Check for Envoy version ("1.38", "1.39" or "1.40"; see
// Versions): besides the 1.40 API and the contract, it refuses every field
// and extension type that version lacks (ValidateAPI) and checks the
// version's topology (docs/compatibility.md). Check is
// CheckVersion(yamlBytes, "1.40").
func CheckVersion(yamlBytes []byte, version string) error {
	if !slices.Contains(Versions(), version) {
		return &Problem{Reason: fmt.Sprintf("Envoy version %q is not supported: want one of %s", version, strings.Join(Versions(), ", "))}
	}
	b, err := decode(yamlBytes)
	if err != nil {
		return err
	}
	var probs []error
	probs = append(probs, validateTree(b.ProtoReflect(), "")...)
	if err := ValidateAPI(version, b); err != nil {
		probs = append(probs, err) // a field or extension the version lacks
	}
	probs = append(probs, semantic(b)...)
	probs = append(probs, topologyProblems(b, version)...)
	probs = append(probs, nodeProblems(b)...)
	return errors.Join(probs...)
}

// Losses are what the topology of version gives up compared with 1.40's,
// one sentence each (docs/compatibility.md); none for 1.40.
func Losses(version string) []string {
	switch version {
	case config.EnvoyV139:
		return []string{
			"the plan travels in request headers x-llm-failover-slot-N, which also reach the providers",
			"the matcher cluster specifier is an alpha extension, with one map entry per (attempt, provider cluster)",
			"the route phase pins x-envoy-attempt-count: 0 (a mutation_rules exception), since a retry re-runs the matcher before the router rewrites that header",
		}
	case config.EnvoyV138:
		return []string{
			"per-request order is limited to the generated plan shapes (envoy.max_shapes aggregate clusters); another plan goes to its longest generated prefix, and its later targets are not attempted",
			"no same-target retries after the last target of a multi-target plan (previous_priorities would wrap to the first child): routing.same_target_retries applies to one-target plans only",
			"a chain naming one provider cluster twice attempts it once (an aggregate cannot hold a cluster twice)",
			"a provider whose DNS name resolves to nothing is skipped by the aggregate without counting against its breaker, or answered 503 by Envoy (never retried) when it is the plan's only target: no loopback unavailable endpoint, which an aggregate would try as the next child",
			"keys held by Envoy (auth.held_by: envoy) are refused for providers in a shape: an aggregate never runs its children's upstream filters",
			"the access log's %UPSTREAM_CLUSTER% and the max_retries circuit breaker are the aggregate's",
		}
	}
	return nil
}

// topologyProblems checks what version lacks and what its topology needs:
// clusters the matcher and the aggregates name exist; retries re-run a
// matcher; the 1.38 shape route moves retries to the next child.
func topologyProblems(b *bootstrapv3.Bootstrap, version string) []error {
	var probs []error
	bad := func(path, format string, a ...any) {
		probs = append(probs, &Problem{Path: path, Reason: fmt.Sprintf(format, a...)})
	}
	ix := newIndex()
	sr := b.GetStaticResources()
	for i, cl := range sr.GetClusters() {
		ix.clusters[cl.GetName()] = i
	}
	for i, l := range sr.GetListeners() {
		_ = indexListener(ix, l, fmt.Sprintf("static_resources.listeners[%d]", i)) // reported by semantic
	}
	cds := b.GetDynamicResources().GetCdsConfig() != nil || b.GetDynamicResources().GetCdsResourcesLocator() != ""
	exists := func(path, name, what string) {
		if _, ok := ix.clusters[name]; !ok && name != "" && !cds {
			bad(path, "%s names cluster %q, which static_resources.clusters does not define", what, name)
		}
	}
	for i, cl := range sr.GetClusters() {
		var agg aggregatev3.ClusterConfig
		if !unpack(cl.GetClusterType().GetTypedConfig(), &agg) {
			continue
		}
		p := fmt.Sprintf("static_resources.clusters[%d].cluster_type.typed_config.clusters", i)
		seen := map[string]int{}
		for j, child := range agg.GetClusters() {
			exists(fmt.Sprintf("%s[%d]", p, j), child, "the aggregate cluster")
			if k, dup := seen[child]; dup {
				// linearizePrioritySet maps (cluster, priority) to the last
				// occurrence, so previous_priorities excludes the wrong one.
				bad(fmt.Sprintf("%s[%d]", p, j), "cluster %q is also child %d: a retry after it would return to the same child (aggregate/cluster.cc linearizePrioritySet keeps one priority per cluster name)", child, k)
			}
			seen[child] = j
		}
	}
	for _, r := range ix.routes {
		a := r.msg.GetRoute()
		if a == nil {
			continue
		}
		rp := a.GetRetryPolicy()
		if rp == nil {
			rp = ix.vhostRetry[r.msg]
		}
		tc := a.GetInlineClusterSpecifierPlugin().GetExtension().GetTypedConfig()
		sp := r.path + ".route.inline_cluster_specifier_plugin.extension.typed_config"
		if version != config.EnvoyV140 && tc.MessageIs(&pgv3.PriorityGroupClusterSpecifier{}) {
			// ValidateAPI refuses the type; say what to do instead.
			bad(sp, "the priority_group topology needs Envoy 1.40: generate with --envoy-version %s", version)
		}
		var m matcherspecv3.MatcherClusterSpecifier
		if unpack(tc, &m) {
			walkClusterActions(m.GetClusterMatcher(), sp+".cluster_matcher", func(path, cluster string) {
				exists(path, cluster, "the matcher cluster specifier")
			})
			switch {
			case version == config.EnvoyV138:
				bad(sp, "Envoy 1.38 never re-runs a matcher cluster specifier on a retry (refresh_cluster_on_retry is new in 1.39): every retry would reuse the first attempt's cluster")
			case !rp.GetRefreshClusterOnRetry():
				bad(r.path+".route.retry_policy.refresh_cluster_on_retry", "must be true with the matcher cluster specifier, or every retry reuses the first cluster")
			}
		}
		if a.GetClusterHeader() == contract.HeaderCluster && rp != nil {
			if !rp.GetRetryPriority().GetTypedConfig().MessageIs(&previouspriov3.PreviousPrioritiesConfig{}) {
				bad(r.path+".route.retry_policy.retry_priority", "must be %s with the 1.38 shape clusters (cluster_header %q), or every retry goes to the aggregate's first child again", previousPrioritiesPlugin, contract.HeaderCluster)
			}
		}
	}
	return probs
}

// walkClusterActions calls f with every ClusterAction's cluster in the
// matcher tree m, and its path.
func walkClusterActions(m *xdsmatcherv3.Matcher, path string, f func(path, cluster string)) {
	if m == nil {
		return
	}
	visit := func(om *xdsmatcherv3.Matcher_OnMatch, p string) {
		if om == nil {
			return
		}
		if sub := om.GetMatcher(); sub != nil {
			walkClusterActions(sub, p+".matcher", f)
			return
		}
		var ca matcherspecv3.ClusterAction
		if unpack(om.GetAction().GetTypedConfig(), &ca) {
			f(p+".action.typed_config.cluster", ca.GetCluster())
		}
	}
	t := m.GetMatcherTree()
	for _, mm := range []struct {
		kind string
		m    *xdsmatcherv3.Matcher_MatcherTree_MatchMap
	}{{"exact_match_map", t.GetExactMatchMap()}, {"prefix_match_map", t.GetPrefixMatchMap()}} {
		keys := make([]string, 0, len(mm.m.GetMap()))
		for k := range mm.m.GetMap() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			visit(mm.m.GetMap()[k], fmt.Sprintf("%s.matcher_tree.%s.map[%q]", path, mm.kind, k))
		}
	}
	for i, fm := range m.GetMatcherList().GetMatchers() {
		visit(fm.GetOnMatch(), fmt.Sprintf("%s.matcher_list.matchers[%d].on_match", path, i))
	}
	visit(m.GetOnNoMatch(), path+".on_no_match")
}
