package envoy

import (
	"cmp"
	"fmt"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	yaml "go.yaml.in/yaml/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/config"
)

// Fragments are the pieces of the generated bootstrap that make
// llm-failover work inside an Envoy configured by someone else: what an
// operator merges into an existing Envoy (envoy-config --fragments), what
// the xDS server serves (serve --xds), and what the Istio patches carry.
//
// BuildFragments finds them by walking Bootstrap(c), whatever topology the
// configured Envoy version uses, so every piece is exactly what the whole
// bootstrap would hold. Every field is a fresh copy the caller may change.
type Fragments struct {
	// Listener is the client listener, whole: its HTTP connection manager
	// holds HTTPFilters, the router and RouteConfiguration inline, plus the
	// access log and local reply settings of the generated bootstrap.
	Listener *listenerv3.Listener
	// HTTPFilters are the client listener's HTTP filters that go before
	// the router, in order: the route-phase ext_proc filter (and any other
	// filter the version's topology puts there). Insert them, in this
	// order, just before envoy.filters.http.router.
	HTTPFilters []*hcmv3.HttpFilter
	// RouteConfiguration is the client listener's route configuration:
	// one virtual host with a failover route per envoy.routes path and the
	// 404 route for every other path. Its routes need HTTPFilters in the
	// same connection manager.
	RouteConfiguration *routev3.RouteConfiguration
	// ExtProcCluster is the cluster of the llm-failover gRPC service
	// (ExtProcCluster), which both ext_proc filters call.
	ExtProcCluster *clusterv3.Cluster
	// Clusters are every other cluster of the bootstrap, in its order: the
	// provider clusters, each carrying the attempt-phase ext_proc filter
	// (and the credential injector when Envoy holds the key) as upstream
	// HTTP filters, and whatever clusters the version's topology adds.
	Clusters []*clusterv3.Cluster
	// UpstreamFilters are, for every cluster with upstream HTTP filters
	// (its HttpProtocolOptions.http_filters), those filters before
	// envoy.filters.http.upstream_codec, in order, by cluster name: on a
	// provider cluster the attempt-phase ext_proc filter, then the
	// credential injector when Envoy holds the key. They are also in
	// Clusters; this is them alone, for a patch that adds them to a
	// cluster someone else defines (Istio's CLUSTER patch).
	UpstreamFilters map[string][]*hcmv3.HttpFilter
	// Listeners are the bootstrap's other listeners: the unavailable
	// listener (UnavailableListener) every provider cluster's priority-1
	// endpoint points at.
	Listeners []*listenerv3.Listener
	// Secrets are the bootstrap's static secrets. None today: keys Envoy
	// holds and the ext_proc channel's TLS material are SDS files Envoy
	// reads itself (SDSFiles), so no key is ever in a fragment.
	Secrets []*tlsv3.Secret
	// SDSFiles are the SDS files the pieces name (path config sources),
	// in the order they appear: each must exist where Envoy runs, holding
	// one secret of that name.
	SDSFiles []SDSFile
}

// SDSFile is an SDS secret Envoy reads from a file: the secret's name and
// the file's path.
type SDSFile struct {
	Name string
	Path string
}

// BuildFragments derives c's Fragments from Bootstrap(c). c must have had
// ApplyDefaults and Validate run (config.Parse does both).
func BuildFragments(c *config.Config) (*Fragments, error) {
	b, err := Bootstrap(c)
	if err != nil {
		return nil, err
	}
	sr := b.GetStaticResources()
	f := &Fragments{Secrets: cloneAll(sr.GetSecrets())}
	for _, cl := range sr.GetClusters() {
		if cl.GetName() == ExtProcCluster {
			f.ExtProcCluster = proto.Clone(cl).(*clusterv3.Cluster)
			continue
		}
		f.Clusters = append(f.Clusters, proto.Clone(cl).(*clusterv3.Cluster))
	}
	if f.ExtProcCluster == nil {
		return nil, fmt.Errorf("%w: the bootstrap has no cluster %q", ErrGenerate, ExtProcCluster)
	}
	for _, l := range sr.GetListeners() {
		hcm, ok := listenerHCM(l)
		if !ok || !callsExtProc(hcm) {
			f.Listeners = append(f.Listeners, proto.Clone(l).(*listenerv3.Listener))
			continue
		}
		if f.Listener != nil {
			return nil, fmt.Errorf("%w: listeners %q and %q both call the ext_proc service", ErrGenerate, f.Listener.GetName(), l.GetName())
		}
		rc := hcm.GetRouteConfig()
		if rc == nil {
			return nil, fmt.Errorf("%w: listener %q has no inline route configuration", ErrGenerate, l.GetName())
		}
		f.Listener = proto.Clone(l).(*listenerv3.Listener)
		f.RouteConfiguration = proto.Clone(rc).(*routev3.RouteConfiguration)
		for _, h := range hcm.GetHttpFilters() {
			if !h.GetTypedConfig().MessageIs(&routerv3.Router{}) {
				f.HTTPFilters = append(f.HTTPFilters, proto.Clone(h).(*hcmv3.HttpFilter))
			}
		}
	}
	if f.Listener == nil {
		return nil, fmt.Errorf("%w: no listener calls the ext_proc service", ErrGenerate)
	}
	f.UpstreamFilters = map[string][]*hcmv3.HttpFilter{}
	for _, cl := range append([]*clusterv3.Cluster{f.ExtProcCluster}, f.Clusters...) {
		opts := &upstreamhttpv3.HttpProtocolOptions{}
		if cl.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey].UnmarshalTo(opts) != nil {
			continue
		}
		var fs []*hcmv3.HttpFilter
		for _, h := range opts.GetHttpFilters() {
			if !h.GetTypedConfig().MessageIs(&upstreamcodecv3.UpstreamCodec{}) {
				fs = append(fs, proto.Clone(h).(*hcmv3.HttpFilter))
			}
		}
		if len(fs) > 0 {
			f.UpstreamFilters[cl.GetName()] = fs
		}
	}
	f.SDSFiles = sdsFiles(b.ProtoReflect(), nil)
	return f, nil
}

// listenerHCM is l's HTTP connection manager, unpacked, when its first
// filter chain's last network filter is one.
func listenerHCM(l *listenerv3.Listener) (*hcmv3.HttpConnectionManager, bool) {
	chains := l.GetFilterChains()
	if len(chains) == 0 {
		return nil, false
	}
	filters := chains[0].GetFilters()
	if len(filters) == 0 {
		return nil, false
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := filters[len(filters)-1].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		return nil, false
	}
	return hcm, true
}

// Gate makes the pieces safe in a connection manager shared with other
// routes: every route-phase ext_proc filter in HTTPFilters gets disabled:
// true, and every virtual host of RouteConfiguration enables it by name (an
// empty ExtProcPerRoute overrides, which changes nothing else). A request
// then reaches llm-failover only when its route is one of these virtual
// hosts'; the operator's own routes never do, without a per-route
// disable of their own. Envoy builds a request's filter chain without the
// filters disabled by default unless the route, its virtual host or its
// route configuration configures them (http/filter_chain_helper.cc
// FilterChainUtility::createFilterChainForFactories; router/config_impl.cc
// RouteEntryImplBase::filterDisabled; router/per_filter_config.cc
// PerFilterConfigs: any per-filter config but a FilterConfig with
// disabled enables). A route that disables the filter itself (the 404
// route) still skips it. GenerateFragments prints gated pieces; the xDS
// server serves the bootstrap's own, ungated, on a listener of their own.
func (f *Fragments) Gate() {
	enable := mustAny(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{}}})
	for _, h := range f.HTTPFilters {
		if h.GetDisabled() || !callsExtProcFilter(h) {
			continue
		}
		h.Disabled = true
		for _, vh := range f.RouteConfiguration.GetVirtualHosts() {
			if _, set := vh.GetTypedPerFilterConfig()[h.GetName()]; set {
				continue
			}
			if vh.TypedPerFilterConfig == nil {
				vh.TypedPerFilterConfig = map[string]*anypb.Any{}
			}
			vh.TypedPerFilterConfig[h.GetName()] = proto.Clone(enable).(*anypb.Any)
		}
	}
}

// callsExtProc reports an HCM with an ext_proc filter calling the
// llm-failover cluster: the client listener's route phase.
func callsExtProc(hcm *hcmv3.HttpConnectionManager) bool {
	return slices.ContainsFunc(hcm.GetHttpFilters(), callsExtProcFilter)
}

// callsExtProcFilter reports an ext_proc filter calling the llm-failover
// cluster.
func callsExtProcFilter(h *hcmv3.HttpFilter) bool {
	ep := &extprocv3.ExternalProcessor{}
	return h.GetTypedConfig().UnmarshalTo(ep) == nil && ep.GetGrpcService().GetEnvoyGrpc().GetClusterName() == ExtProcCluster
}

// sdsFiles appends every SDS secret read from a file in m, recursing into
// messages, lists, maps and packed Anys.
func sdsFiles(m protoreflect.Message, out []SDSFile) []SDSFile {
	if s, ok := m.Interface().(*tlsv3.SdsSecretConfig); ok {
		if p := s.GetSdsConfig().GetPathConfigSource().GetPath(); p != "" {
			if !slices.Contains(out, SDSFile{Name: s.GetName(), Path: p}) {
				out = append(out, SDSFile{Name: s.GetName(), Path: p})
			}
		}
		return out
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return out
		}
		return sdsFiles(inner.ProtoReflect(), out)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				out = sdsFiles(v.List().Get(i).Message(), out)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			keys := make([]protoreflect.MapKey, 0, v.Map().Len())
			v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return cmp.Compare(a.String(), b.String()) })
			for _, k := range keys {
				out = sdsFiles(v.Map().Get(k).Message(), out)
			}
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			out = sdsFiles(v.Message(), out)
		}
		return true
	})
	return out
}

func cloneAll[T proto.Message](in []T) []T {
	if len(in) == 0 {
		return nil
	}
	out := make([]T, len(in))
	for i, m := range in {
		out[i] = proto.Clone(m).(T)
	}
	return out
}

// GenerateFragments returns c's fragments, gated (Fragments.Gate), as one
// YAML document for an operator to merge into an existing Envoy: a header comment saying where
// each piece goes and which SDS files must exist, then the sections
// http_filters, route_configuration, clusters (the ext_proc cluster first),
// listeners and, when there are any, secrets. Each section holds Envoy API
// objects in the bootstrap's YAML form (proto field names, field order,
// sorted maps), so equal configs give equal bytes.
func GenerateFragments(c *config.Config, opts Options) ([]byte, error) {
	f, err := BuildFragments(c)
	if err != nil {
		return nil, err
	}
	f.Gate()
	return f.YAML(opts)
}

// YAML renders f as GenerateFragments does.
func (f *Fragments) YAML(opts Options) ([]byte, error) {
	var doc yaml.MapSlice
	for _, sec := range []struct {
		key      string
		msgs     []proto.Message
		single   bool // one object, not a list
		optional bool // left out when empty
	}{
		{key: "http_filters", msgs: asMessages(f.HTTPFilters)},
		{key: "route_configuration", msgs: []proto.Message{f.RouteConfiguration}, single: true},
		{key: "clusters", msgs: append([]proto.Message{f.ExtProcCluster}, asMessages(f.Clusters)...)},
		{key: "listeners", msgs: asMessages(f.Listeners)},
		{key: "secrets", msgs: asMessages(f.Secrets), optional: true},
	} {
		if sec.optional && len(sec.msgs) == 0 {
			continue
		}
		vals := make([]any, len(sec.msgs))
		for i, m := range sec.msgs {
			v, err := orderedMessage(m)
			if err != nil {
				return nil, fmt.Errorf("envoy: marshal %s: %w", sec.key, err)
			}
			vals[i] = v
		}
		var v any = vals
		if sec.single {
			v = vals[0]
		}
		doc = append(doc, yaml.MapItem{Key: sec.key, Value: v})
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("envoy: marshal fragments: %w", err)
	}
	src := opts.SourceName
	if src == "" {
		src = "an llm-failover config"
	}
	header := fmt.Sprintf("# Generated by llm-failover envoy-config --fragments from %s. Do not edit; regenerate.\n", oneLine(src)) +
		"# Merge into your Envoy (docs/xds.md, \"Fragments\"):\n" +
		"#   http_filters: into your HTTP connection manager, in this order, just before envoy.filters.http.router\n" +
		"#     (disabled by default: only the virtual host below enables them, so your own routes never reach llm-failover);\n" +
		"#   route_configuration: that connection manager's routes (or add its virtual host to yours);\n" +
		"#   clusters: add all of them as they are (the ext_proc cluster first);\n" +
		"#   listeners: add them as they are (the provider clusters' fallback endpoints point at them).\n"
	for i, s := range f.SDSFiles {
		if i == 0 {
			header += "# SDS files Envoy must be able to read (one secret of that name each):\n"
		}
		header += fmt.Sprintf("#   %s: secret %s\n", oneLine(s.Path), oneLine(s.Name))
	}
	return append([]byte(header), body...), nil
}

func asMessages[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// orderedMessage is m as marshalYAML orders it, ready to nest in a larger
// YAML document.
func orderedMessage(m proto.Message) (any, error) {
	b, err := marshalYAML(m)
	if err != nil {
		return nil, err
	}
	var v yaml.MapSlice
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// ListenerWithRDS returns a copy of the client listener whose connection
// manager takes RouteConfiguration from RDS through src (by its name)
// instead of holding it inline: what an xDS server serves, so that a route
// change reaches Envoy as a route update, without draining the listener.
func (f *Fragments) ListenerWithRDS(src *corev3.ConfigSource) (*listenerv3.Listener, error) {
	l := proto.Clone(f.Listener).(*listenerv3.Listener)
	hcm, ok := listenerHCM(l)
	if !ok {
		return nil, fmt.Errorf("%w: listener %q has no HTTP connection manager", ErrGenerate, l.GetName())
	}
	hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
		ConfigSource:    src,
		RouteConfigName: f.RouteConfiguration.GetName(),
	}}
	filters := l.GetFilterChains()[0].GetFilters()
	filters[len(filters)-1].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}
	return l, nil
}

// MarshalYAML prints m as Generate prints the bootstrap: proto field names
// in declaration order, maps sorted, Anys unpacked, equal messages giving
// equal bytes.
func MarshalYAML(m proto.Message) ([]byte, error) { return marshalYAML(m) }
