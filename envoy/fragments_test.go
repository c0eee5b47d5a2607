package envoy

import (
	"os"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
)

// same compares two messages by their YAML form, which unpacks Anys and
// sorts maps (proto.Equal compares packed Anys byte for byte, and map
// order in packed bytes varies between runs).
func same(t *testing.T, a, b proto.Message) bool {
	t.Helper()
	ya, err := marshalYAML(a)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := marshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ya) == string(yb)
}

// fragmentSections are the sections a fragments document can have.
var fragmentSections = []string{"http_filters", "route_configuration", "clusters", "listeners", "secrets"}

// allGenerated are every config the generator tests use.
func allGenerated() []generated {
	return append(slices.Clone(repoFiles), goldenFiles...)
}

func buildFragments(t *testing.T, path string) (*config.Config, *Fragments) {
	t.Helper()
	c := loadConfig(t, path)
	f, err := BuildFragments(c)
	if err != nil {
		t.Fatalf("BuildFragments(%s): %v", path, err)
	}
	return c, f
}

// TestBuildFragments_HoldEveryPieceOfTheBootstrap verifies that the
// fragments are the bootstrap taken apart: every cluster and listener once,
// unchanged, and the client listener's filters before the router and its
// route configuration exactly as its connection manager holds them.
func TestBuildFragments_HoldEveryPieceOfTheBootstrap(t *testing.T) {
	for _, g := range allGenerated() {
		t.Run(g.name, func(t *testing.T) {
			c, f := buildFragments(t, g.config)
			checkPieces(t, c, f)
		})
	}
}

// checkPieces fails t unless f is Bootstrap(c) taken apart.
func checkPieces(t *testing.T, c *config.Config, f *Fragments) {
	t.Helper()
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	sr := b.GetStaticResources()
	gotClusters := append([]*clusterv3.Cluster{f.ExtProcCluster}, f.Clusters...)
	if len(gotClusters) != len(sr.GetClusters()) {
		t.Fatalf("fragments hold %d clusters, want the bootstrap's %d", len(gotClusters), len(sr.GetClusters()))
	}
	for _, want := range sr.GetClusters() {
		if !slices.ContainsFunc(gotClusters, func(got *clusterv3.Cluster) bool { return same(t, got, want) }) {
			t.Errorf("cluster %q is not in the fragments as the bootstrap has it", want.GetName())
		}
	}
	gotListeners := append([]*listenerv3.Listener{f.Listener}, f.Listeners...)
	if len(gotListeners) != len(sr.GetListeners()) {
		t.Fatalf("fragments hold %d listeners, want the bootstrap's %d", len(gotListeners), len(sr.GetListeners()))
	}
	for _, want := range sr.GetListeners() {
		if !slices.ContainsFunc(gotListeners, func(got *listenerv3.Listener) bool { return same(t, got, want) }) {
			t.Errorf("listener %q is not in the fragments as the bootstrap has it", want.GetName())
		}
	}
	hcm, ok := listenerHCM(f.Listener)
	if !ok {
		t.Fatalf("client listener %q has no HTTP connection manager", f.Listener.GetName())
	}
	if !same(t, hcm.GetRouteConfig(), f.RouteConfiguration) {
		t.Errorf("RouteConfiguration differs from the client listener's route_config")
	}
	filters := hcm.GetHttpFilters()
	if n := len(filters); n != len(f.HTTPFilters)+1 || !filters[n-1].GetTypedConfig().MessageIs(&routerv3.Router{}) {
		t.Fatalf("client listener has %d HTTP filters, want the %d fragments then the router", n, len(f.HTTPFilters))
	}
	for i, h := range f.HTTPFilters {
		if !same(t, h, filters[i]) {
			t.Errorf("HTTPFilters[%d] = %s, want %s", i, h.GetName(), filters[i].GetName())
		}
	}
}

// TestBuildFragments_SDSFiles verifies that the fragments name every SDS file
// Envoy must read: each key Envoy holds, and the ext_proc channel's TLS files.
func TestBuildFragments_SDSFiles(t *testing.T) {
	tests := []struct {
		config string
		want   []SDSFile
	}{
		{"testdata/minimal.config.yaml", nil},
		{"../examples/mesh-config.yaml", []SDSFile{
			{"openai-key", "/etc/envoy/keys/openai.yaml"},
			{"anthropic-key", "/etc/envoy/keys/anthropic.yaml"},
			{"gemini-key", "/etc/envoy/keys/gemini.yaml"},
			{"azure-key", "/etc/envoy/keys/azure.yaml"},
		}},
		{"testdata/mtls.config.yaml", []SDSFile{
			{ExtProcClientSecret, "/etc/envoy/sds/ext_proc_client.yaml"},
			{ExtProcCASecret, "/etc/envoy/sds/ext_proc_ca.yaml"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			_, f := buildFragments(t, tt.config)
			if !slices.Equal(f.SDSFiles, tt.want) {
				t.Errorf("SDSFiles = %v, want %v", f.SDSFiles, tt.want)
			}
		})
	}
}

// TestBuildFragments_UpstreamFilters verifies the upstream filters found
// per cluster: the attempt-phase ext_proc filter on every provider
// cluster, followed by the credential injector where Envoy holds the key,
// and nothing for the ext_proc cluster.
func TestBuildFragments_UpstreamFilters(t *testing.T) {
	tests := []struct {
		config string
		want   map[string][]string // cluster -> filter names
	}{
		{"testdata/minimal.config.yaml", map[string][]string{"openai": {filterExtProc}}},
		{"../examples/mesh-config.yaml", map[string][]string{
			"openai":    {filterExtProc, filterCredentialInjector},
			"anthropic": {filterExtProc, filterCredentialInjector},
			"gemini":    {filterExtProc, filterCredentialInjector},
			"azure":     {filterExtProc, filterCredentialInjector},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.config, func(t *testing.T) {
			c, f := buildFragments(t, tt.config)
			got := map[string][]string{}
			for cluster, fs := range f.UpstreamFilters {
				for _, h := range fs {
					got[cluster] = append(got[cluster], h.GetName())
				}
			}
			want := map[string][]string{}
			for provider, names := range tt.want {
				want[c.Provider(provider).Cluster] = names
			}
			if len(got) != len(want) {
				t.Errorf("UpstreamFilters = %v, want %v", got, want)
			}
			for cluster, names := range want {
				if !slices.Equal(got[cluster], names) {
					t.Errorf("UpstreamFilters[%q] = %v, want %v", cluster, got[cluster], names)
				}
			}
		})
	}
}

// TestFragments_GateEnablesTheRoutePhaseOnlyOnItsVirtualHost verifies
// Gate: the route-phase filter is disabled by default, the failover
// virtual host enables it with an ExtProcPerRoute that overrides nothing,
// the 404 route still disables it, a second Gate changes nothing, and the
// whole client listener is left as the bootstrap has it.
func TestFragments_GateEnablesTheRoutePhaseOnlyOnItsVirtualHost(t *testing.T) {
	c, f := buildFragments(t, "../examples/config.yaml")
	f.Gate()
	gated, err := f.YAML(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.HTTPFilters) != 1 || !f.HTTPFilters[0].GetDisabled() {
		t.Fatalf("HTTPFilters after Gate = %v, want the route-phase filter disabled", f.HTTPFilters)
	}
	name := f.HTTPFilters[0].GetName()
	for _, vh := range f.RouteConfiguration.GetVirtualHosts() {
		var pr extprocv3.ExtProcPerRoute
		if err := vh.GetTypedPerFilterConfig()[name].UnmarshalTo(&pr); err != nil {
			t.Fatalf("virtual host %q: typed_per_filter_config[%q]: %v", vh.GetName(), name, err)
		}
		if !same(t, pr.GetOverrides(), &extprocv3.ExtProcOverrides{}) || pr.GetOverrides() == nil {
			t.Errorf("virtual host %q enables %q with %v, want empty overrides", vh.GetName(), name, &pr)
		}
		for _, r := range vh.GetRoutes() {
			if r.GetDirectResponse() == nil {
				continue
			}
			var off extprocv3.ExtProcPerRoute
			if err := r.GetTypedPerFilterConfig()[name].UnmarshalTo(&off); err != nil || !off.GetDisabled() {
				t.Errorf("route %q: ext_proc not disabled after Gate (%v)", r.GetName(), err)
			}
		}
	}
	f.Gate()
	if again, err := f.YAML(Options{}); err != nil || string(again) != string(gated) {
		t.Errorf("a second Gate changed the fragments (%v)", err)
	}
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	if !same(t, f.Listener, b.GetStaticResources().GetListeners()[0]) {
		t.Errorf("Gate changed the whole client listener")
	}
}

// TestBuildFragments_CopiesThePieces verifies that changing a fragment
// changes neither another call's fragments nor a later bootstrap.
func TestBuildFragments_CopiesThePieces(t *testing.T) {
	c, f := buildFragments(t, "testdata/minimal.config.yaml")
	f.Clusters[0].Name = "changed"
	f.RouteConfiguration.VirtualHosts[0].Name = "changed"
	_, again := buildFragments(t, "testdata/minimal.config.yaml")
	if again.Clusters[0].GetName() == "changed" || again.RouteConfiguration.GetVirtualHosts()[0].GetName() == "changed" {
		t.Errorf("a change to one call's fragments shows in the next call's")
	}
	if _, err := BuildFragments(c); err != nil {
		t.Fatal(err)
	}
}

// TestBuildFragments_RefusesWhatBootstrapRefuses verifies that a config the
// generator cannot use gives the generator's error, not fragments.
func TestBuildFragments_RefusesWhatBootstrapRefuses(t *testing.T) {
	if _, err := BuildFragments(nil); err == nil {
		t.Errorf("BuildFragments(nil) = nil error, want one")
	}
	if _, err := BuildFragments(&config.Config{}); err == nil {
		t.Errorf("BuildFragments(empty config) = nil error, want one")
	}
}

// operatorBootstrap is an Envoy someone else configured: a listener of its
// own whose connection manager has a health route, a route to a backend
// of its own (which must not go through llm-failover) and the router, and
// the node identity docs/xds.md requires when fragments bring SDS secrets.
const operatorBootstrap = `
node: {id: ingress-1, cluster: ingress}
static_resources:
  clusters:
  - name: backend
    type: STRICT_DNS
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: backend.internal, port_value: 8080}}}}]}]
  listeners:
  - name: ingress
    address: {socket_address: {address: 0.0.0.0, port_value: 8443}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            name: ingress
            virtual_hosts:
            - name: internal
              domains: [internal.example]
              routes:
              - match: {path: /healthz}
                direct_response: {status: 200, body: {inline_string: ok}}
              - match: {prefix: /api/}
                route: {cluster: backend}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`

// mergeFragments merges f into b as docs/xds.md tells an operator to: the
// HTTP filters just before the router of b's first listener, the virtual
// hosts appended to its route configuration, every cluster and listener added.
func mergeFragments(t *testing.T, b *bootstrapv3.Bootstrap, f *Fragments) {
	t.Helper()
	sr := b.GetStaticResources()
	l := sr.GetListeners()[0]
	hcm, ok := listenerHCM(l)
	if !ok {
		t.Fatal("operator listener has no connection manager")
	}
	n := len(hcm.HttpFilters)
	hcm.HttpFilters = append(slices.Clone(hcm.HttpFilters[:n-1]), append(f.HTTPFilters, hcm.HttpFilters[n-1])...)
	rc := hcm.GetRouteConfig()
	rc.VirtualHosts = append(rc.VirtualHosts, f.RouteConfiguration.GetVirtualHosts()...)
	a, err := anypb.New(hcm)
	if err != nil {
		t.Fatal(err)
	}
	l.FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
	sr.Clusters = append(append(sr.Clusters, f.ExtProcCluster), f.Clusters...)
	sr.Listeners = append(sr.Listeners, f.Listeners...)
	sr.Secrets = append(sr.Secrets, f.Secrets...)
}

// TestFragments_MergedIntoAnotherEnvoyPassCheck verifies that an operator's
// Envoy with the gated fragments merged in as documented is a valid Envoy
// config that keeps the llm-failover contract (Check), for every generator
// config.
func TestFragments_MergedIntoAnotherEnvoyPassCheck(t *testing.T) {
	js, err := yaml.YAMLToJSON([]byte(operatorBootstrap))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range allGenerated() {
		t.Run(g.name, func(t *testing.T) {
			_, f := buildFragments(t, g.config)
			f.Gate()
			var b bootstrapv3.Bootstrap
			if err := protojson.Unmarshal(js, &b); err != nil {
				t.Fatal(err)
			}
			mergeFragments(t, &b, f)
			y, err := marshalYAML(&b)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(y); err != nil {
				t.Errorf("Check(operator's Envoy + fragments of %s) = %v, want nil", g.config, err)
			}
		})
	}
}

// TestGenerateFragments_Golden verifies envoy-config --fragments' output
// byte for byte, including the header naming each SDS file.
func TestGenerateFragments_Golden(t *testing.T) {
	for _, g := range []generated{
		{"minimal", "testdata/minimal.config.yaml", "testdata/minimal.config.yaml", "testdata/minimal.fragments.yaml"},
		{"mesh", "../examples/mesh-config.yaml", "examples/mesh-config.yaml", "testdata/mesh.fragments.yaml"},
	} {
		t.Run(g.name, func(t *testing.T) {
			got, err := GenerateFragments(loadConfig(t, g.config), Options{SourceName: g.source})
			if err != nil {
				t.Fatal(err)
			}
			compareOrUpdate(t, g.out, got, "go test ./envoy -run TestGenerateFragments -update")
		})
	}
}

// TestGenerateFragments_SectionsDecodeAsEnvoyTypes verifies that every
// section of the document decodes strictly into its Envoy API type and
// equals the fragment it came from.
func TestGenerateFragments_SectionsDecodeAsEnvoyTypes(t *testing.T) {
	for _, g := range allGenerated() {
		t.Run(g.name, func(t *testing.T) {
			c, f := buildFragments(t, g.config)
			f.Gate()
			y, err := GenerateFragments(c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(y, &doc); err != nil {
				t.Fatalf("not YAML: %v", err)
			}
			for k := range doc {
				if !slices.Contains(fragmentSections, k) {
					t.Errorf("unexpected section %q", k)
				}
			}
			decode := func(v any, m proto.Message) {
				t.Helper()
				js, err := yaml.Marshal(v)
				if err == nil {
					js, err = yaml.YAMLToJSON(js)
				}
				if err == nil {
					err = protojson.Unmarshal(js, m)
				}
				if err != nil {
					t.Fatalf("%T: %v", m, err)
				}
			}
			var rc = f.RouteConfiguration.ProtoReflect().New().Interface()
			decode(doc["route_configuration"], rc)
			if !same(t, rc, f.RouteConfiguration) {
				t.Errorf("route_configuration does not round-trip")
			}
			for i, v := range doc["http_filters"].([]any) {
				var h hcmv3.HttpFilter
				decode(v, &h)
				if !same(t, &h, f.HTTPFilters[i]) {
					t.Errorf("http_filters[%d] does not round-trip", i)
				}
			}
			want := append([]*clusterv3.Cluster{f.ExtProcCluster}, f.Clusters...)
			for i, v := range doc["clusters"].([]any) {
				var cl clusterv3.Cluster
				decode(v, &cl)
				if !same(t, &cl, want[i]) {
					t.Errorf("clusters[%d] (%s) does not round-trip", i, cl.GetName())
				}
			}
			if !strings.HasPrefix(string(y), "# Generated by llm-failover envoy-config --fragments from an llm-failover config.") {
				t.Errorf("header = %q", y[:min(len(y), 120)])
			}
		})
	}
}

// TestGenerateFragments_DocumentedSections verifies that docs/xds.md's
// table of sections names every section the document can have.
func TestGenerateFragments_DocumentedSections(t *testing.T) {
	doc, err := os.ReadFile("../docs/xds.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range fragmentSections {
		if !strings.Contains(string(doc), "| `"+key+"` |") {
			t.Errorf("docs/xds.md has no table row for section %q", key)
		}
	}
}

// TestFragments_GatedFilterLeftOffIsRefused verifies that Check refuses a
// merge where the route-phase filter is disabled in the connection manager
// (the gated fragments) and the failover routes' virtual host no longer
// enables it: those requests would reach the providers without a plan
// (config_impl.cc filterDisabled), while the operator's own routes, which
// reach no provider, stay unflagged.
func TestFragments_GatedFilterLeftOffIsRefused(t *testing.T) {
	js, err := yaml.YAMLToJSON([]byte(operatorBootstrap))
	if err != nil {
		t.Fatal(err)
	}
	_, f := buildFragments(t, "../examples/config.yaml")
	f.Gate()
	for _, vh := range f.RouteConfiguration.GetVirtualHosts() {
		for _, h := range f.HTTPFilters {
			delete(vh.TypedPerFilterConfig, h.GetName())
		}
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		t.Fatal(err)
	}
	mergeFragments(t, &b, f)
	y, err := marshalYAML(&b)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(y)
	if err == nil || !strings.Contains(err.Error(), "is disabled in the connection manager and this route to the providers does not enable it") {
		t.Fatalf("Check = %v, want the gated filter refusal", err)
	}
	if strings.Contains(err.Error(), "virtual_hosts[0]") {
		t.Errorf("Check flagged the operator's own virtual host: %v", err)
	}
}
