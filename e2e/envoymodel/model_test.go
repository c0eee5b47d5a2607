package envoymodel

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// routeOverride answers the route phase: body reply with a header mutation,
// clear_route_cache and the priority group override for clusters.
func routeOverride(clusters ...string) script {
	return func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			r := continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-chain", "c"), ClearRouteCache: true})
			r.DynamicMetadata = overrideMD("ns", clusters...)
			return []*extprocsvc.ProcessingResponse{r}
		}
		return continueAll(phase, req)
	}
}

// TestModel_OverrideFailsOverPerAttempt verifies that the route phase's
// override picks attempt 1's cluster and that a retriable status moves to
// the next group's cluster (refresh_cluster_on_retry).
func TestModel_OverrideFailsOverPerAttempt(t *testing.T) {
	a := startUpstream(t, respondStatus(503))
	b := startUpstream(t, okJSON(`{"ok":"b"}`))
	c := startUpstream(t, okJSON(`{"ok":"c"}`))
	_, ep, _ := startExtProc(t, routeOverride("a", "b"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr, "c": c.addr}, Groups: []string{"c"}, NumRetries: 2})
	got := post(t, m, "/v1/chat", `{}`)
	if got.status != 200 || got.body != `{"ok":"b"}` {
		t.Fatalf("got %d %q, want 200 from b", got.status, got.body)
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("a got %d requests, want 1", n)
	}
	if n := len(c.requests()); n != 0 {
		t.Errorf("configured group c got %d requests, want 0", n)
	}
	if v := b.requests()[0].header.Get("x-envoy-attempt-count"); v != "2" {
		t.Errorf("x-envoy-attempt-count on b = %q, want 2", v)
	}
	if h := b.requests()[0].host; h != "b.example.com" {
		t.Errorf("auto_host_rewrite: host = %q, want b.example.com", h)
	}
}

// TestModel_ClearRouteCacheNeedsHeaderMutation verifies that clear_route_cache
// without a header mutation is ignored: attempt 1 keeps the configured group.
func TestModel_ClearRouteCacheNeedsHeaderMutation(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	c := startUpstream(t, okJSON(`"c"`))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			r := continueFor(req, &extprocsvc.CommonResponse{ClearRouteCache: true})
			r.DynamicMetadata = overrideMD("ns", "a")
			return []*extprocsvc.ProcessingResponse{r}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "c": c.addr}, Groups: []string{"c"}, NumRetries: 1})
	if got := post(t, m, "/v1/x", `{}`); got.body != `"c"` {
		t.Fatalf("got %q, want the configured cluster c", got.body)
	}
}

// TestModel_MetadataOnlyInReceivingNamespaces verifies that dynamic metadata
// outside receiving_namespaces is dropped and only forwarding_namespaces reach
// the attempt phase.
func TestModel_MetadataOnlyInReceivingNamespaces(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	c := startUpstream(t, okJSON(`"c"`))
	srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			r := continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-a", "1"), ClearRouteCache: true})
			md := overrideMD("other", "a")
			md.Fields["ns.plan"] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"v": structpb.NewNumberValue(1)}})
			md.Fields["ns"] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewStringValue("y")}})
			r.DynamicMetadata = md
			return []*extprocsvc.ProcessingResponse{r}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "c": c.addr}, Groups: []string{"c"}, NumRetries: 1})
	if got := post(t, m, "/v1/x", `{}`); got.body != `"c"` {
		t.Fatalf("got %q, want c (override in a non-receiving namespace must be dropped)", got.body)
	}
	reqs := srv.requests("attempt")
	if len(reqs) == 0 {
		t.Fatal("attempt phase saw nothing")
	}
	fm := reqs[0].GetMetadataContext().GetFilterMetadata()
	if fm["ns.plan"].GetFields()["v"].GetNumberValue() != 1 {
		t.Errorf("forwarded ns.plan = %v, want v=1", fm["ns.plan"])
	}
	if _, ok := fm["ns"]; ok {
		t.Errorf("namespace ns forwarded, but it is not in forwarding_namespaces")
	}
}

// TestModel_AttributeReadsDynamicMetadata verifies a request attribute
// metadata.filter_metadata['ns']['key'] reads what the route phase wrote:
// a string as itself, a number printed, a struct as "map value", a missing
// key or namespace left out, and only on the attempt's first message; the
// other messages carry an empty metadata_context when nothing is forwarded,
// and only the first carries protocol_config.
func TestModel_AttributeReadsDynamicMetadata(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			r := continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-a", "1"), ClearRouteCache: true})
			md := overrideMD("ns", "a")
			md.Fields["ns.plan"] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
				"p": structpb.NewStringValue("AbC-_9"), "n": structpb.NewNumberValue(1.5),
				"s": structpb.NewStructValue(&structpb.Struct{}),
			}})
			r.DynamicMetadata = md
			return []*extprocsvc.ProcessingResponse{r}
		}
		return continueAll(phase, req)
	})
	attr := func(ns, key string) string { return "metadata.filter_metadata['" + ns + "']['" + key + "']" }
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		AttemptForward: "[]",
		AttemptAttrs: `["` + attr("ns.plan", "p") + `", "` + attr("ns.plan", "n") + `", "` + attr("ns.plan", "s") + `", "` +
			attr("ns.plan", "missing") + `", "` + attr("nope", "p") + `"]`})
	if got := post(t, m, "/v1/x", `{}`); got.body != `"a"` {
		t.Fatalf("got %q, want a", got.body)
	}
	reqs := srv.requests("attempt")
	if len(reqs) < 2 {
		t.Fatalf("attempt phase saw %d messages, want at least 2", len(reqs))
	}
	got := reqs[0].GetAttributes()["envoy.filters.http.ext_proc"].GetFields()
	want := map[string]string{attr("ns.plan", "p"): "AbC-_9", attr("ns.plan", "n"): "1.5", attr("ns.plan", "s"): "map value"}
	if len(got) != len(want) {
		t.Errorf("attributes: got %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k].GetStringValue() != v {
			t.Errorf("attribute %s: got %v, want %q", k, got[k], v)
		}
	}
	for i, r := range reqs {
		if i > 0 && r.GetAttributes() != nil {
			t.Errorf("message %d: got attributes %v, want them on the first message only", i, r.GetAttributes())
		}
		if r.GetMetadataContext() == nil || len(r.GetMetadataContext().GetFilterMetadata()) != 0 {
			t.Errorf("message %d: metadata_context %v, want set and empty", i, r.GetMetadataContext())
		}
		if pc := r.GetProtocolConfig(); (i == 0) != (pc != nil) || i == 0 && pc.GetRequestBodyMode() != extprocv3.ProcessingMode_BUFFERED {
			t.Errorf("message %d: protocol_config %v, want the body modes on the first message only", i, pc)
		}
	}
}

// TestModel_MutationRules verifies the default rules: host, :authority,
// :method, :scheme and x-envoy-* refused silently, :path and others applied,
// only raw_value read, removals of credentials applied.
func TestModel_MutationRules(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "attempt" && req.GetRequestBody() != nil {
			mut := setHeaders(":path", "/p/rewritten", "host", "evil", ":authority", "evil", ":method", "PUT", "x-envoy-foo", "1", "x-custom", "v")
			mut.SetHeaders = append(mut.SetHeaders, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-value-only", Value: "ignored"}})
			mut.RemoveHeaders = []string{"authorization"}
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: mut})}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
	got := post(t, m, "/v1/x", `{}`, "authorization", "Bearer client")
	if got.status != 200 {
		t.Fatalf("status %d %q", got.status, got.body)
	}
	r := a.requests()[0]
	if r.path != "/p/rewritten" {
		t.Errorf("path = %q, want /p/rewritten", r.path)
	}
	if r.host != "a.example.com" {
		t.Errorf("host = %q, want a.example.com (host mutation refused)", r.host)
	}
	if r.header.Get("x-envoy-foo") != "" || r.header.Get("x-custom") != "v" {
		t.Errorf("x-envoy-foo=%q x-custom=%q, want refused and v", r.header.Get("x-envoy-foo"), r.header.Get("x-custom"))
	}
	if v, ok := r.header["X-Value-Only"]; !ok || v[0] != "" {
		t.Errorf("x-value-only = %v, want present and empty (value ignored, raw_value read)", v)
	}
	if r.header.Get("authorization") != "" {
		t.Errorf("authorization reached the upstream")
	}
}

// TestModel_SharedHeaderMapFreshBody verifies that a header set by attempt
// 1's upstream filter is still there on attempt 2 and that each attempt's
// filter sees the original body.
func TestModel_SharedHeaderMapFreshBody(t *testing.T) {
	a := startUpstream(t, respondStatus(500))
	b := startUpstream(t, okJSON(`"b"`))
	srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" {
			return routeOverride("a", "b")(phase, req)
		}
		if req.GetRequestBody() != nil {
			body := []byte(`{"rewritten":true}`)
			cr := &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: body}}, HeaderMutation: setHeaders("content-length", itoa(int64(len(body))))}
			if len(req.GetRequestBody().GetBody()) > 0 && strings.Contains(string(req.GetRequestBody().GetBody()), "orig") && len(cr.HeaderMutation.SetHeaders) > 0 {
				// Only on the first attempt: mark the shared map.
				if !seenMark {
					seenMark = true
					cr.HeaderMutation.SetHeaders = append(cr.HeaderMutation.SetHeaders, setHeaders("x-attempt-one", "1").SetHeaders...)
				}
			}
			return []*extprocsvc.ProcessingResponse{continueFor(req, cr)}
		}
		return continueAll(phase, req)
	})
	seenMark = false
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1})
	if got := post(t, m, "/v1/x", `{"orig":1}`); got.status != 200 {
		t.Fatalf("status %d %q", got.status, got.body)
	}
	if v := b.requests()[0].header.Get("x-attempt-one"); v != "1" {
		t.Errorf("attempt 2 header x-attempt-one = %q, want 1 (shared header map)", v)
	}
	var bodies []string
	for _, r := range srv.requests("attempt") {
		if rb := r.GetRequestBody(); rb != nil {
			bodies = append(bodies, string(rb.GetBody()))
		}
	}
	if len(bodies) != 2 || bodies[0] != `{"orig":1}` || bodies[1] != `{"orig":1}` {
		t.Errorf("attempt bodies = %q, want the original body twice", bodies)
	}
	if b.requests()[0].body != `{"rewritten":true}` {
		t.Errorf("upstream body = %q", b.requests()[0].body)
	}
}

var seenMark bool

// TestModel_ContentLengthMismatchIs500 verifies processor_state.cc
// validateContentLength: a replaced body with a stale content-length fails.
func TestModel_ContentLengthMismatchIs500(t *testing.T) {
	// In the route phase (an HCM filter) the mismatch is a 500 local reply.
	a := startUpstream(t, okJSON(`"a"`))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{
				HeaderMutation: setHeaders("content-length", "2"),
				BodyMutation:   &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte("longer body")}}})}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, NumRetries: 1})
	if got := post(t, m, "/v1/x", `{}`); got.status != 500 {
		t.Fatalf("status %d, want 500", got.status)
	}
	if n := len(a.requests()); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
}

// TestModel_FailClosed verifies message_timeout (504), an unreachable server
// (500, quickly) and a body reply before the headers reply (500) in the
// route phase.
func TestModel_FailClosed(t *testing.T) {
	t.Run("message timeout", func(t *testing.T) {
		a := startUpstream(t, okJSON(`"a"`))
		_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			if phase == "route" && req.GetRequestBody() != nil {
				return nil
			}
			return continueAll(phase, req)
		})
		m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, MessageTimeout: "0.1s"})
		got := post(t, m, "/v1/x", `{}`)
		if got.status != 504 || got.took > 2*time.Second {
			t.Fatalf("got %d after %v, want 504 soon", got.status, got.took)
		}
	})
	t.Run("server unreachable", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		dead := ln.Addr().String()
		ln.Close()
		a := startUpstream(t, okJSON(`"a"`))
		m := startModel(t, params{ExtProc: dead, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
		got := post(t, m, "/v1/x", `{}`)
		if got.status != 500 || got.took > 2*time.Second {
			t.Fatalf("got %d after %v, want 500 quickly", got.status, got.took)
		}
	})
	t.Run("body reply before headers reply", func(t *testing.T) {
		a := startUpstream(t, okJSON(`"a"`))
		_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			if phase == "route" && req.GetRequestHeaders() != nil {
				return []*extprocsvc.ProcessingResponse{continueFor(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{}}, nil)}
			}
			if phase == "route" && req.GetRequestBody() != nil {
				return nil
			}
			return continueAll(phase, req)
		})
		m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
		if got := post(t, m, "/v1/x", `{}`); got.status != 500 {
			t.Fatalf("got %d, want 500", got.status)
		}
	})
}

// TestModel_RetryTriggers verifies reset, connect failure, per-try timeout,
// retriable status code and retriable header (set by the attempt phase)
// each move to the next cluster.
func TestModel_RetryTriggers(t *testing.T) {
	reset := func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close()
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	cases := []struct {
		name   string
		first  http.HandlerFunc
		addr   string
		marker bool
	}{
		{name: "reset", first: reset},
		{name: "connect failure", addr: dead},
		{name: "per-try timeout", first: slow},
		{name: "429", first: respondStatus(429)},
		{name: "retriable header from attempt phase", first: respondStatus(401), marker: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			if tc.first != nil {
				addr = startUpstream(t, tc.first).addr
			}
			b := startUpstream(t, okJSON(`"b"`))
			_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "route" {
					return routeOverride("a", "b")(phase, req)
				}
				if tc.marker && req.GetResponseHeaders() != nil {
					for _, h := range req.GetResponseHeaders().GetHeaders().GetHeaders() {
						if h.GetKey() == ":status" && string(h.GetRawValue()) == "401" {
							return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-retry", "1")})}
						}
					}
				}
				return continueAll(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1, PerTry: "0.3s"})
			got := post(t, m, "/v1/x", `{}`)
			if got.status != 200 || got.body != `"b"` {
				t.Fatalf("got %d %q, want 200 from b", got.status, got.body)
			}
		})
	}
}

// TestModel_RetriesExhausted verifies that the last retriable response goes
// to the client and that resets exhaust into a 503 local reply.
func TestModel_RetriesExhausted(t *testing.T) {
	a := startUpstream(t, respondStatus(502))
	_, ep, _ := startExtProc(t, routeOverride("a", "a"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, NumRetries: 2})
	if got := post(t, m, "/v1/x", `{}`); got.status != 502 {
		t.Fatalf("got %d, want the last upstream status 502", got.status)
	}
	if n := len(a.requests()); n != 3 {
		t.Errorf("a got %d requests, want 3 (1 + num_retries; past the end the last group repeats)", n)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	m2 := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": dead}, Groups: []string{"a"}, NumRetries: 1})
	if got := post(t, m2, "/v1/x", `{}`); got.status != 503 || !strings.Contains(got.body, "connection failure") {
		t.Fatalf("got %d %q, want 503 connection failure", got.status, got.body)
	}
}

// TestModel_Attributes verifies xds.upstream_host_metadata as the one-line
// text format string and upstream.request_attempt_count as a number.
func TestModel_Attributes(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	srv, ep, _ := startExtProc(t, continueAll)
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
	post(t, m, "/v1/x", `{}`)
	reqs := srv.requests("attempt")
	attrs := reqs[0].GetAttributes()[attributesKey].GetFields()
	want := `filter_metadata { key: "llm_failover" value { fields { key: "provider" value { string_value: "a" } } } }`
	if got := attrs["xds.upstream_host_metadata"].GetStringValue(); got != want {
		t.Errorf("upstream_host_metadata =\n%q\nwant\n%q", got, want)
	}
	if got := attrs["upstream.request_attempt_count"]; got.GetNumberValue() != 1 {
		t.Errorf("request_attempt_count = %v, want number 1", got)
	}
	if reqs[1].GetAttributes() != nil {
		t.Errorf("attributes sent again on the body message")
	}
}

// TestModel_BodyLimit verifies the request buffer limit of a BUFFERED
// filter: the listener's per_connection_buffer_limit_bytes (default 1 MiB),
// raised but never lowered by the route's request_body_buffer_limit
// (conn_manager_impl.cc refreshBufferLimit); a body exactly at the limit
// passes, one byte more is a 413 with nothing sent upstream.
func TestModel_BodyLimit(t *testing.T) {
	cases := []struct {
		name             string
		route, conn      int
		body, wantStatus int
	}{
		{"route limit below the default connection limit does not lower it", 100, 0, 101, 200},
		{"over the default 1 MiB connection limit", 100, 0, 1<<20 + 1, 413},
		{"at the connection limit", 100, 200, 200, 200},
		{"over the connection limit", 100, 200, 201, 413},
		{"route limit raises the connection limit", 300, 200, 300, 200},
		{"over the raised limit", 300, 200, 301, 413},
		{"no route limit", 0, 200, 201, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, okJSON(`"a"`))
			_, ep, _ := startExtProc(t, continueAll)
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, BodyLimit: tc.route, ConnLimit: tc.conn})
			got := post(t, m, "/v1/x", strings.Repeat("x", tc.body))
			if got.status != tc.wantStatus {
				t.Fatalf("%d-byte body: got %d, want %d", tc.body, got.status, tc.wantStatus)
			}
			if n, want := len(a.requests()), map[bool]int{true: 1, false: 0}[tc.wantStatus == 200]; n != want {
				t.Errorf("upstream got %d requests, want %d", n, want)
			}
		})
	}
}

// TestModel_HeldHeadersStreamed verifies send_body_without_waiting_for_header_response:
// the server sees a body chunk before it answers the headers; answering
// :status 503 retries; answering unchanged streams the chunks in order.
func TestModel_HeldHeadersStreamed(t *testing.T) {
	sse := func(first string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("content-type", "text/event-stream")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, first)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
			_, _ = io.WriteString(w, "data: [DONE]\n\n")
		}
	}
	a := startUpstream(t, sse("event: error\ndata: {}\n\n"))
	b := startUpstream(t, sse("data: {\"x\":1}\n\n"))
	var held []*extprocsvc.ProcessingRequest
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" {
			return routeOverride("a", "b")(phase, req)
		}
		switch {
		case req.GetResponseHeaders() != nil:
			held = []*extprocsvc.ProcessingRequest{req}
			return nil
		case req.GetResponseBody() != nil && len(held) > 0:
			hdrReq := held[0]
			held = nil
			if strings.Contains(string(req.GetResponseBody().GetBody()), "error") {
				return []*extprocsvc.ProcessingResponse{continueFor(hdrReq, &extprocsvc.CommonResponse{HeaderMutation: setHeaders(":status", "503", "x-retry", "1")})}
			}
			return []*extprocsvc.ProcessingResponse{continueFor(hdrReq, nil), continueFor(req, &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte("data: translated\n\n")}}})}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1,
		AttemptMode:  "{request_header_mode: SEND, request_body_mode: BUFFERED, response_header_mode: SEND, response_body_mode: STREAMED, request_trailer_mode: SKIP, response_trailer_mode: SKIP}",
		AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || !strings.HasPrefix(got.body, "data: translated\n\n") || !strings.Contains(got.body, "[DONE]") {
		t.Fatalf("got %d %q, want b's stream with its first chunk translated", got.status, got.body)
	}
}

// TestModel_ModeOverrideBuffersResponse verifies mode_override on the route
// phase's response headers: the body is then buffered and replaceable.
func TestModel_ModeOverrideBuffersResponse(t *testing.T) {
	a := startUpstream(t, respondStatus(503))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetResponseHeaders() != nil {
			r := continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: &extprocsvc.HeaderMutation{RemoveHeaders: []string{"content-length"}}})
			r.ModeOverride = &extprocv3ProcessingMode{ResponseBodyMode: bufferedMode}
			return []*extprocsvc.ProcessingResponse{r}
		}
		if phase == "route" && req.GetResponseBody() != nil {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte(`{"error":"listed"}`)}}})}
		}
		return continueAll(phase, req)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_ = a
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": dead}, Groups: []string{"a"}, NumRetries: 1})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 503 || got.body != `{"error":"listed"}` {
		t.Fatalf("got %d %q, want 503 with the replaced body", got.status, got.body)
	}
}

// TestModel_DirectResponseAndNoRoute verifies direct_response, the per-route
// ExtProcPerRoute disabled, and the 404 for an unmatched path.
func TestModel_DirectResponseAndNoRoute(t *testing.T) {
	srv, ep, _ := startExtProc(t, continueAll)
	a := startUpstream(t, okJSON(`"a"`))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
	if got := post(t, m, "/direct", `{}`); got.status != 418 || got.body != "teapot" {
		t.Errorf("direct: got %d %q", got.status, got.body)
	}
	if n := len(srv.requests("route")); n != 0 {
		t.Errorf("ext_proc saw %d messages on a route where ExtProcPerRoute disables it, want 0", n)
	}
	if got := post(t, m, "/nope", `{}`); got.status != 404 {
		t.Errorf("no route: got %d, want 404", got.status)
	}
}

// TestModel_InitialMetadataAndRequestID verifies the grpc initial metadata
// and x-request-id generation.
func TestModel_InitialMetadataAndRequestID(t *testing.T) {
	srv, ep, _ := startExtProc(t, continueAll)
	a := startUpstream(t, okJSON(`"a"`))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
	post(t, m, "/v1/x", `{}`)
	if len(srv.md) < 2 || srv.md[0].Get("x-phase")[0] != "route" || srv.md[1].Get("x-phase")[0] != "attempt" {
		t.Errorf("initial metadata = %v", srv.md)
	}
	if id := a.requests()[0].header.Get("x-request-id"); len(id) != 36 {
		t.Errorf("x-request-id = %q, want a generated UUID", id)
	}
}

// TestModel_GivenListenerSocket verifies Options.Listeners: a socket bound
// by the caller serves that listener, and one on another port than the
// listener's is refused with a warning, the listener not served.
func TestModel_GivenListenerSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	_, ep, _ := startExtProc(t, continueAll)
	startModel(t, params{ExtProc: ep, Groups: []string{"a"}, UnavailablePort: port, Listeners: map[string]net.Listener{"unavailable": ln}})
	resp, err := http.Get("http://" + ln.Addr().String() + "/x")
	if err != nil {
		t.Fatalf("GET on the given socket: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("status %d, want the unavailable listener's 503", resp.StatusCode)
	}

	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m2 := startModel(t, params{ExtProc: ep, Groups: []string{"a"}, UnavailablePort: port, Listeners: map[string]net.Listener{"unavailable": other}})
	if !strings.Contains(strings.Join(m2.Warnings, "\n"), "is not on its port") {
		t.Errorf("warnings %q, want the port mismatch", m2.Warnings)
	}
}
