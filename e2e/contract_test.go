package e2e

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"testing"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/fakellm"
)

// setHeaders returns a mutation's set headers, failing on any that uses
// value instead of raw_value (Envoy reads raw_value only).
func setHeaders(t *testing.T, m *extprocsvc.HeaderMutation) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range m.GetSetHeaders() {
		if h.GetHeader().GetValue() != "" {
			t.Errorf("set header %q uses value %q; Envoy reads only raw_value", h.GetHeader().GetKey(), h.GetHeader().GetValue())
		}
		out[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	return out
}

// TestContract_ServerMessages verifies, on a healthy request and on a
// failover, the messages the server sends against docs/envoy-contract.md:
// the route phase's header mutation, clear_route_cache and the two metadata
// namespaces (the override namespace holding nothing but priority_groups),
// and the attempt phase's CONTINUE on request headers and its body rewrite
// with a matching content-length.
func TestContract_ServerMessages(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.needLocal("the server's ext_proc messages")
		r := s.chat()
		s.mustOK(r, "primary")
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 500})); err != nil {
			t.Fatal(err)
		}
		s.mustOK(s.chat(), "secondary")

		var routeBody, attemptHeaders, attemptBody []*extprocsvc.ProcessingResponse
		for _, e := range s.rec.all() {
			if e.resp == nil {
				continue
			}
			switch {
			case e.phase == "route" && e.resp.GetRequestBody() != nil:
				routeBody = append(routeBody, e.resp)
			case e.phase == "attempt" && e.resp.GetRequestHeaders() != nil:
				attemptHeaders = append(attemptHeaders, e.resp)
			case e.phase == "attempt" && e.resp.GetRequestBody() != nil:
				attemptBody = append(attemptBody, e.resp)
			}
		}
		if len(routeBody) != 2 || len(attemptHeaders) != 3 || len(attemptBody) != 3 {
			t.Fatalf("saw %d route body, %d attempt header and %d attempt body answers, want 2, 3, 3", len(routeBody), len(attemptHeaders), len(attemptBody))
		}
		for _, rb := range routeBody {
			cr := rb.GetRequestBody().GetResponse()
			if got := setHeaders(t, cr.GetHeaderMutation())["x-llm-failover-chain"]; got != "main" {
				t.Errorf("route phase x-llm-failover-chain = %q, want main", got)
			}
			if !cr.GetClearRouteCache() {
				t.Errorf("route phase body answer without clear_route_cache")
			}
			md := rb.GetDynamicMetadata().AsMap()
			ns, _ := md["llm_failover"].(map[string]any)
			var keys []string
			for k := range ns {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "priority_groups" {
				t.Errorf("namespace llm_failover holds %v, want exactly priority_groups", keys)
			}
			groups, _ := ns["priority_groups"].([]any)
			if len(groups) != 3 {
				t.Errorf("priority_groups has %d groups, want 3 (one per planned attempt)", len(groups))
			}
			for i, g := range groups {
				gm, _ := g.(map[string]any)
				cl, _ := gm["clusters"].([]any)
				if gm["name"] != "attempt-"+strconv.Itoa(i+1) || len(cl) != 1 {
					t.Errorf("group %d = %v, want attempt-%d with one cluster", i, gm, i+1)
					continue
				}
				c, _ := cl[0].(map[string]any)
				if c["cluster_name"] != providerNames[i] || c["weight"] != float64(1) {
					t.Errorf("group %d cluster = %v, want {cluster_name: %s, weight: 1}", i, c, providerNames[i])
				}
			}
			plan, _ := md["llm_failover.plan"].(map[string]any)
			if plan["v"] != float64(1) || plan["chain"] != "main" || plan["model"] != chainModel || plan["stream"] != false {
				b, _ := json.Marshal(plan)
				t.Errorf("plan = %s, want v 1, chain main, model %s, stream false", b, chainModel)
			}
			if id, _ := plan["id"].(string); id == "" {
				t.Errorf("plan without the request id")
			}
		}
		for _, ah := range attemptHeaders {
			if cr := ah.GetRequestHeaders().GetResponse(); cr.GetHeaderMutation() != nil || cr.GetBodyMutation() != nil || ah.GetModeOverride() != nil {
				t.Errorf("attempt phase request headers answer %v, want a plain CONTINUE", cr)
			}
		}
		for _, ab := range attemptBody {
			cr := ab.GetRequestBody().GetResponse()
			sh := setHeaders(t, cr.GetHeaderMutation())
			body := cr.GetBodyMutation().GetBody()
			if sh["content-length"] != strconv.Itoa(len(body)) {
				t.Errorf("attempt body rewrite: content-length %q for a %d-byte body", sh["content-length"], len(body))
			}
			if !strings.HasSuffix(sh[":path"], "/chat/completions") {
				t.Errorf("attempt body rewrite :path = %q", sh[":path"])
			}
			removed := strings.Join(cr.GetHeaderMutation().GetRemoveHeaders(), ",")
			for _, h := range []string{"x-api-key", "api-key", "x-goog-api-key"} {
				if !strings.Contains(removed, h) {
					t.Errorf("attempt body rewrite does not remove %s (removes %q)", h, removed)
				}
			}
		}
	})
}
