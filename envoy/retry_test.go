package envoy

import (
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// TestGenerate_ChainRetryBackoffGetsItsOwnRoutes verifies a chain whose
// retry back-off differs from the route's gets, before each failover route,
// a copy matching its x-llm-failover-chain header with its
// retry_back_off (base, max), on every Envoy version, passing CheckVersion;
// a chain with the route's back-off gets none.
func TestGenerate_ChainRetryBackoffGetsItsOwnRoutes(t *testing.T) {
	for _, v := range config.EnvoyVersions() {
		t.Run(v, func(t *testing.T) {
			c, err := config.Parse([]byte(`
providers: [{name: p, api: openai, host: localhost, tls: false}, {name: q, api: openai, host: localhost, tls: false}]
chains:
  - {name: slow, match: {models: [s]}, targets: [{provider: p, model: m}], retry: {max_attempts: 3, base: 200ms, max: 1s}}
  - {name: plain, match: {models: [x]}, targets: [{provider: q, model: m}], retry: {max_attempts: 2}}
envoy: {routes: [/v1/chat/completions], version: "` + v + `"}
`))
			if err != nil {
				t.Fatal(err)
			}
			routes := generatedHCM(t, c).GetRouteConfig().GetVirtualHosts()[0].GetRoutes()
			if len(routes) != 3 {
				t.Fatalf("got %d routes, want the chain's, the failover route and the 404", len(routes))
			}
			r := routes[0]
			if r.GetName() != "failover /v1/chat/completions chain slow" || r.GetMatch().GetPath() != "/v1/chat/completions" {
				t.Errorf("first route %q on %q, want the slow chain's on the path", r.GetName(), r.GetMatch().GetPath())
			}
			hm := r.GetMatch().GetHeaders()
			if len(hm) != 1 || hm[0].GetName() != contract.HeaderChain || hm[0].GetStringMatch().GetExact() != "slow" {
				t.Errorf("header matchers %v, want %s exactly slow", hm, contract.HeaderChain)
			}
			bo := r.GetRoute().GetRetryPolicy().GetRetryBackOff()
			if bo.GetBaseInterval().AsDuration() != 200*time.Millisecond || bo.GetMaxInterval().AsDuration() != time.Second {
				t.Errorf("retry_back_off %v, want base 200ms, max 1s", bo)
			}
			generic := routes[1].GetRoute().GetRetryPolicy().GetRetryBackOff()
			if len(routes[1].GetMatch().GetHeaders()) != 0 || generic.GetBaseInterval().AsDuration() != 10*time.Millisecond || generic.GetMaxInterval() != nil {
				t.Errorf("failover route %v, want no header match and the global base without max", routes[1])
			}
			if got, want := clusterSpecifierOf(r.GetRoute()), clusterSpecifierOf(routes[1].GetRoute()); got != want {
				t.Errorf("the chain's route chooses clusters %s, the failover route %s: want the same", got, want)
			}
			y, err := Generate(c, Options{SourceName: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckVersion(y, v); err != nil {
				t.Errorf("CheckVersion(%s) = %v", v, err)
			}
		})
	}
}

// clusterSpecifierOf names how a route action chooses its cluster.
func clusterSpecifierOf(a *routev3.RouteAction) string {
	switch s := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		return "cluster " + s.Cluster
	case *routev3.RouteAction_InlineClusterSpecifierPlugin:
		return "plugin " + s.InlineClusterSpecifierPlugin.GetExtension().GetName()
	case *routev3.RouteAction_ClusterHeader:
		return "header " + s.ClusterHeader
	}
	return "other"
}
