package envoy

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// generatedHCM returns the HTTP connection manager Bootstrap builds for c.
func generatedHCM(t *testing.T, c *config.Config) *hcmv3.HttpConnectionManager {
	t.Helper()
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	var hcm hcmv3.HttpConnectionManager
	if !unpack(b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig(), &hcm) {
		t.Fatal("no HTTP connection manager in the first listener")
	}
	return &hcm
}

// failoverRouteOf returns the first failover route of hcm.
func failoverRouteOf(hcm *hcmv3.HttpConnectionManager) *routev3.RouteAction {
	return hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetRoute()
}

// TestGenerate_RoutePhaseMayBoundAttemptsPerRequest verifies the route-phase
// ext_proc filter's mutation_rules.allow_expression allows exactly the two
// x-envoy-* headers the route phase sets (mutation_rules.cc
// Checker::isAllowed checks it before allow_envoy), and no other x-envoy-*.
func TestGenerate_RoutePhaseMayBoundAttemptsPerRequest(t *testing.T) {
	hcm := generatedHCM(t, loadConfig(t, "../examples/config.yaml"))
	var ep extprocv3.ExternalProcessor
	if !unpack(hcm.GetHttpFilters()[0].GetTypedConfig(), &ep) {
		t.Fatal("the first HTTP filter is not ext_proc")
	}
	expr := ep.GetMutationRules().GetAllowExpression().GetRegex()
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatalf("allow_expression %q: %v", expr, err)
	}
	for name, want := range map[string]bool{
		"x-envoy-max-retries":                    true,
		"x-envoy-upstream-rq-per-try-timeout-ms": true,
		"x-envoy-upstream-rq-timeout-ms":         false,
		"x-envoy-retry-on":                       false,
		"x-envoy-max-retries-x":                  false,
		"a-x-envoy-max-retries":                  false,
	} {
		if got := re.MatchString(name); got != want {
			t.Errorf("allow_expression %q on %q: got %v, want %v", expr, name, got, want)
		}
	}
}

// TestGenerate_TimeoutsDoNotCutNonStreamedAnswers verifies the route's
// per_try_idle_timeout (started with the attempt, upstream_request.cc) is at
// least the longest non-streamed attempt timeout, and its stream idle_timeout
// at least the longest a request's attempts can take.
func TestGenerate_TimeoutsDoNotCutNonStreamedAnswers(t *testing.T) {
	c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - name: slow
    match: {models: [o3]}
    attempt_timeout: {non_streamed: 40m}
    targets: [{provider: openai, model: o3}, {provider: openai, model: o4-mini}]
  - name: fast
    match: {models: [mini]}
    targets: [{provider: openai, model: gpt-4o-mini}]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := failoverRouteOf(generatedHCM(t, c))
	if got := r.GetRetryPolicy().GetPerTryIdleTimeout().AsDuration(); got < 40*time.Minute {
		t.Errorf("per_try_idle_timeout: got %v, want at least the 40m non-streamed attempt timeout", got)
	}
	if got := r.GetIdleTimeout().AsDuration(); got < 2*40*time.Minute {
		t.Errorf("route idle_timeout: got %v, want at least two 40m attempts", got)
	}
	if got := r.GetRetryPolicy().GetNumRetries().GetValue(); got != 1 {
		t.Errorf("static num_retries: got %d, want 1 (the longest chain's)", got)
	}
}

// TestGenerate_ExtProcClusterBreakersFitActiveRequests verifies the
// llm_failover_ext_proc cluster's circuit breakers are sized from
// envoy.max_active_requests, two streams per request, instead of Envoy's
// defaults (1024), which would overflow into 500s at about 512 requests.
func TestGenerate_ExtProcClusterBreakersFitActiveRequests(t *testing.T) {
	c, err := config.Parse([]byte(`
providers: [{name: openai, api: openai, host: api.openai.com}]
chains: [{name: c, targets: [{provider: openai, model: m}]}]
envoy: {max_active_requests: 3000}
`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range b.GetStaticResources().GetClusters() {
		if cl.GetName() != ExtProcCluster {
			continue
		}
		th := cl.GetCircuitBreakers().GetThresholds()
		if len(th) != 1 {
			t.Fatalf("thresholds: got %v, want one DEFAULT priority threshold", th)
		}
		for name, got := range map[string]uint32{
			"max_requests":         th[0].GetMaxRequests().GetValue(),
			"max_pending_requests": th[0].GetMaxPendingRequests().GetValue(),
			"max_connections":      th[0].GetMaxConnections().GetValue(),
		} {
			if got != 6000 {
				t.Errorf("%s: got %d, want 6000 (2 x 3000)", name, got)
			}
		}
		return
	}
	t.Fatalf("no cluster %s", ExtProcCluster)
}

// TestGenerate_NoHealthyHostFailsOver verifies the mechanism that makes a
// provider without a healthy host (e.g. an unresolvable DNS name) fail over
// instead of Envoy's never-retried "no healthy upstream": every provider
// cluster is STRICT_DNS with a priority-1 endpoint at the loopback listener
// (carrying the provider's metadata, in plain text for TLS clusters), and
// that listener answers every request 503 with an OpenAI-style error.
func TestGenerate_NoHealthyHostFailsOver(t *testing.T) {
	c := loadConfig(t, "testdata/mixed.config.yaml")
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	port := uint32(c.Envoy.UnavailablePort)
	for _, p := range c.Providers {
		var cl *clusterv3.Cluster
		for _, x := range b.GetStaticResources().GetClusters() {
			if x.GetName() == p.Cluster {
				cl = x
			}
		}
		if cl == nil {
			t.Fatalf("no cluster %q", p.Cluster)
		}
		if cl.GetType() != clusterv3.Cluster_STRICT_DNS {
			t.Errorf("cluster %q type: got %v, want STRICT_DNS (LOGICAL_DNS keeps one endpoint at priority 0)", p.Cluster, cl.GetType())
		}
		eps := cl.GetLoadAssignment().GetEndpoints()
		if len(eps) != 2 || eps[0].GetPriority() != 0 || eps[1].GetPriority() != 1 {
			t.Fatalf("cluster %q localities: got %v, want the provider at priority 0 and the fallback at priority 1", p.Cluster, eps)
		}
		fb := eps[1].GetLbEndpoints()[0]
		sa := fb.GetEndpoint().GetAddress().GetSocketAddress()
		if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != port {
			t.Errorf("cluster %q fallback: got %s:%d, want 127.0.0.1:%d", p.Cluster, sa.GetAddress(), sa.GetPortValue(), port)
		}
		if got := fb.GetMetadata().GetFilterMetadata()[contract.EndpointNamespace].GetFields()[contract.EndpointProviderKey].GetStringValue(); got != p.Name {
			t.Errorf("cluster %q fallback provider metadata: got %q, want %q", p.Cluster, got, p.Name)
		}
		if *p.TLS {
			m := cl.GetTransportSocketMatches()
			match := fb.GetMetadata().GetFilterMetadata()[transportSocketMatchNamespace].AsMap()
			if len(m) != 1 || m[0].GetTransportSocket().GetName() != transportSocketRaw || !reflect.DeepEqual(m[0].GetMatch().AsMap(), match) {
				t.Errorf("cluster %q: got matches %v for fallback metadata %v, want plain text for the fallback", p.Cluster, m, match)
			}
		}
	}
	var found bool
	for _, l := range b.GetStaticResources().GetListeners() {
		if l.GetName() != UnavailableListener {
			continue
		}
		found = true
		sa := l.GetAddress().GetSocketAddress()
		if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != port {
			t.Errorf("listener address: got %s:%d, want 127.0.0.1:%d", sa.GetAddress(), sa.GetPortValue(), port)
		}
		var hcm hcmv3.HttpConnectionManager
		if !unpack(l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig(), &hcm) {
			t.Fatal("the fallback listener has no HTTP connection manager")
		}
		if len(hcm.GetHttpFilters()) != 1 {
			t.Errorf("fallback listener filters: got %d, want the router only", len(hcm.GetHttpFilters()))
		}
		dr := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0].GetDirectResponse()
		var e struct{ Error struct{ Type, Code string } }
		if dr.GetStatus() != 503 || json.Unmarshal([]byte(dr.GetBody().GetInlineString()), &e) != nil || e.Error.Code != "no_healthy_upstream" {
			t.Errorf("fallback answer: got %d %q, want 503 with an OpenAI-style no_healthy_upstream error", dr.GetStatus(), dr.GetBody().GetInlineString())
		}
	}
	if !found {
		t.Fatalf("no listener %q", UnavailableListener)
	}
}

// TestGenerate_MessageTimeoutsFromConfig verifies both ext_proc filters'
// message_timeout come from the config: the route phase's is
// envoy.route_message_timeout, the attempt phase's is
// server.stream_first_event_timeout plus envoy.attempt_message_slack.
func TestGenerate_MessageTimeoutsFromConfig(t *testing.T) {
	tests := []struct {
		name           string
		yaml           string
		route, attempt time.Duration
	}{
		{"defaults", "", 2 * time.Second, 15 * time.Second},
		{"configured", "server: {stream_first_event_timeout: 3s}\nenvoy: {route_message_timeout: 45s, attempt_message_slack: 30s}\n",
			45 * time.Second, 33 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(`
providers:
  - {name: openai, api: openai, host: api.openai.com}
chains:
  - {name: main, targets: [{provider: openai, model: gpt-4o}]}
` + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var route extprocv3.ExternalProcessor
			if !unpack(generatedHCM(t, c).GetHttpFilters()[0].GetTypedConfig(), &route) {
				t.Fatal("the first HTTP filter is not ext_proc")
			}
			if got := route.GetMessageTimeout().AsDuration(); got != tt.route {
				t.Errorf("route phase message_timeout: got %v, want %v", got, tt.route)
			}
			b, err := Bootstrap(c)
			if err != nil {
				t.Fatal(err)
			}
			var o upstreamhttpv3.HttpProtocolOptions
			if err := b.GetStaticResources().GetClusters()[0].GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey].UnmarshalTo(&o); err != nil {
				t.Fatal(err)
			}
			var attempt extprocv3.ExternalProcessor
			if !unpack(o.GetHttpFilters()[0].GetTypedConfig(), &attempt) {
				t.Fatal("the first upstream HTTP filter is not ext_proc")
			}
			if got := attempt.GetMessageTimeout().AsDuration(); got != tt.attempt {
				t.Errorf("attempt phase message_timeout: got %v, want %v", got, tt.attempt)
			}
		})
	}
}
