package envoymodel

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherspecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/matcher/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// matchRegex matches a whole string like RE2 FullMatch (safe_regex semantics).
func matchRegex(expr, s string) bool {
	regexMu.Lock()
	re, ok := regexCache[expr]
	if !ok {
		re, _ = regexp.Compile("^(?:" + expr + ")$")
		regexCache[expr] = re
	}
	regexMu.Unlock()
	return re != nil && re.MatchString(s)
}

// selectVirtualHost follows source/common/router/config_impl.cc
// findVirtualHost: exact domain, then suffix wildcards ("*.x"), then prefix
// wildcards ("x*"), then "*"; the port is stripped when nothing matches with it.
func (m *Model) selectVirtualHost(authority string) *routev3.VirtualHost {
	try := func(host string) *routev3.VirtualHost {
		host = strings.ToLower(host)
		var suffix, prefix, star *routev3.VirtualHost
		suffixLen, prefixLen := 0, 0
		for _, vh := range m.routes.GetVirtualHosts() {
			for _, d := range vh.GetDomains() {
				d = strings.ToLower(d)
				switch {
				case d == "*":
					if star == nil {
						star = vh
					}
				case d == host:
					return vh
				case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && len(d) > suffixLen:
					suffix, suffixLen = vh, len(d)
				case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]) && len(d) > prefixLen:
					prefix, prefixLen = vh, len(d)
				}
			}
		}
		if suffix != nil {
			return suffix
		}
		if prefix != nil {
			return prefix
		}
		return star
	}
	if vh := try(authority); vh != nil {
		return vh
	}
	if i := strings.LastIndexByte(authority, ':'); i > 0 && !strings.HasSuffix(authority, "]") {
		return try(authority[:i])
	}
	return nil
}

// matchRoute returns the first route of vh matching h
// (config_impl.cc RouteEntryImplBase::matchRoute: path specifier, then headers).
func matchRoute(vh *routev3.VirtualHost, h *headerMap, individually bool) *routev3.Route {
	path := h.value(":path")
	pathOnly := path
	if i := strings.IndexAny(pathOnly, "?#"); i >= 0 {
		pathOnly = pathOnly[:i]
	}
	for _, r := range vh.GetRoutes() {
		mt := r.GetMatch()
		cs := mt.GetCaseSensitive() == nil || mt.GetCaseSensitive().GetValue()
		eq := func(a, b string) bool {
			if cs {
				return a == b
			}
			return strings.EqualFold(a, b)
		}
		ok := false
		switch ps := mt.GetPathSpecifier().(type) {
		case *routev3.RouteMatch_Prefix:
			ok = len(pathOnly) >= len(ps.Prefix) && eq(pathOnly[:len(ps.Prefix)], ps.Prefix)
		case *routev3.RouteMatch_Path:
			ok = eq(pathOnly, ps.Path)
		case *routev3.RouteMatch_SafeRegex:
			ok = matchRegex(ps.SafeRegex.GetRegex(), pathOnly)
		case *routev3.RouteMatch_PathSeparatedPrefix:
			p := ps.PathSeparatedPrefix
			ok = eq(pathOnly, p) || (len(pathOnly) > len(p) && eq(pathOnly[:len(p)], p) && pathOnly[len(p)] == '/')
		}
		if !ok {
			continue
		}
		for _, hm := range mt.GetHeaders() {
			if !matchHeader(hm, h, individually) {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// matchHeader is HeaderUtility's HeaderMatcher (header_utility.h at
// f1dd21b16c and 8eea3285d6) for present_match, string_match, exact_match,
// prefix_match and no specifier (present): a missing header matches only a
// present matcher whose present equals invert_match, unless
// treat_missing_header_as_empty, which matches "" instead. A header with
// several values is matched, on 1.38, as its values joined with ","
// (matchesHeaders, getAllOfHeaderAsString) and, from 1.39, value by value,
// any value matching (matchesHeadersIndividually, #44819, runtime guard
// match_headers_individually default on). Other specifiers never match.
func matchHeader(hm *routev3.HeaderMatcher, h *headerMap, individually bool) bool {
	name := strings.ToLower(hm.GetName())
	var vals []string
	for _, e := range h.kv {
		if e.k == name {
			vals = append(vals, e.v)
		}
	}
	invert, treatMissing := hm.GetInvertMatch(), hm.GetTreatMissingHeaderAsEmpty()
	present, isPresent := true, false
	var spec func(v string) bool
	switch s := hm.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_PresentMatch:
		present, isPresent = s.PresentMatch, true
	case nil:
		isPresent = true
	case *routev3.HeaderMatcher_StringMatch:
		spec = func(v string) bool { return stringMatch(s.StringMatch, v) }
	case *routev3.HeaderMatcher_ExactMatch:
		//lint:ignore SA1019 Envoy still matches the deprecated exact_match, so the model must too
		spec = func(v string) bool { return v == s.ExactMatch }
	case *routev3.HeaderMatcher_PrefixMatch:
		//lint:ignore SA1019 Envoy still matches the deprecated prefix_match, so the model must too
		spec = func(v string) bool { return strings.HasPrefix(v, s.PrefixMatch) }
	default:
		spec = func(string) bool { return false }
	}
	if isPresent {
		// HeaderDataPresentMatch::matchesHeaders (also used individually).
		if len(vals) == 0 && !treatMissing {
			return invert == present
		}
		return present != invert
	}
	if len(vals) == 0 {
		if !treatMissing {
			return false
		}
		return spec("") != invert
	}
	if !individually {
		return spec(strings.Join(vals, ",")) != invert
	}
	for _, v := range vals {
		if spec(v) {
			return !invert
		}
	}
	return invert
}

func stringMatch(sm *matcherv3.StringMatcher, v string) bool {
	a, b := v, ""
	fold := func(x string) string {
		if sm.GetIgnoreCase() {
			return strings.ToLower(x)
		}
		return x
	}
	switch p := sm.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		b = p.Exact
		return fold(a) == fold(b)
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(fold(a), fold(p.Prefix))
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(fold(a), fold(p.Suffix))
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(fold(a), fold(p.Contains))
	case *matcherv3.StringMatcher_SafeRegex:
		return matchRegex(p.SafeRegex.GetRegex(), a)
	}
	return false
}

// priorityGroupSpec is a parsed PriorityGroupClusterSpecifier.
type priorityGroupSpec struct {
	pb *pgv3.PriorityGroupClusterSpecifier
}

// selectCluster follows the PriorityGroupClusterSpecifier proto of
// go-control-plane envoy v1.40.0: attempt 1 uses group 1, the first retry
// group 2, and past the end the last group repeats; override_metadata_namespace
// names a dynamic metadata namespace holding a PriorityGroupsOverride
// (untyped struct). If the namespace is missing, cannot be parsed as a
// PriorityGroupsOverride, holds no group, or the attempt's group is not a
// valid override, the configured groups are used. An override group without
// clusters reuses the configured group of the same name. The random value
// is computed once per request and reused for every attempt. The namespace
// is parsed strictly with protojson (guess: Envoy's
// priority_group_cluster_specifier.h parseFromStruct reads each group "with
// the same shape as a PriorityGroup message" and may tolerate extra fields;
// the contract allows none).
func (p *priorityGroupSpec) selectCluster(attempt int, md func(ns string) *structValue, random uint64) string {
	idx := func(n int) int {
		if attempt-1 >= n {
			return n - 1
		}
		return attempt - 1
	}
	configured := func(name string) *pgv3.PriorityGroup {
		for _, g := range p.pb.GetPriorityGroups() {
			if g.GetName() == name {
				return g
			}
		}
		return nil
	}
	if ns := p.pb.GetOverrideMetadataNamespace(); ns != "" {
		if s := md(ns); s != nil {
			ov := &pgv3.PriorityGroupsOverride{}
			j, err := protojson.Marshal(s)
			if err == nil && protojson.Unmarshal(j, ov) == nil && len(ov.GetPriorityGroups()) > 0 {
				g := ov.GetPriorityGroups()[idx(len(ov.GetPriorityGroups()))]
				if len(g.GetClusters()) > 0 {
					if c := pickWeighted(g, random); c != "" {
						return c
					}
				} else if cg := configured(g.GetName()); cg != nil {
					return pickWeighted(cg, random)
				}
			}
		}
	}
	gs := p.pb.GetPriorityGroups()
	if len(gs) == 0 {
		return ""
	}
	return pickWeighted(gs[idx(len(gs))], random)
}

// pickWeighted is PriorityGroupEntry::selectCluster: random % total weight
// into the cumulative weights. An override cluster without a name or with a
// weight below 1 invalidates the group ("").
func pickWeighted(g *pgv3.PriorityGroup, random uint64) string {
	var total uint64
	for _, c := range g.GetClusters() {
		if c.GetClusterName() == "" || c.GetWeight().GetValue() < 1 {
			return ""
		}
		total += uint64(c.GetWeight().GetValue())
	}
	if total == 0 {
		return ""
	}
	v := random % total
	var begin uint64
	for _, c := range g.GetClusters() {
		end := begin + uint64(c.GetWeight().GetValue())
		if v >= begin && v < end {
			return c.GetClusterName()
		}
		begin = end
	}
	return ""
}

// compileRoutes runs at load over the route configuration: it compiles
// each route's inline cluster specifier plugin (matcher, or priority_group
// where the version has it) and refuses what the model does not model:
// other plugins, named cluster_specifier_plugin references, retry
// priorities other than previous_priorities, and weighted_clusters with
// refresh_cluster_on_retry (WeightedClusterEntry::refreshRouteCluster,
// #44823, avoids the entries already used: not modelled).
func (m *Model) compileRoutes() error {
	m.matchers = map[*routev3.RouteAction]*clusterMatcher{}
	m.priorityGroups = map[*routev3.RouteAction]*priorityGroupSpec{}
	clusterRefresh := false
	for _, cl := range m.clusters {
		if cl.retryPolicy != nil {
			if _, err := compileRetryPriority(cl.retryPolicy.GetRetryPriority()); err != nil {
				return fmt.Errorf("envoymodel: cluster %q: retry_policy: %w", cl.name, err)
			}
			clusterRefresh = clusterRefresh || cl.retryPolicy.GetRefreshClusterOnRetry()
		}
	}
	var errs []error
	for _, vh := range m.routes.GetVirtualHosts() {
		if _, err := compileRetryPriority(vh.GetRetryPolicy().GetRetryPriority()); err != nil {
			errs = append(errs, fmt.Errorf("envoymodel: virtual host %q: retry_policy: %w", vh.GetName(), err))
		}
		for i, r := range vh.GetRoutes() {
			ra := r.GetRoute()
			if ra == nil {
				continue
			}
			where := fmt.Sprintf("envoymodel: virtual host %q route %d (%q)", vh.GetName(), i, r.GetName())
			rp := ra.GetRetryPolicy()
			if rp == nil {
				rp = vh.GetRetryPolicy()
			}
			if _, err := compileRetryPriority(ra.GetRetryPolicy().GetRetryPriority()); err != nil {
				errs = append(errs, fmt.Errorf("%s: retry_policy: %w", where, err))
			}
			switch cs := ra.GetClusterSpecifier().(type) {
			case *routev3.RouteAction_WeightedClusters:
				if rp.GetRefreshClusterOnRetry() || clusterRefresh {
					errs = append(errs, fmt.Errorf("%s: weighted_clusters with refresh_cluster_on_retry is not modelled", where))
				}
			case *routev3.RouteAction_ClusterSpecifierPlugin:
				errs = append(errs, fmt.Errorf("%s: cluster_specifier_plugin %q: named plugins are not modelled", where, cs.ClusterSpecifierPlugin))
			case *routev3.RouteAction_InlineClusterSpecifierPlugin:
				ext := cs.InlineClusterSpecifierPlugin.GetExtension()
				tc := ext.GetTypedConfig()
				pg := &pgv3.PriorityGroupClusterSpecifier{}
				mc := &matcherspecv3.MatcherClusterSpecifier{}
				switch {
				case tc != nil && tc.MessageIs(mc):
					cm, err := compileClusterSpecifierMatcher(tc, mc)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %s: %w", where, ext.GetName(), err))
						continue
					}
					m.matchers[ra] = cm
				case tc != nil && tc.MessageIs(pg):
					if err := tc.UnmarshalTo(pg); err != nil {
						errs = append(errs, fmt.Errorf("%s: %s: %w", where, ext.GetName(), err))
						continue
					}
					m.priorityGroups[ra] = &priorityGroupSpec{pb: pg}
				default:
					errs = append(errs, fmt.Errorf("%s: cluster specifier plugin %q is not modelled", where, ext.GetName()))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func compileClusterSpecifierMatcher(tc *anypb.Any, mc *matcherspecv3.MatcherClusterSpecifier) (*clusterMatcher, error) {
	if err := tc.UnmarshalTo(mc); err != nil {
		return nil, err
	}
	return compileClusterMatcher(mc)
}
