package envoymodel

import (
	"strings"
	"testing"
)

// TestMatcher_RetryFollowsSlotsByPreviousAttemptCount verifies the 1.39
// topology: the route phase pins x-envoy-attempt-count to 0 and sets slot
// headers; attempt 1 uses slot 1 and each retry, refreshing the cluster
// before the attempt count header is rewritten, uses the slot after the
// previous count, padded slots keeping the last target.
func TestMatcher_RetryFollowsSlotsByPreviousAttemptCount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		slots   []string
		status  map[string]int
		want    string
	}{
		{"second slot after a 503 on 1.39", Version139, []string{"a", "b"}, map[string]int{"a": 503}, "a,b"},
		{"second slot after a 503 on 1.40", Version140, []string{"a", "b"}, map[string]int{"a": 503}, "a,b"},
		{"padded last slot is retried", Version139, []string{"a", "b", "b"}, map[string]int{"a": 503, "b": 502}, "a,b,b"},
		{"third slot", Version139, []string{"b", "a", "c"}, map[string]int{"a": 503, "b": 503}, "b,a,c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups := map[string]*upstream{}
			var cl []named
			for _, n := range []string{"a", "b", "c"} {
				h := okJSON(`"` + n + `"`)
				if c := tc.status[n]; c != 0 {
					h = respondStatus(c)
				}
				ups[n] = startUpstream(t, h)
				cl = append(cl, named{n, ups[n].addr})
			}
			_, ep, _ := startExtProc(t, routeSets(slots(tc.slots...)...))
			m := startTopo(t, topo{ExtProc: ep, Clusters: cl, Matcher: true, Slots: len(tc.slots), NumRetries: len(tc.slots) - 1, Refresh: true}, tc.version)
			got := post(t, m, "/v1/chat", `{}`)
			if want := tc.status[tc.slots[len(tc.slots)-1]]; got.status != max(want, 200) {
				t.Errorf("status %d %q, want the last slot's %d", got.status, got.body, max(want, 200))
			}
			if order := attemptOrder(ups); order != tc.want {
				t.Errorf("attempts went to %s, want %s", order, tc.want)
			}
		})
	}
}

// TestMatcher_NoMatch verifies the matcher's no-match rules: on the first
// evaluation nothing matched leaves no cluster (503, cluster_not_found); on
// a retry it keeps the previous cluster; a slot key found whose nested
// matcher has no match falls through to the outer on_no_match.
func TestMatcher_NoMatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kv        []string
		onNoMatch string
		want      string
		status    int
	}{
		{"attempt count not pinned: no cluster", []string{"x-llm-failover-slot-1", "a", "x-llm-failover-slot-2", "b"}, "", "", 503},
		{"unknown slot value on a retry keeps the cluster", slots("a", "nosuch"), "", "a,a", 503},
		{"missing slot header on a retry keeps the cluster", slots("a"), "", "a,a", 503},
		{"nested no-match falls through to on_no_match", slots("a", "nosuch"), "c", "a,c", 200},
		{"unknown first slot goes to on_no_match", slots("nosuch", "b"), "c", "c", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups := map[string]*upstream{
				"a": startUpstream(t, respondStatus(503)),
				"b": startUpstream(t, okJSON(`"b"`)),
				"c": startUpstream(t, okJSON(`"c"`)),
			}
			cl := []named{{"a", ups["a"].addr}, {"b", ups["b"].addr}, {"c", ups["c"].addr}}
			_, ep, _ := startExtProc(t, routeSets(tc.kv...))
			m := startTopo(t, topo{ExtProc: ep, Clusters: cl, Matcher: true, Slots: 2, NumRetries: 1, Refresh: true, OnNoMatch: tc.onNoMatch}, Version139)
			got := post(t, m, "/v1/chat", `{}`)
			if got.status != tc.status {
				t.Errorf("status %d %q, want %d", got.status, got.body, tc.status)
			}
			if order := attemptOrder(ups); order != tc.want {
				t.Errorf("attempts went to %q, want %q", order, tc.want)
			}
		})
	}
}

// TestMatcher_NoRefreshOn138 verifies that on 1.38, which has the matcher
// but no refresh_cluster_on_retry, every retry stays on the first
// attempt's cluster.
func TestMatcher_NoRefreshOn138(t *testing.T) {
	ups := map[string]*upstream{"a": startUpstream(t, respondStatus(503)), "b": startUpstream(t, okJSON(`"b"`))}
	_, ep, _ := startExtProc(t, routeSets(slots("a", "b")...))
	m := startTopo(t, topo{ExtProc: ep, Clusters: []named{{"a", ups["a"].addr}, {"b", ups["b"].addr}}, Matcher: true, Slots: 2, NumRetries: 1}, Version138)
	got := post(t, m, "/v1/chat", `{}`)
	if order := attemptOrder(ups); got.status != 503 || order != "a,a" {
		t.Errorf("got %d with attempts %s, want 503 with a,a", got.status, order)
	}
}

// TestMatcher_AttemptPhaseSeesItsCluster verifies that each attempt runs
// the upstream filters of the cluster the refresh chose (upstream_request.cc
// createFilterChain(*parent_.cluster())).
func TestMatcher_AttemptPhaseSeesItsCluster(t *testing.T) {
	ups := map[string]*upstream{"a": startUpstream(t, respondStatus(503)), "b": startUpstream(t, okJSON(`"b"`))}
	srv, ep, _ := startExtProc(t, routeSets(slots("a", "b")...))
	m := startTopo(t, topo{ExtProc: ep, Clusters: []named{{"a", ups["a"].addr}, {"b", ups["b"].addr}}, Matcher: true, Slots: 2, NumRetries: 1, Refresh: true}, Version139)
	if got := post(t, m, "/v1/chat", `{}`); got.status != 200 {
		t.Fatalf("status %d, want 200", got.status)
	}
	var names []string
	for _, r := range srv.requests("attempt") {
		if r.GetRequestHeaders() != nil {
			names = append(names, r.GetAttributes()["envoy.filters.http.ext_proc"].GetFields()["xds.cluster_name"].GetStringValue())
		}
	}
	if strings.Join(names, ",") != "a,b" {
		t.Errorf("attempt phase saw clusters %q, want a,b", names)
	}
}

// TestMatcher_RefusedShapes verifies that matcher shapes the model does not
// model are load errors, never silently ignored.
func TestMatcher_RefusedShapes(t *testing.T) {
	base := string(renderTopo(t, topo{ExtProc: "127.0.0.1:1", Clusters: []named{{"a", "127.0.0.1:2"}}, Matcher: true, Slots: 1, NumRetries: 1, Refresh: true}))
	for _, tc := range []struct{ name, from, to, want string }{
		{"prefix_match_map", "exact_match_map:\n                              map:", "prefix_match_map:\n                              map:", "only exact_match_map"},
		{"other input", "header_name: x-envoy-attempt-count", "header_name: x-envoy-attempt-count\n                                \"@type\": type.googleapis.com/envoy.type.matcher.v3.HttpResponseHeaderMatchInput", "only HttpRequestHeaderMatchInput"},
		{"empty cluster", "cluster: a}", "cluster: \"\"}", "cluster must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(base, tc.from, tc.to, 1)
			if y == base {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := New([]byte(y), Options{Version: Version139})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
