package envoymodel

import (
	"errors"
	"fmt"
	"strings"

	xdsmatcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	matcherspecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/matcher/v3"
	typematcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// clusterMatcher is a compiled MatcherClusterSpecifier
// (envoy.router.cluster_specifier_plugin.matcher; alpha in 1.38, 1.39 and
// 1.40; source/extensions/router/cluster_specifiers/matcher/
// matcher_cluster_specifier.cc, identical at f1dd21b16c, 8eea3285d6 and
// cb2a49b). Only the shapes llm-failover's topologies use are modelled: a
// matcher_tree over HttpRequestHeaderMatchInput with an exact_match_map,
// nested matchers, on_no_match, and ClusterAction leaves. Anything else
// (matcher_list, prefix_match_map, custom_match, other inputs or actions,
// keep_matching) is refused at load, stricter than Envoy.
type clusterMatcher struct {
	root *matchNode
}

// matchNode is a Matcher: a tree keyed on one request header.
type matchNode struct {
	header    string // lower-case header name (HttpRequestHeaderMatchInput)
	exact     map[string]*onMatch
	onNoMatch *onMatch
}

// onMatch is a Matcher.OnMatch: a cluster action or a nested matcher.
type onMatch struct {
	cluster string
	matcher *matchNode
}

var errMatcherNotModelled = errors.New("not modelled")

func compileClusterMatcher(pb *matcherspecv3.MatcherClusterSpecifier) (*clusterMatcher, error) {
	if pb.GetClusterMatcher() == nil {
		// matcher.proto: cluster_matcher is required.
		return nil, errors.New("cluster_matcher is required")
	}
	root, err := compileMatchNode(pb.GetClusterMatcher(), "cluster_matcher")
	if err != nil {
		return nil, err
	}
	return &clusterMatcher{root: root}, nil
}

func compileMatchNode(m *xdsmatcherv3.Matcher, path string) (*matchNode, error) {
	tree := m.GetMatcherTree()
	if tree == nil {
		return nil, fmt.Errorf("%s: only matcher_tree is modelled: %w", path, errMatcherNotModelled)
	}
	in := &typematcherv3.HttpRequestHeaderMatchInput{}
	if tc := tree.GetInput().GetTypedConfig(); tc == nil || !tc.MessageIs(in) {
		return nil, fmt.Errorf("%s.matcher_tree.input: only HttpRequestHeaderMatchInput is modelled: %w", path, errMatcherNotModelled)
	} else if err := tc.UnmarshalTo(in); err != nil {
		return nil, fmt.Errorf("%s.matcher_tree.input: %w", path, err)
	}
	if in.GetHeaderName() == "" {
		return nil, fmt.Errorf("%s.matcher_tree.input: header_name is required", path)
	}
	mm := tree.GetExactMatchMap()
	if mm == nil {
		return nil, fmt.Errorf("%s.matcher_tree: only exact_match_map is modelled: %w", path, errMatcherNotModelled)
	}
	n := &matchNode{header: strings.ToLower(in.GetHeaderName()), exact: map[string]*onMatch{}}
	for k, om := range mm.GetMap() {
		c, err := compileOnMatch(om, fmt.Sprintf("%s.matcher_tree.exact_match_map.map[%q]", path, k))
		if err != nil {
			return nil, err
		}
		n.exact[k] = c
	}
	if m.GetOnNoMatch() != nil {
		c, err := compileOnMatch(m.GetOnNoMatch(), path+".on_no_match")
		if err != nil {
			return nil, err
		}
		n.onNoMatch = c
	}
	return n, nil
}

func compileOnMatch(om *xdsmatcherv3.Matcher_OnMatch, path string) (*onMatch, error) {
	if om.GetKeepMatching() {
		return nil, fmt.Errorf("%s: keep_matching: %w", path, errMatcherNotModelled)
	}
	if nested := om.GetMatcher(); nested != nil {
		n, err := compileMatchNode(nested, path+".matcher")
		if err != nil {
			return nil, err
		}
		return &onMatch{matcher: n}, nil
	}
	ca := &matcherspecv3.ClusterAction{}
	tc := om.GetAction().GetTypedConfig()
	if tc == nil || !tc.MessageIs(ca) {
		// The action factory context is ClusterActionContext: only
		// ClusterAction has a factory (matcher_cluster_specifier.cc
		// REGISTER_FACTORY(ClusterActionFactory, ...)).
		return nil, fmt.Errorf("%s.action: only ClusterAction is an action here", path)
	}
	if err := tc.UnmarshalTo(ca); err != nil {
		return nil, fmt.Errorf("%s.action: %w", path, err)
	}
	if ca.GetCluster() == "" {
		// matcher.proto ClusterAction.cluster: min_len 1.
		return nil, fmt.Errorf("%s.action: cluster must not be empty", path)
	}
	return &onMatch{cluster: ca.GetCluster()}, nil
}

// match evaluates the tree on the request headers
// (Envoy::Matcher::evaluateMatch). It returns the cluster of the matched
// action, or false when nothing matched.
func (c *clusterMatcher) match(h *headerMap) (string, bool) {
	return c.root.match(h)
}

// match is MapMatcher::match and ExactMapMatcher::doMatch
// (source/common/matcher/map_matcher.h, exact_map_matcher.h at 8eea3285d6;
// the same semantics at f1dd21b16c): the input is every value of the header
// joined with "," (HttpHeadersDataInputBase::get,
// source/common/http/matching/inputs.h); no header goes to on_no_match; a
// key found whose nested matcher does not match falls through to this
// node's on_no_match (doNoMatch), as does a key not found.
func (n *matchNode) match(h *headerMap) (string, bool) {
	var vals []string
	for _, e := range h.kv {
		if e.k == n.header {
			vals = append(vals, e.v)
		}
	}
	if len(vals) == 0 {
		return n.onNoMatch.resolve(h)
	}
	if om, ok := n.exact[strings.Join(vals, ",")]; ok {
		if c, ok := om.resolve(h); ok {
			return c, true
		}
	}
	return n.onNoMatch.resolve(h)
}

// resolve is MatchTree::handleRecursionAndSkips: an action matches, a
// nested matcher is evaluated, no OnMatch does not match.
func (om *onMatch) resolve(h *headerMap) (string, bool) {
	switch {
	case om == nil:
		return "", false
	case om.matcher != nil:
		return om.matcher.match(h)
	}
	return om.cluster, true
}
