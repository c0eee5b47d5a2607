package xds

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/llm-failover/llm-failover/envoy"
)

// TestEveryEnvoyVersion_BootstrapAndServedResourcesPassThatVersionsCheck
// verifies, for every supported Envoy version's topology, that the xDS
// bootstrap and the resources served, added to it statically, pass that
// version's check.
func TestEveryEnvoyVersion_BootstrapAndServedResourcesPassThatVersionsCheck(t *testing.T) {
	for _, v := range envoy.Versions() {
		for _, path := range configs {
			t.Run(v+" "+path, func(t *testing.T) {
				c := load(t, path)
				c.Envoy.Version = v
				if _, err := envoy.Bootstrap(c); err != nil {
					t.Skipf("no %s topology: %v", v, err)
				}
				y, err := GenerateBootstrap(c, BootstrapOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := envoy.CheckVersion(y, v); err != nil {
					t.Errorf("CheckVersion(xDS bootstrap, %s) = %v", v, err)
				}
				b, err := Bootstrap(c, BootstrapOptions{})
				if err != nil {
					t.Fatal(err)
				}
				snap, err := Snapshot(c)
				if err != nil {
					t.Fatal(err)
				}
				sr := b.GetStaticResources()
				for _, r := range snap.GetResources(resourcev3.ListenerType) {
					sr.Listeners = append(sr.Listeners, r.(*listenerv3.Listener))
				}
				for _, r := range snap.GetResources(resourcev3.ClusterType) {
					sr.Clusters = append(sr.Clusters, r.(*clusterv3.Cluster))
				}
				y, err = envoy.MarshalYAML(b)
				if err != nil {
					t.Fatal(err)
				}
				if err := envoy.CheckVersion(y, v); err != nil {
					t.Errorf("CheckVersion(served resources, %s) = %v", v, err)
				}
			})
		}
	}
}

// TestEveryEnvoyVersion_ReloadChangingAChainOrAddingAProviderReachesTheStreams
// verifies, for every supported Envoy version's topology, that a reload
// that adds a provider, or reorders a chain, sends each resource type it
// changes on the open ADS streams, exactly as the new config's snapshot
// holds it, and keeps the version when it changes none.
func TestEveryEnvoyVersion_ReloadChangingAChainOrAddingAProviderReachesTheStreams(t *testing.T) {
	for _, v := range envoy.Versions() {
		for _, tc := range []struct{ name, from, to string }{
			{"add a provider", oneProvider, twoProviders},
			{"reorder a chain", twoProviders, twoProvidersSwapped},
		} {
			t.Run(v+" "+tc.name, func(t *testing.T) {
				from, to := parse(t, tc.from), parse(t, tc.to)
				from.Envoy.Version, to.Envoy.Version = v, v
				want, err := Snapshot(to)
				if err != nil {
					t.Fatal(err)
				}
				old, err := Snapshot(from)
				if err != nil {
					t.Fatal(err)
				}
				s := startADS(t, from)
				typeURLs := []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType}
				streams := map[string]*client{}
				for _, typ := range typeURLs {
					streams[typ] = s.subscribe(t, typ)
					streams[typ].next()
				}
				s.reload(t, to)
				changed := 0
				for _, typ := range typeURLs {
					if sameResources(t, old.GetResources(typ), want.GetResources(typ)) {
						continue
					}
					changed++
					got := map[string]types.Resource{}
					for _, a := range streams[typ].next() {
						m, err := a.UnmarshalNew()
						if err != nil {
							t.Fatal(err)
						}
						got[cachev3.GetResourceName(m)] = m
					}
					if !sameResources(t, got, want.GetResources(typ)) {
						t.Errorf("%s after the reload differ from the new config's", typ)
					}
				}
				// A topology may carry the change in the route phase's
				// answers alone (1.39 reads the plan from request headers):
				// then nothing is pushed.
				if changed == 0 && s.Version() != old.GetVersion(resourcev3.ListenerType) {
					t.Errorf("version %q after a reload that changed no resource, want %q kept", s.Version(), old.GetVersion(resourcev3.ListenerType))
				}
			})
		}
	}
}

// sameResources compares two named resource sets by their YAML.
func sameResources(t *testing.T, a, b map[string]types.Resource) bool {
	t.Helper()
	if len(a) != len(b) {
		return false
	}
	for name, ra := range a {
		rb, ok := b[name]
		if !ok || !sameYAML(t, ra, rb) {
			return false
		}
	}
	return true
}
