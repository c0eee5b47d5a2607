package envoymodel

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// endpointsYAML renders load_assignment endpoints: one locality per
// (priority, address) pair.
func endpointsYAML(name string, prioAddr ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(prioAddr); i += 2 {
		host, port, _ := net.SplitHostPort(prioAddr[i+1])
		fmt.Fprintf(&b, "      - priority: %s\n        lb_endpoints:\n        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}\n          metadata: {filter_metadata: {llm_failover: {provider: %s}}}\n", prioAddr[i], host, port, name)
	}
	return strings.TrimRight(b.String(), "\n")
}

// TestModel_NoHealthyUpstream verifies router.cc sendNoHealthyUpstreamResponse:
// a cluster whose every endpoint name fails to resolve has no host, which
// is a 503 "no healthy upstream" local reply (details no_healthy_upstream)
// sent at once and never retried, even with retries left.
func TestModel_NoHealthyUpstream(t *testing.T) {
	b := startUpstream(t, okJSON(`"b"`))
	_, ep, _ := startExtProc(t, routeOverride("a", "b"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": "127.0.0.1:1", "b": b.addr}, Groups: []string{"a"}, NumRetries: 2,
		ClusterType: map[string]string{"a": "STRICT_DNS"}, Endpoints: map[string]string{"a": endpointsYAML("a", "0", "provider.invalid:443")},
		LocalReplyJSON: true})
	got := post(t, m, "/v1/x", `{}`)
	var lr localReplyJSON
	_ = json.Unmarshal([]byte(got.body), &lr)
	if got.status != 503 || lr.Details != "no_healthy_upstream" || lr.Body != "no healthy upstream" {
		t.Fatalf("got %d %q, want 503 no healthy upstream / no_healthy_upstream", got.status, got.body)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("b got %d requests, want 0: no healthy upstream is never retried", n)
	}
}

// TestModel_EndpointPriorities verifies that the lowest priority with a
// host serves: a STRICT_DNS name that does not resolve leaves priority 0
// without hosts and priority 1 serves; with a host at priority 0 priority
// 1 gets nothing (no health checks: every host is healthy, so the
// overprovisioned priority load is all-or-nothing).
func TestModel_EndpointPriorities(t *testing.T) {
	p0 := startUpstream(t, okJSON(`"p0"`))
	p1 := startUpstream(t, okJSON(`"p1"`))
	_, p0port, _ := net.SplitHostPort(p0.addr)
	cases := []struct {
		name string
		typ  string
		eps  string
		want string
	}{
		{"unresolvable priority 0 falls to priority 1", "STRICT_DNS", endpointsYAML("a", "0", "dead.invalid:443", "1", p1.addr), `"p1"`},
		{"resolvable priority 0 takes all the load", "STRICT_DNS", endpointsYAML("a", "0", "localhost:"+p0port, "1", p1.addr), `"p0"`},
		{"static priority 0 takes all the load", "STATIC", endpointsYAML("a", "0", p0.addr, "1", p1.addr), `"p0"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ep, _ := startExtProc(t, continueAll)
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": "127.0.0.1:1"}, Groups: []string{"a"},
				ClusterType: map[string]string{"a": tc.typ}, Endpoints: map[string]string{"a": tc.eps}})
			for i := 0; i < 3; i++ {
				if got := post(t, m, "/v1/x", `{}`); got.status != 200 || got.body != tc.want {
					t.Fatalf("request %d: got %d %q, want %s", i, got.status, got.body, tc.want)
				}
			}
		})
	}
}

// TestModel_LogicalDNSSingleEndpoint verifies that a LOGICAL_DNS cluster
// with more than one lb_endpoint is refused, as Envoy refuses it
// (logical_dns_cluster.cc LogicalDnsCluster::create): a priority-1 fallback
// needs STRICT_DNS.
func TestModel_LogicalDNSSingleEndpoint(t *testing.T) {
	_, ep, _ := startExtProc(t, continueAll)
	p := params{ExtProc: ep, Clusters: map[string]string{"a": "127.0.0.1:1"}, Groups: []string{"a"},
		ClusterType: map[string]string{"a": "LOGICAL_DNS"}, Endpoints: map[string]string{"a": endpointsYAML("a", "0", "dead.invalid:443", "1", "127.0.0.1:2")}}
	_, err := New(renderYAML(t, p), Options{})
	if err == nil || !strings.Contains(err.Error(), "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint") {
		t.Fatalf("New: err %v, want Envoy's LOGICAL_DNS single endpoint error", err)
	}
}

// TestModel_RateLimitedIsNotRetried verifies retry_state_impl.cc
// wouldRetryFromHeaders: a response carrying x-envoy-ratelimited is never
// retried (without retry_on envoy-ratelimited), one carrying
// x-envoy-overloaded is retried like any 5xx.
func TestModel_RateLimitedIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   string
	}{
		{"x-envoy-ratelimited", "a"},
		{"x-envoy-overloaded", "b"},
	} {
		t.Run(tc.header, func(t *testing.T) {
			a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(tc.header, "true")
				w.WriteHeader(503)
				_, _ = w.Write([]byte(`"a"`))
			})
			b := startUpstream(t, okJSON(`"b"`))
			_, ep, _ := startExtProc(t, routeOverride("a", "b"))
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1})
			if got := post(t, m, "/v1/x", `{}`); !strings.Contains(got.body, tc.want) {
				t.Fatalf("got %d %q, want the answer of %s", got.status, got.body, tc.want)
			}
		})
	}
}

// TestModel_PerRequestRetryHeaders verifies contract decision 1 against
// Envoy: the route phase may set x-envoy-max-retries and
// x-envoy-upstream-rq-per-try-timeout-ms when mutation_rules.allow_expression
// names them (mutation_rules.cc Checker::isAllowed checks allow_expression
// before allow_envoy); the router honours both (retry_state_impl.cc, router.cc
// FilterUtility::finalTimeout) and removes them before the upstream request;
// the same headers sent by a client are stripped by the HCM
// (conn_manager_utility.cc cleanInternalHeaders).
func TestModel_PerRequestRetryHeaders(t *testing.T) {
	const allow = "\n              mutation_rules: {allow_expression: {regex: \"^x-envoy-(max-retries|upstream-rq-per-try-timeout-ms)$\"}}"
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	cases := []struct {
		name       string
		routeSets  []string // set by the route phase's body answer
		client     []string // sent by the client
		rules      string
		wantA      int
		wantStatus int
		maxTook    time.Duration
	}{
		{name: "route phase lowers max retries and per-try timeout", routeSets: []string{"x-envoy-max-retries", "1", "x-envoy-upstream-rq-per-try-timeout-ms", "200"},
			rules: allow, wantA: 2, wantStatus: 504, maxTook: 1500 * time.Millisecond},
		{name: "without allow_expression the headers are refused", routeSets: []string{"x-envoy-max-retries", "1", "x-envoy-upstream-rq-per-try-timeout-ms", "200"},
			wantA: 1, wantStatus: 504},
		{name: "client headers are stripped", client: []string{"x-envoy-max-retries", "5", "x-envoy-upstream-rq-per-try-timeout-ms", "100"},
			wantA: 1, wantStatus: 504},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, slow)
			_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "route" && req.GetRequestBody() != nil {
					r := continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders(append([]string{"x-chain", "c"}, tc.routeSets...)...), ClearRouteCache: true})
					r.DynamicMetadata = overrideMD("ns", "a")
					return []*extprocsvc.ProcessingResponse{r}
				}
				return continueAll(phase, req)
			})
			// num_retries 0 and per_try_timeout 1s on the route: the headers
			// must be what makes a second attempt happen within 0.2s each.
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, NumRetries: 0, PerTry: "1s", RouteExtra: tc.rules})
			got := post(t, m, "/v1/x", `{}`, tc.client...)
			if got.status != tc.wantStatus {
				t.Fatalf("got %d %q, want %d", got.status, got.body, tc.wantStatus)
			}
			if tc.maxTook > 0 && got.took > tc.maxTook {
				t.Errorf("took %v, want two 0.2s attempts within %v", got.took, tc.maxTook)
			}
			reqs := a.requests()
			if len(reqs) != tc.wantA {
				t.Fatalf("upstream got %d requests, want %d", len(reqs), tc.wantA)
			}
			for _, r := range reqs {
				for _, k := range []string{"x-envoy-max-retries", "x-envoy-upstream-rq-per-try-timeout-ms"} {
					if v := r.header.Get(k); v != "" {
						t.Errorf("%s reached the upstream: %q", k, v)
					}
				}
			}
		})
	}
}

// TestModel_LargeExtProcMessage verifies that the model's gRPC client has
// no 4 MiB receive limit (Envoy's envoy_grpc max_receive_message_length
// defaults to unlimited): a 5 MiB body mutation from the route phase goes
// upstream.
func TestModel_LargeExtProcMessage(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	big := strings.Repeat("x", 5<<20)
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{
				HeaderMutation: &extprocsvc.HeaderMutation{RemoveHeaders: []string{"content-length"}},
				BodyMutation:   &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte(big)}}})}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, NoAttemptFilters: true})
	if got := post(t, m, "/v1/x", `{}`); got.status != 200 {
		t.Fatalf("got %d %q, want 200", got.status, got.body)
	}
	if n := len(a.requests()[0].body); n != len(big) {
		t.Errorf("upstream body %d bytes, want %d", n, len(big))
	}
}

// TestModel_PerTryTimeoutReply verifies router.cc: the upstream request
// carries x-envoy-expected-rq-timeout-ms (FilterUtility::setTimeoutHeaders),
// and the last per-try timeout is a 504 with details
// upstream_per_try_timeout (onPerTryTimeout).
func TestModel_PerTryTimeoutReply(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	_, ep, _ := startExtProc(t, continueAll)
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, NumRetries: 0, PerTry: "0.2s", LocalReplyJSON: true})
	got := post(t, m, "/v1/x", `{}`)
	var lr localReplyJSON
	_ = json.Unmarshal([]byte(got.body), &lr)
	if got.status != 504 || lr.Details != "upstream_per_try_timeout" || lr.Body != "upstream request timeout" {
		t.Fatalf("got %d %q, want 504 upstream request timeout / upstream_per_try_timeout", got.status, got.body)
	}
	if v := a.requests()[0].header.Get("x-envoy-expected-rq-timeout-ms"); v != "200" {
		t.Errorf("x-envoy-expected-rq-timeout-ms = %q, want 200", v)
	}
}

// TestModel_OtherListenerServesPriorityOneFallback verifies the fallback
// llm-failover builds for a provider whose name does not resolve: priority 0
// has no host, so priority 1, a second Envoy listener on loopback with a
// direct_response 503, answers; the attempt phase sees that 503 and marks
// it for a retry, which goes to the next target. The model serves every
// HCM listener on its configured loopback address.
func TestModel_OtherListenerServesPriorityOneFallback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	b := startUpstream(t, okJSON(`"b"`))
	srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" {
			return routeOverride("a", "b")(phase, req)
		}
		for _, h := range req.GetResponseHeaders().GetHeaders().GetHeaders() {
			if h.GetKey() == ":status" && string(h.GetRawValue()) == "503" {
				return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-retry", "1")})}
			}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": "127.0.0.1:1", "b": b.addr}, Groups: []string{"a"}, NumRetries: 1,
		RetryOn: "reset,connect-failure,retriable-headers", UnavailablePort: port, Listeners: map[string]net.Listener{"unavailable": ln},
		ClusterType: map[string]string{"a": "STRICT_DNS"},
		Endpoints:   map[string]string{"a": endpointsYAML("a", "0", "provider.invalid:443", "1", fmt.Sprintf("127.0.0.1:%d", port))}})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.body != `"b"` {
		t.Fatalf("got %d %q, want b's answer after a's fallback 503", got.status, got.body)
	}
	saw := false
	for _, r := range srv.requests("attempt") {
		for _, h := range r.GetResponseHeaders().GetHeaders().GetHeaders() {
			if h.GetKey() == ":status" && string(h.GetRawValue()) == "503" {
				saw = true
			}
		}
	}
	if !saw {
		t.Errorf("the attempt phase never saw the fallback listener's 503")
	}
}

// TestModel_RetryBufferLimit verifies router.cc decodeData and
// calculateEffectiveBufferLimit: the router buffers the request body for
// retries up to the route's request_body_buffer_limit (even below the
// connection's limit, which lets the body in); a body over it gets one
// attempt and no retry, a body at it is retried.
func TestModel_RetryBufferLimit(t *testing.T) {
	for _, tc := range []struct {
		size int
		want string
	}{
		{100, `"b"`},
		{101, "a"},
	} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(503)
				_, _ = w.Write([]byte("a"))
			})
			b := startUpstream(t, okJSON(`"b"`))
			_, ep, _ := startExtProc(t, routeOverride("a", "b"))
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1, BodyLimit: 100})
			if got := post(t, m, "/v1/x", strings.Repeat("x", tc.size)); got.body != tc.want {
				t.Fatalf("%d-byte body: got %d %q, want %s", tc.size, got.status, got.body, tc.want)
			}
		})
	}
}
