package envoymodel

import (
	"net/http"
	"strings"
	"testing"
)

// threeUpstreams starts a, b and c answering with the given statuses
// (missing: 200 with the name as JSON).
func threeUpstreams(t *testing.T, status map[string]int) (map[string]*upstream, []named) {
	t.Helper()
	ups := map[string]*upstream{}
	var cl []named
	for _, n := range []string{"a", "b", "c"} {
		h := okJSON(`"` + n + `"`)
		if c := status[n]; c != 0 {
			h = respondStatus(c)
		}
		ups[n] = startUpstream(t, h)
		cl = append(cl, named{n, ups[n].addr})
	}
	return ups, cl
}

// TestAggregate_PreviousPrioritiesWalksChildren verifies the 1.38
// topology: route cluster_header picks an aggregate cluster and
// previous_priorities sends each retry to the next child; after the last
// child the retries wrap around to the first; without a retry priority
// every retry goes to the first child.
func TestAggregate_PreviousPrioritiesWalksChildren(t *testing.T) {
	for _, tc := range []struct {
		name     string
		children []string
		retries  int
		freq     int
		status   map[string]int
		want     string
		code     int
	}{
		{"each retry on the next child", []string{"a", "b", "c"}, 2, 1, map[string]int{"a": 503, "b": 503}, "a,b,c", 200},
		{"plan order, not cluster order", []string{"c", "a", "b"}, 2, 1, map[string]int{"c": 503, "a": 503}, "c,a,b", 200},
		{"wraps to the first child", []string{"a", "b"}, 3, 1, map[string]int{"a": 503, "b": 503}, "a,b,a,b", 503},
		{"no retry priority: the first child again", []string{"a", "b"}, 2, 0, map[string]int{"a": 503}, "a,a,a", 503},
		{"update_frequency 2 tries each child twice", []string{"a", "b"}, 2, 2, map[string]int{"a": 503}, "a,a,b", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups, cl := threeUpstreams(t, tc.status)
			_, ep, _ := startExtProc(t, routeSets("x-llm-failover-cluster", "shape"))
			m := startTopo(t, topo{ExtProc: ep, Clusters: cl, ClusterHeader: "x-llm-failover-cluster", NumRetries: tc.retries,
				PreviousPriorities: tc.freq, Aggregates: []aggregate{{Name: "shape", Children: tc.children}}}, Version138)
			got := post(t, m, "/v1/chat", `{}`)
			if got.status != tc.code {
				t.Errorf("status %d %q, want %d", got.status, got.body, tc.code)
			}
			if order := attemptOrder(ups); order != tc.want {
				t.Errorf("attempts went to %s, want %s", order, tc.want)
			}
		})
	}
}

// TestAggregate_PriorityOneEndpointTakesARetry verifies that every child
// priority with a host is its own linearized priority: a provider cluster
// with a priority-1 endpoint gets the retry there before the next child.
func TestAggregate_PriorityOneEndpointTakesARetry(t *testing.T) {
	ups, cl := threeUpstreams(t, map[string]int{"a": 503})
	spare := startUpstream(t, respondStatus(503))
	ups["spare"] = spare
	_, ep, _ := startExtProc(t, routeSets("x-llm-failover-cluster", "shape"))
	m := startTopo(t, topo{ExtProc: ep, Clusters: cl, Unavailable: spare.addr, ClusterHeader: "x-llm-failover-cluster", NumRetries: 2,
		PreviousPriorities: 1, Aggregates: []aggregate{{Name: "shape", Children: []string{"a", "b"}}}}, Version138)
	got := post(t, m, "/v1/chat", `{}`)
	if order := attemptOrder(ups); got.status != 200 || order != "a,spare,b" {
		t.Errorf("got %d with attempts %s, want 200 with a,spare,b", got.status, order)
	}
}

// TestAggregate_AttemptPhase verifies what an attempt through an aggregate
// runs: the aggregate's upstream filters, never the child's, with the
// child endpoint's host metadata, xds.cluster_name naming the aggregate,
// and auto_host_rewrite from the child's host.
func TestAggregate_AttemptPhase(t *testing.T) {
	ups, cl := threeUpstreams(t, map[string]int{"a": 503})
	srv, ep, _ := startExtProc(t, routeSets("x-llm-failover-cluster", "shape"))
	m := startTopo(t, topo{ExtProc: ep, Clusters: cl, ClusterHeader: "x-llm-failover-cluster", NumRetries: 1, ChildFilters: true,
		PreviousPriorities: 1, Aggregates: []aggregate{{Name: "shape", Children: []string{"a", "b"}}}}, Version138)
	if got := post(t, m, "/v1/chat", `{}`); got.status != 200 {
		t.Fatalf("status %d, want 200", got.status)
	}
	if n := len(srv.requests("child")); n != 0 {
		t.Errorf("the children's upstream filters got %d messages, want none", n)
	}
	var seen []string
	for _, r := range srv.requests("attempt") {
		if r.GetRequestHeaders() == nil {
			continue
		}
		attrs := r.GetAttributes()[attributesKey].GetFields()
		md := attrs["xds.upstream_host_metadata"].GetStringValue()
		provider := md[strings.LastIndex(md, "string_value: ")+len("string_value: "):]
		seen = append(seen, attrs["xds.cluster_name"].GetStringValue()+"/"+strings.Trim(provider, `"} `))
	}
	if strings.Join(seen, ",") != "shape/a,shape/b" {
		t.Errorf("attempt phase saw %q, want shape/a,shape/b", seen)
	}
	if h := ups["b"].requests()[0].host; h != "b.example.com" {
		t.Errorf("host on b = %q, want b.example.com", h)
	}
}

// TestAggregate_RetryLimits verifies that the aggregate's max_retries
// breaker bounds the retries and that a cluster-level retry_policy
// replaces the route's (num_retries, retry_on) but not its per_try_timeout.
func TestAggregate_RetryLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		agg  aggregate
		want string
	}{
		{"max_retries 0 of the aggregate", aggregate{MaxRetries: "0"}, "a"},
		{"cluster retry_policy num_retries 1", aggregate{RetryPolicy: `{retry_on: 5xx, num_retries: 1, retry_priority: {name: envoy.retry_priorities.previous_priorities, typed_config: {"@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig, update_frequency: 1}}}`}, "a,b"},
		{"cluster retry_policy without retry_priority", aggregate{RetryPolicy: `{retry_on: 5xx, num_retries: 1}`}, "a,a"},
		{"cluster retry_policy retrying nothing", aggregate{RetryPolicy: `{retry_on: reset, num_retries: 2}`}, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups, cl := threeUpstreams(t, map[string]int{"a": 503, "b": 503})
			_, ep, _ := startExtProc(t, routeSets("x-llm-failover-cluster", "shape"))
			tc.agg.Name, tc.agg.Children = "shape", []string{"a", "b", "c"}
			m := startTopo(t, topo{ExtProc: ep, Clusters: cl, ClusterHeader: "x-llm-failover-cluster", NumRetries: 2,
				PreviousPriorities: 1, Aggregates: []aggregate{tc.agg}}, Version138)
			got := post(t, m, "/v1/chat", `{}`)
			if order := attemptOrder(ups); got.status != 503 || order != tc.want {
				t.Errorf("got %d with attempts %s, want 503 with %s", got.status, order, tc.want)
			}
		})
	}
}

// TestAggregate_ClusterPolicyKeepsRoutePerTryTimeout verifies that a
// cluster-level retry_policy's per_try_timeout is not used: the route's
// applies (router.cc FilterUtility::finalTimeout).
func TestAggregate_ClusterPolicyKeepsRoutePerTryTimeout(t *testing.T) {
	ups, cl := threeUpstreams(t, nil)
	ups["a"].fn = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	_, ep, _ := startExtProc(t, routeSets("x-llm-failover-cluster", "shape"))
	agg := aggregate{Name: "shape", Children: []string{"a", "b"}, RetryPolicy: `{retry_on: reset, num_retries: 1, per_try_timeout: 0.05s, retry_priority: {name: envoy.retry_priorities.previous_priorities, typed_config: {"@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig, update_frequency: 1}}}`}
	m := startTopo(t, topo{ExtProc: ep, Clusters: cl, ClusterHeader: "x-llm-failover-cluster", NumRetries: 1, PerTry: "0.5s",
		Aggregates: []aggregate{agg}}, Version138)
	got := post(t, m, "/v1/chat", `{}`)
	if got.status != 200 || got.body != `"b"` || got.took < 500*1e6 {
		t.Errorf("got %d %q after %v, want b's answer after the route's 0.5s per-try timeout", got.status, got.body, got.took)
	}
}

// TestClusterHeader_Routes verifies cluster_header: the header's cluster
// serves; a missing or unknown name is a 503 cluster_not_found, not
// retried; and with refresh_cluster_on_retry (1.39) a retry keeps the
// cluster (DynamicRouteEntry does not refresh).
func TestClusterHeader_Routes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		kv      []string
		refresh bool
		want    string
		code    int
	}{
		{"provider cluster named", Version138, []string{"x-llm-failover-cluster", "b"}, false, "b", 200},
		{"unknown cluster", Version138, []string{"x-llm-failover-cluster", "nosuch"}, false, "", 503},
		{"header not set", Version138, []string{"x-other", "1"}, false, "", 503},
		{"refresh keeps the cluster on 1.39", Version139, []string{"x-llm-failover-cluster", "a"}, true, "a,a", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups, cl := threeUpstreams(t, map[string]int{"a": 503})
			_, ep, _ := startExtProc(t, routeSets(tc.kv...))
			m := startTopo(t, topo{ExtProc: ep, Clusters: cl, ClusterHeader: "x-llm-failover-cluster", NumRetries: 1, Refresh: tc.refresh}, tc.version)
			got := post(t, m, "/v1/chat", `{}`)
			if order := attemptOrder(ups); got.status != tc.code || order != tc.want {
				t.Errorf("got %d with attempts %q, want %d with %q", got.status, order, tc.code, tc.want)
			}
		})
	}
}

// TestAggregate_LoadRules verifies the aggregate cluster's load-time rules:
// lb_policy CLUSTER_PROVIDED is required for it and refused elsewhere, and
// previous_priorities needs update_frequency above 0.
func TestAggregate_LoadRules(t *testing.T) {
	base := string(renderTopo(t, topo{ExtProc: "127.0.0.1:1", Clusters: []named{{"a", "127.0.0.1:2"}}, ClusterHeader: "x-c", NumRetries: 1,
		PreviousPriorities: 1, Aggregates: []aggregate{{Name: "shape", Children: []string{"a"}}}}))
	for _, tc := range []struct{ name, from, to, want string }{
		{"aggregate without CLUSTER_PROVIDED", "    lb_policy: CLUSTER_PROVIDED\n", "", "cluster provided LB not specified"},
		{"CLUSTER_PROVIDED without a cluster type", "  - name: a\n    type: STATIC\n", "  - name: a\n    type: STATIC\n    lb_policy: CLUSTER_PROVIDED\n", "did not provide one"},
		{"update_frequency 0", "update_frequency: 1", "update_frequency: 0", "update_frequency must be greater than 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(base, tc.from, tc.to, 1)
			if y == base {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := New([]byte(y), Options{Version: Version138})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
