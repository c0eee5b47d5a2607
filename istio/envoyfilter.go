package istio

import (
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	yaml "go.yaml.in/yaml/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/envoy"
)

// Names in the patched Envoy configuration.
const (
	// RouteFilterName names the route-phase ext_proc filter in the
	// gateway's (and sidecars') HTTP connection managers: a name of its
	// own, so that its per-route settings never touch another ext_proc
	// filter of the mesh.
	RouteFilterName = "llm_failover.route_phase"
	// VirtualHostName names the virtual host added for Options.Hosts.
	VirtualHostName = "llm_failover"

	hcmFilter    = "envoy.filters.network.http_connection_manager"
	routerFilter = "envoy.filters.http.router"
)

// pieces are the Envoy objects every EnvoyFilter patches in, adapted to the
// mesh once.
type pieces struct {
	httpFilters []*hcmv3.HttpFilter
	vhost       *routev3.VirtualHost
	clusters    []*clusterv3.Cluster
	listeners   []proto.Message
}

// adapt turns f into the pieces the mesh takes:
//   - every ext_proc filter calls the Service's Istio cluster
//     (outbound|PORT||FQDN, with the FQDN as :authority) instead of the
//     bootstrap's own ext_proc cluster: the sidecars' mutual TLS and
//     Istio's per-pod load balancing come with it;
//   - the route-phase filter is renamed RouteFilterName and disabled by
//     default (HttpFilter.disabled), and the virtual host enables it
//     (typed_per_filter_config, an empty ExtProcPerRoute override): the
//     gateway's other hosts never reach llm-failover
//     (filter_chain_helper.cc createFilterChainForFactories,
//     per_filter_config.cc PerFilterConfigs);
//   - the virtual host serves hosts.
func adapt(f *envoy.Fragments, s service, hosts []string) (*pieces, error) {
	vhosts := f.RouteConfiguration.GetVirtualHosts()
	if len(vhosts) != 1 {
		return nil, fmt.Errorf("istio: the route configuration has %d virtual hosts, want 1", len(vhosts))
	}
	p := &pieces{vhost: proto.Clone(vhosts[0]).(*routev3.VirtualHost)}
	for _, h := range f.HTTPFilters {
		p.httpFilters = append(p.httpFilters, proto.Clone(h).(*hcmv3.HttpFilter))
	}
	for _, c := range f.Clusters {
		p.clusters = append(p.clusters, proto.Clone(c).(*clusterv3.Cluster))
	}
	// A listener goes in only when a cluster has an endpoint on it (the
	// loopback "unavailable" listener has none on Envoy 1.38).
	used := map[string]bool{}
	for _, c := range p.clusters {
		for _, le := range c.GetLoadAssignment().GetEndpoints() {
			for _, e := range le.GetLbEndpoints() {
				used[socketKey(e.GetEndpoint().GetAddress().GetSocketAddress())] = true
			}
		}
	}
	for _, l := range f.Listeners {
		if used[socketKey(l.GetAddress().GetSocketAddress())] {
			p.listeners = append(p.listeners, proto.Clone(l))
		}
	}

	renamed := 0
	for _, h := range p.httpFilters {
		ep := &extprocv3.ExternalProcessor{}
		if h.GetTypedConfig().UnmarshalTo(ep) != nil || ep.GetGrpcService().GetEnvoyGrpc().GetClusterName() != envoy.ExtProcCluster {
			continue
		}
		old := h.Name
		h.Name, h.Disabled = RouteFilterName, true
		renamed++
		rekey(p.vhost.TypedPerFilterConfig, old)
		for _, r := range p.vhost.Routes {
			rekey(r.TypedPerFilterConfig, old)
		}
	}
	if renamed != 1 {
		return nil, fmt.Errorf("istio: %d route-phase ext_proc filters in the fragments, want 1", renamed)
	}
	enable, err := anypb.New(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{}}})
	if err != nil {
		return nil, err
	}
	if p.vhost.TypedPerFilterConfig == nil {
		p.vhost.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	p.vhost.TypedPerFilterConfig[RouteFilterName] = enable
	p.vhost.Name = VirtualHostName
	p.vhost.Domains = nil
	for _, h := range hosts {
		p.vhost.Domains = append(p.vhost.Domains, h, h+":*")
	}

	all := []proto.Message{p.vhost}
	for _, h := range p.httpFilters {
		all = append(all, h)
	}
	for _, c := range p.clusters {
		all = append(all, c)
	}
	all = append(all, p.listeners...)
	for _, m := range all {
		if err := retarget(m.ProtoReflect(), s); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// socketKey is a socket address as "address:port".
func socketKey(a *corev3.SocketAddress) string {
	return fmt.Sprintf("%s:%d", a.GetAddress(), a.GetPortValue())
}

// rekey moves m[old] to m[RouteFilterName].
func rekey(m map[string]*anypb.Any, old string) {
	if v, ok := m[old]; ok {
		delete(m, old)
		m[RouteFilterName] = v
	}
}

// retarget points every gRPC service of m that calls envoy.ExtProcCluster
// at the Service's Istio cluster, recursing into lists, maps and Anys
// (repacked after the change).
func retarget(m protoreflect.Message, s service) error {
	if g, ok := m.Interface().(*corev3.GrpcService_EnvoyGrpc); ok {
		if g.GetClusterName() == envoy.ExtProcCluster {
			g.ClusterName, g.Authority = s.istioCluster(), s.host
		}
		return nil
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("istio: unpack %s: %w", a.GetTypeUrl(), err)
		}
		if err := retarget(inner.ProtoReflect(), s); err != nil {
			return err
		}
		return a.MarshalFrom(inner)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len() && err == nil; i++ {
				err = retarget(v.List().Get(i).Message(), s)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				err = retarget(mv.Message(), s)
				return err == nil
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			err = retarget(v.Message(), s)
		}
		return err == nil
	})
	return err
}

// patchContext is where one EnvoyFilter applies.
type patchContext struct {
	name, namespace string
	selector        map[string]string
	context         string // GATEWAY or SIDECAR_OUTBOUND
	routePort       int    // the route configuration's port
}

// envoyFilters are the gateway's EnvoyFilter and, with a sidecar selector,
// the sidecars'.
func envoyFilters(f *envoy.Fragments, s service, o Options) ([]Object, error) {
	p, err := adapt(f, s, o.Hosts)
	if err != nil {
		return nil, err
	}
	ctxs := []patchContext{{name: "llm-failover-gateway", namespace: o.GatewayNamespace, selector: o.GatewaySelector, context: "GATEWAY", routePort: o.GatewayPort}}
	if len(o.SidecarSelector) > 0 {
		ctxs = append(ctxs, patchContext{name: "llm-failover-sidecars", namespace: o.SidecarNamespace, selector: o.SidecarSelector, context: "SIDECAR_OUTBOUND", routePort: o.SidecarPort})
	}
	var out []Object
	for _, pc := range ctxs {
		patches, err := p.patches(pc)
		if err != nil {
			return nil, err
		}
		sel := yaml.MapSlice{}
		for _, k := range slices.Sorted(maps.Keys(pc.selector)) {
			sel = append(sel, yaml.MapItem{Key: k, Value: pc.selector[k]})
		}
		out = append(out, object("networking.istio.io/v1alpha3", "EnvoyFilter", pc.name, pc.namespace, yaml.MapSlice{
			{Key: "workloadSelector", Value: yaml.MapSlice{{Key: "labels", Value: sel}}},
			{Key: "configPatches", Value: patches},
		}))
	}
	return out, nil
}

// patches are the config patches of one EnvoyFilter: the HTTP filters
// before the router of every HTTP connection manager, the virtual host in
// the route configuration of routePort, and the clusters and listeners
// added whole.
func (p *pieces) patches(pc patchContext) ([]yaml.MapSlice, error) {
	var out []yaml.MapSlice
	add := func(applyTo string, match yaml.MapSlice, op string, m proto.Message) error {
		v, err := value(m)
		if err != nil {
			return err
		}
		out = append(out, yaml.MapSlice{
			{Key: "applyTo", Value: applyTo},
			{Key: "match", Value: append(yaml.MapSlice{{Key: "context", Value: pc.context}}, match...)},
			{Key: "patch", Value: yaml.MapSlice{{Key: "operation", Value: op}, {Key: "value", Value: v}}},
		})
		return nil
	}
	beforeRouter := yaml.MapSlice{{Key: "listener", Value: yaml.MapSlice{{Key: "filterChain", Value: yaml.MapSlice{{Key: "filter", Value: yaml.MapSlice{
		{Key: "name", Value: hcmFilter},
		{Key: "subFilter", Value: yaml.MapSlice{{Key: "name", Value: routerFilter}}},
	}}}}}}}
	// Each INSERT_BEFORE lands just before the router, so the filters keep
	// their order.
	for _, h := range p.httpFilters {
		if err := add("HTTP_FILTER", beforeRouter, "INSERT_BEFORE", h); err != nil {
			return nil, err
		}
	}
	routeCfg := yaml.MapSlice{{Key: "routeConfiguration", Value: yaml.MapSlice{{Key: "portNumber", Value: pc.routePort}}}}
	if err := add("VIRTUAL_HOST", routeCfg, "ADD", p.vhost); err != nil {
		return nil, err
	}
	for _, c := range p.clusters {
		if err := add("CLUSTER", nil, "ADD", c); err != nil {
			return nil, err
		}
	}
	for _, l := range p.listeners {
		if err := add("LISTENER", nil, "ADD", l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// value is m as an EnvoyFilter patch value: its proto JSON form (Anys
// with "@type"), keys in field order.
func value(m proto.Message) (yaml.MapSlice, error) {
	b, err := envoy.MarshalYAML(m)
	if err != nil {
		return nil, err
	}
	var v yaml.MapSlice
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
