package envoy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	credinjectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/credential_injector/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/injected_credentials/generic/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/contract"
)

// located is a config piece found in the bootstrap, with its path.
type located[T any] struct {
	path string
	msg  T
}

// index is what the semantic checks need from a bootstrap, found once.
type index struct {
	clusters       map[string]int // name -> position in static_resources.clusters
	routeExtProc   []located[*extprocv3.ExternalProcessor]
	attempts       []located[*extprocv3.ExternalProcessor] // upstream ext_proc filters
	injected       []located[string]                       // headers credential_injector filters set
	hcmInjector    []string                                // credential_injector filters in a connection manager
	extProcNames   map[string]bool                         // the names ext_proc filters are configured under
	vhostPerFilter map[*routev3.Route]map[string]*anypb.Any
	specifiers     []located[*pgv3.PriorityGroupClusterSpecifier]
	routes         []located[*routev3.Route]
	vhostRetry     map[*routev3.Route]*routev3.RetryPolicy
	// attemptClusters are the clusters with an attempt-phase ext_proc filter.
	attemptClusters map[string]bool
	// gated holds, per route, the route-phase ext_proc filters its
	// connection manager disables by default (HttpFilter.disabled), and
	// the per-filter configs that may enable them (route config level).
	gated map[*routev3.Route]gate
}

// gate is a route's view of the disabled-by-default ext_proc filters of its
// connection manager.
type gate struct {
	names    []string
	rcConfig map[string]*anypb.Any
}

func newIndex() *index {
	return &index{clusters: map[string]int{}, vhostRetry: map[*routev3.Route]*routev3.RetryPolicy{},
		attemptClusters: map[string]bool{}, gated: map[*routev3.Route]gate{},
		extProcNames: map[string]bool{}, vhostPerFilter: map[*routev3.Route]map[string]*anypb.Any{}}
}

// semantic makes the cross-reference checks Envoy makes when it loads the
// bootstrap (clusters exist, terminal filters last) and those the
// llm-failover contract needs (namespaces agree, ext_proc cluster speaks
// HTTP/2, retries re-pick the cluster). It reads only what decoded; Anys that
// did not unpack were reported by validateTree.
func semantic(b *bootstrapv3.Bootstrap) []error {
	var probs []error
	bad := func(path, format string, a ...any) {
		probs = append(probs, &Problem{Path: path, Reason: fmt.Sprintf(format, a...)})
	}
	ix := newIndex()
	sr := b.GetStaticResources()
	for i, cl := range sr.GetClusters() {
		path := fmt.Sprintf("static_resources.clusters[%d]", i)
		if j, dup := ix.clusters[cl.GetName()]; dup {
			bad(path+".name", "cluster %q is also static_resources.clusters[%d]", cl.GetName(), j)
			continue
		}
		ix.clusters[cl.GetName()] = i
		probs = append(probs, indexCluster(ix, cl, path)...)
	}
	for i, l := range sr.GetListeners() {
		probs = append(probs, indexListener(ix, l, fmt.Sprintf("static_resources.listeners[%d]", i))...)
	}

	// Every referenced cluster exists, unless clusters also come from CDS.
	cds := b.GetDynamicResources().GetCdsConfig() != nil || b.GetDynamicResources().GetCdsResourcesLocator() != ""
	exists := func(path, name, what string) {
		if _, ok := ix.clusters[name]; !ok && name != "" && !cds {
			bad(path, "%s names cluster %q, which static_resources.clusters does not define", what, name)
		}
	}
	for _, r := range ix.routes {
		a := r.msg.GetRoute()
		if a == nil {
			continue
		}
		if c := a.GetCluster(); c != "" {
			exists(r.path+".route.cluster", c, "the route")
		}
		for j, w := range a.GetWeightedClusters().GetClusters() {
			exists(fmt.Sprintf("%s.route.weighted_clusters.clusters[%d].name", r.path, j), w.GetName(), "the weighted cluster")
		}
		for j, m := range a.GetRequestMirrorPolicies() {
			exists(fmt.Sprintf("%s.route.request_mirror_policies[%d].cluster", r.path, j), m.GetCluster(), "the mirror policy")
		}
	}
	for _, s := range ix.specifiers {
		for g, grp := range s.msg.GetPriorityGroups() {
			for j, cw := range grp.GetClusters() {
				exists(fmt.Sprintf("%s.priority_groups[%d].clusters[%d].cluster_name", s.path, g, j), cw.GetClusterName(), "the priority group")
			}
		}
	}
	// A header a credential_injector sets is in the shared request header
	// map of every later attempt of the request, on any cluster: each
	// upstream ext_proc filter must keep it from its server.
	for _, in := range ix.injected {
		for _, a := range ix.attempts {
			if !hidesHeader(a.msg.GetForwardRules(), in.msg) {
				bad(a.path+".forward_rules", "does not keep header %q, which the credential_injector at %s sets, from the ext_proc server: later attempts of a request share the header map and would send it the key; add it to disallowed_headers", in.msg, in.path)
			}
		}
	}
	// Attributes are CEL expressions evaluated on the request header map
	// (matching_utils.cc ExpressionManager::evaluateAttributes), which
	// forward_rules do not filter: request.headers, or the whole request,
	// would carry an injected key to the server. Request attributes of an
	// attempt-phase filter and response attributes of any ext_proc filter
	// are evaluated after an attempt's injection.
	if len(ix.injected) > 0 {
		for _, a := range ix.attempts {
			for j, e := range a.msg.GetRequestAttributes() {
				if readsRequestHeaders(e) {
					bad(fmt.Sprintf("%s.request_attributes[%d]", a.path, j), "%q reads the request headers, which hold the key a credential_injector sets on an earlier attempt (forward_rules do not apply to attributes)", e)
				}
			}
		}
		for _, a := range append(slices.Clone(ix.routeExtProc), ix.attempts...) {
			for j, e := range a.msg.GetResponseAttributes() {
				if readsRequestHeaders(e) {
					bad(fmt.Sprintf("%s.response_attributes[%d]", a.path, j), "%q reads the request headers, which hold the key a credential_injector set (forward_rules do not apply to attributes)", e)
				}
			}
		}
	}
	// An attempt that goes on without the attempt phase (failure_mode_allow
	// on an ext_proc error or message timeout: ext_proc.cc
	// Filter::onGrpcError, onMessageTimeout) keeps what the header map
	// holds: the client's credentials and the key an earlier attempt
	// injected for another provider.
	for _, a := range ix.attempts {
		// The attempt phase removes credentials and sets the provider's in
		// its answer to the buffered request body.
		pm := a.msg.GetProcessingMode()
		if pm.GetRequestHeaderMode() == extprocv3.ProcessingMode_SKIP || pm.GetRequestBodyMode() != extprocv3.ProcessingMode_BUFFERED {
			bad(a.path+".processing_mode", "an attempt-phase filter needs request headers sent and request_body_mode BUFFERED: the attempt phase removes the client's credentials and any injected key in its answer to the body")
		}
		if a.msg.GetFailureModeAllow() {
			bad(a.path+".failure_mode_allow", "must be false on an attempt-phase filter: an attempt that skips the attempt phase reaches the provider with the client's credentials and any key injected on an earlier attempt")
		}
	}
	// A route-phase filter disabled in the connection manager (the gated
	// fragments, Istio's patch) runs only where a per-filter config enables
	// it: the route's, else its virtual host's, else the route
	// configuration's decides (config_impl.cc filterDisabled; any config
	// but FilterConfig{disabled: true} enables, per_filter_config.cc
	// PerFilterConfigs). A route to a provider that leaves it off skips the
	// route phase: no plan, no client policy.
	for _, r := range ix.routes {
		g, ok := ix.gated[r.msg]
		if !ok || !ix.reachesProviders(r.msg) {
			continue
		}
		for _, name := range g.names {
			if !enabledBy(name, r.msg.GetTypedPerFilterConfig(), ix.vhostPerFilter[r.msg], g.rcConfig) {
				bad(r.path+".typed_per_filter_config", "the route-phase ext_proc filter %q is disabled in the connection manager and this route to the providers does not enable it (a per-filter config under that name on the route, its virtual host or the route configuration): its requests would skip the route phase", name)
			}
		}
	}
	// A route to a cluster with ext_proc disabled skips both phases: no
	// client policy, and an Envoy-held key used by anyone (per-route
	// config is looked up by filter name for upstream filters too).
	for _, r := range ix.routes {
		if r.msg.GetRoute() == nil {
			continue
		}
		for _, pf := range []map[string]*anypb.Any{r.msg.GetTypedPerFilterConfig(), ix.vhostPerFilter[r.msg]} {
			for name, a := range pf {
				p := fmt.Sprintf("%s.typed_per_filter_config[%q]", r.path, name)
				if disablesExtProc(name, a, ix.extProcNames) {
					bad(p, "disables ext_proc on a route to a cluster: its requests would skip the route phase's client policy and the attempt phase, and reach a provider with any key Envoy injects")
				}
				var pr extprocv3.ExtProcPerRoute
				if !unpack(a, &pr) {
					continue
				}
				o := pr.GetOverrides()
				if o.GetProcessingMode() != nil {
					bad(p+".overrides.processing_mode", "must not be set on a route to a cluster: it applies to the attempt-phase filters too, which need their request headers and buffered body (the attempt phase removes the client's credentials and any injected key there)")
				}
				if o.GetFailureModeAllow().GetValue() {
					bad(p+".overrides.failure_mode_allow", "must not be true on a route to a cluster: an attempt that skips the attempt phase reaches the provider with the client's credentials and any key injected on an earlier attempt")
				}
				if len(ix.injected) > 0 && (slices.ContainsFunc(o.GetRequestAttributes(), readsRequestHeaders) || slices.ContainsFunc(o.GetResponseAttributes(), readsRequestHeaders)) {
					bad(p+".overrides", "an attribute reads the request headers, which hold the key a credential_injector sets (forward_rules do not apply to attributes)")
				}
			}
		}
	}
	for _, p := range ix.hcmInjector {
		bad(p, "a credential_injector in the HTTP connection manager sets the key before the route phase and every attempt phase, for every provider: put it on the provider's cluster, after the attempt-phase ext_proc filter")
	}
	extProcClusters := map[string]string{} // cluster -> first referring path
	for _, e := range append(slices.Clone(ix.routeExtProc), ix.attempts...) {
		name := e.msg.GetGrpcService().GetEnvoyGrpc().GetClusterName()
		if name == "" {
			continue
		}
		p := e.path + ".grpc_service.envoy_grpc.cluster_name"
		exists(p, name, "the ext_proc gRPC service")
		if _, seen := extProcClusters[name]; !seen {
			extProcClusters[name] = p
		}
	}

	// The ext_proc cluster speaks HTTP/2 (gRPC needs it).
	for name, ref := range extProcClusters {
		i, ok := ix.clusters[name]
		if !ok {
			continue
		}
		if !speaksHTTP2(sr.GetClusters()[i]) {
			bad(fmt.Sprintf("static_resources.clusters[%d]", i),
				"cluster %q serves the ext_proc gRPC service (%s) but does not speak HTTP/2: set typed_extension_protocol_options[%q].explicit_http_config.http2_protocol_options",
				name, ref, httpProtocolOptionsKey)
		}
	}

	// Namespaces agree between the specifier, the route phase and the attempt phase.
	var receiving []string
	for _, e := range ix.routeExtProc {
		receiving = append(receiving, e.msg.GetMetadataOptions().GetReceivingNamespaces().GetUntyped()...)
	}
	for _, s := range ix.specifiers {
		ns := s.msg.GetOverrideMetadataNamespace()
		if ns == "" {
			bad(s.path+".override_metadata_namespace", "empty: the route phase cannot replace the priority groups per request")
			continue
		}
		for _, want := range []string{ns, contract.PlanNamespace(ns)} {
			if len(ix.routeExtProc) == 0 {
				bad(s.path+".override_metadata_namespace", "%q: no route-phase ext_proc filter in the HTTP connection manager receives it", ns)
				break
			}
			if !slices.Contains(receiving, want) {
				bad(s.path+".override_metadata_namespace", "namespace %q is not in the route-phase ext_proc metadata_options.receiving_namespaces.untyped %q (%s)",
					want, receiving, ix.routeExtProc[0].path)
			}
		}
		// The attempt phase reads the plan from its request attribute (or,
		// in a config from before it, from the forwarded plan namespace).
		for _, a := range ix.attempts {
			attr := contract.PlanAttribute(ns)
			if !slices.Contains(a.msg.GetRequestAttributes(), attr) &&
				!slices.Contains(a.msg.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(), contract.PlanNamespace(ns)) {
				bad(a.path+".request_attributes", "%q lacks %q, the plan of the cluster specifier's namespace (%s)", a.msg.GetRequestAttributes(), attr, s.path)
			}
		}
	}

	// Retries re-run the priority_group specifier.
	for _, r := range ix.routes {
		a := r.msg.GetRoute()
		if a.GetInlineClusterSpecifierPlugin().GetExtension().GetTypedConfig().MessageIs(&pgv3.PriorityGroupClusterSpecifier{}) {
			rp := a.GetRetryPolicy()
			if rp == nil {
				rp = ix.vhostRetry[r.msg]
			}
			if !rp.GetRefreshClusterOnRetry() {
				bad(r.path+".route.retry_policy.refresh_cluster_on_retry", "must be true with the priority_group cluster specifier, or every retry reuses the first cluster")
			}
		}
	}
	return probs
}

// indexCluster collects the cluster's upstream ext_proc filters and checks
// that upstream_codec is the last upstream HTTP filter and that no
// credential_injector comes before an ext_proc filter (the ext_proc server
// would receive the key it injects, and the attempt phase would remove it).
func indexCluster(ix *index, cl *clusterv3.Cluster, path string) []error {
	opts, ok := httpOptions(cl)
	if !ok || len(opts.GetHttpFilters()) == 0 {
		return nil
	}
	var probs []error
	fp := fmt.Sprintf("%s.typed_extension_protocol_options[%q].http_filters", path, httpProtocolOptionsKey)
	filters := opts.GetHttpFilters()
	injector := -1
	for i, f := range filters {
		p := fmt.Sprintf("%s[%d]", fp, i)
		tc := f.GetTypedConfig()
		if injector < 0 && tc.MessageIs(&credinjectorv3.CredentialInjector{}) {
			injector = i
		}
		isCodec := tc.MessageIs(&upstreamcodecv3.UpstreamCodec{})
		switch {
		case isCodec && i != len(filters)-1:
			probs = append(probs, &Problem{Path: p, Reason: fmt.Sprintf("upstream_codec must be the last upstream HTTP filter, but %d filter(s) follow it", len(filters)-1-i)})
		case !isCodec && i == len(filters)-1:
			probs = append(probs, &Problem{Path: p, Reason: fmt.Sprintf("the last upstream HTTP filter is %q; it must be %s (upstream_codec), which sends the request", f.GetName(), upstreamCodecType)})
		}
		var ci credinjectorv3.CredentialInjector
		if unpack(tc, &ci) {
			// The generic credential sets its header (authorization by
			// default, generic/config.cc); any other (oauth2,
			// client_credentials_impl.cc inject) sets authorization.
			h := "authorization"
			var g genericv3.Generic
			if unpack(ci.GetCredential().GetTypedConfig(), &g) && g.GetHeader() != "" {
				h = strings.ToLower(g.GetHeader())
			}
			ix.injected = append(ix.injected, located[string]{p + ".typed_config", h})
		}
		var ep extprocv3.ExternalProcessor
		if unpack(tc, &ep) {
			ix.extProcNames[f.GetName()] = true
			if injector >= 0 {
				probs = append(probs, &Problem{Path: p, Reason: fmt.Sprintf("this ext_proc filter follows the credential_injector at http_filters[%d]: its server would receive the injected key; put the credential_injector after every ext_proc filter", injector)})
			}
			ix.attempts = append(ix.attempts, located[*extprocv3.ExternalProcessor]{p + ".typed_config", &ep})
			ix.attemptClusters[cl.GetName()] = true
		}
	}
	return probs
}

// hidesHeader reports whether forward_rules surely keep header h (lower
// case) from the ext_proc server (mutation_utils.cc headerCanBeForwarded):
// an exact disallowed_headers pattern names it, or allowed_headers is set,
// all exact, and none names it. Other matchers are not evaluated and count
// as not hiding it.
func hidesHeader(r *extprocv3.HeaderForwardingRules, h string) bool {
	names := func(m *matcherv3.StringMatcher) bool {
		e := m.GetExact()
		return e == h || m.GetIgnoreCase() && strings.EqualFold(e, h)
	}
	if slices.ContainsFunc(r.GetDisallowedHeaders().GetPatterns(), names) {
		return true
	}
	allowed := r.GetAllowedHeaders().GetPatterns()
	notExact := func(m *matcherv3.StringMatcher) bool { return m.GetExact() == "" }
	return len(allowed) > 0 && !slices.ContainsFunc(allowed, names) && !slices.ContainsFunc(allowed, notExact)
}

func indexListener(ix *index, l *listenerv3.Listener, path string) []error {
	var probs []error
	chains := l.GetFilterChains()
	paths := make([]string, 0, len(chains)+1)
	for i := range chains {
		paths = append(paths, fmt.Sprintf("%s.filter_chains[%d]", path, i))
	}
	if l.GetDefaultFilterChain() != nil {
		chains = append(slices.Clone(chains), l.GetDefaultFilterChain())
		paths = append(paths, path+".default_filter_chain")
	}
	for ci, fc := range chains {
		for fi, f := range fc.GetFilters() {
			var hcm hcmv3.HttpConnectionManager
			if !unpack(f.GetTypedConfig(), &hcm) {
				continue
			}
			hp := fmt.Sprintf("%s.filters[%d].typed_config", paths[ci], fi)
			probs = append(probs, indexHCM(ix, &hcm, hp)...)
		}
	}
	return probs
}

func indexHCM(ix *index, hcm *hcmv3.HttpConnectionManager, path string) []error {
	var probs []error
	var disabled []string
	filters := hcm.GetHttpFilters()
	for i, f := range filters {
		p := fmt.Sprintf("%s.http_filters[%d]", path, i)
		isRouter := f.GetTypedConfig().MessageIs(&routerv3.Router{})
		switch {
		case isRouter && i != len(filters)-1:
			probs = append(probs, &Problem{Path: p, Reason: "the router must be the last HTTP filter"})
		case !isRouter && i == len(filters)-1:
			probs = append(probs, &Problem{Path: p, Reason: fmt.Sprintf("the last HTTP filter is %q; it must be the router (%s)", f.GetName(), routerType)})
		}
		var ep extprocv3.ExternalProcessor
		if unpack(f.GetTypedConfig(), &ep) {
			ix.extProcNames[f.GetName()] = true
			ix.routeExtProc = append(ix.routeExtProc, located[*extprocv3.ExternalProcessor]{p + ".typed_config", &ep})
			if f.GetDisabled() {
				disabled = append(disabled, f.GetName())
			}
		}
		if f.GetTypedConfig().MessageIs(&credinjectorv3.CredentialInjector{}) {
			ix.hcmInjector = append(ix.hcmInjector, p)
		}
	}
	rc := hcm.GetRouteConfig()
	for v, vh := range rc.GetVirtualHosts() {
		vp := fmt.Sprintf("%s.route_config.virtual_hosts[%d]", path, v)
		for r, rt := range vh.GetRoutes() {
			rp := fmt.Sprintf("%s.routes[%d]", vp, r)
			ix.routes = append(ix.routes, located[*routev3.Route]{rp, rt})
			if vh.GetRetryPolicy() != nil {
				ix.vhostRetry[rt] = vh.GetRetryPolicy()
			}
			ix.vhostPerFilter[rt] = vh.GetTypedPerFilterConfig()
			if len(disabled) > 0 {
				ix.gated[rt] = gate{names: disabled, rcConfig: rc.GetTypedPerFilterConfig()}
			}
			ext := rt.GetRoute().GetInlineClusterSpecifierPlugin().GetExtension()
			var spec pgv3.PriorityGroupClusterSpecifier
			if unpack(ext.GetTypedConfig(), &spec) {
				ix.specifiers = append(ix.specifiers, located[*pgv3.PriorityGroupClusterSpecifier]{rp + ".route.inline_cluster_specifier_plugin.extension.typed_config", &spec})
			}
		}
	}
	return probs
}

// disablesExtProc reports whether the per-filter config a under name turns
// an ext_proc filter off: an ExtProcPerRoute with disabled, or a generic
// FilterConfig with disabled for a name an ext_proc filter has.
func disablesExtProc(name string, a *anypb.Any, extProcNames map[string]bool) bool {
	var pr extprocv3.ExtProcPerRoute
	if unpack(a, &pr) {
		return pr.GetDisabled()
	}
	var fc routev3.FilterConfig
	return unpack(a, &fc) && fc.GetDisabled() && extProcNames[name]
}

// requestRef finds references to the CEL attribute "request" (context.cc
// RequestWrapper) and the field after it, if any.
var requestRef = regexp.MustCompile(`(?:^|[^.\w])request\b(?:\s*\.\s*(\w+))?`)

// readsRequestHeaders reports whether the CEL expression e may read request
// headers: request.headers, or the request map as a whole (request,
// request["headers"]). Other request fields (request.id, request.path) are
// single headers no credential is injected in.
func readsRequestHeaders(e string) bool {
	for _, m := range requestRef.FindAllStringSubmatch(e, -1) {
		if m[1] == "" || m[1] == "headers" {
			return true
		}
	}
	return false
}

// httpOptions returns the cluster's upstreams.http.v3.HttpProtocolOptions.
func httpOptions(cl *clusterv3.Cluster) (*upstreamhttpv3.HttpProtocolOptions, bool) {
	var o upstreamhttpv3.HttpProtocolOptions
	if unpack(cl.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey], &o) {
		return &o, true
	}
	return nil, false
}

// speaksHTTP2 reports whether Envoy will always use HTTP/2 to the cluster.
func speaksHTTP2(cl *clusterv3.Cluster) bool {
	if o, ok := httpOptions(cl); ok {
		if o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil {
			return true
		}
		if o.GetUseDownstreamProtocolConfig() != nil || o.GetAutoConfig() != nil {
			return false
		}
	}
	//lint:ignore SA1019 the deprecated field still selects HTTP/2 in Envoy 1.40
	return cl.GetHttp2ProtocolOptions() != nil
}

// unpack unmarshals a into m when a holds m's type.
func unpack(a *anypb.Any, m proto.Message) bool {
	return a != nil && a.MessageIs(m) && a.UnmarshalTo(m) == nil
}

// reachesProviders reports whether route r can send requests to a provider:
// a cluster specifier plugin or a cluster header (the failover routes of
// every topology), or a named cluster with an attempt-phase filter.
func (ix *index) reachesProviders(r *routev3.Route) bool {
	a := r.GetRoute()
	if a == nil {
		return false
	}
	if a.GetInlineClusterSpecifierPlugin() != nil || a.GetClusterSpecifierPlugin() != "" || a.GetClusterHeader() != "" {
		return true
	}
	if ix.attemptClusters[a.GetCluster()] {
		return true
	}
	for _, w := range a.GetWeightedClusters().GetClusters() {
		if ix.attemptClusters[w.GetName()] || w.GetClusterHeader() != "" {
			return true
		}
	}
	return false
}

// enabledBy reports whether the first per-filter config map (route, virtual
// host, route configuration) holding name enables the filter.
func enabledBy(name string, levels ...map[string]*anypb.Any) bool {
	for _, pf := range levels {
		a, ok := pf[name]
		if !ok {
			continue
		}
		var fc routev3.FilterConfig
		if unpack(a, &fc) {
			return !fc.GetDisabled()
		}
		return true
	}
	return false
}
