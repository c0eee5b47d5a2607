package envoymodel

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestPriorityGroup_SelectCluster verifies the v1.40.0 proto semantics:
// group per attempt, last group repeating, overrides, invalid overrides
// falling back to the configured groups, name-only overrides.
func TestPriorityGroup_SelectCluster(t *testing.T) {
	spec := &priorityGroupSpec{pb: &pgv3.PriorityGroupClusterSpecifier{
		OverrideMetadataNamespace: "ns",
		PriorityGroups: []*pgv3.PriorityGroup{
			{Name: "one", Clusters: []*pgv3.ClusterWeight{{ClusterName: "c1", Weight: wrapperspb.UInt32(1)}}},
			{Name: "two", Clusters: []*pgv3.ClusterWeight{{ClusterName: "c2", Weight: wrapperspb.UInt32(1)}}},
		},
	}}
	mk := func(v map[string]any) func(string) *structValue {
		s, err := structpb.NewStruct(v)
		if err != nil {
			t.Fatal(err)
		}
		return func(ns string) *structValue {
			if ns == "ns" {
				return s
			}
			return nil
		}
	}
	none := func(string) *structValue { return nil }
	ov := mk(overrideMD("ns", "o1", "o2").GetFields()["ns"].GetStructValue().AsMap())
	cases := []struct {
		name    string
		md      func(string) *structValue
		attempt int
		want    string
	}{
		{"configured attempt 1", none, 1, "c1"},
		{"configured attempt 2", none, 2, "c2"},
		{"configured past the end repeats the last", none, 5, "c2"},
		{"override attempt 1", ov, 1, "o1"},
		{"override past the end repeats the last", ov, 4, "o2"},
		{"unknown field: not a PriorityGroupsOverride", mk(map[string]any{"priority_groups": []any{map[string]any{"name": "x", "clusters": []any{map[string]any{"cluster_name": "o1", "weight": 1}}}}, "extra": 1}), 1, "c1"},
		{"empty override list", mk(map[string]any{"priority_groups": []any{}}), 2, "c2"},
		{"zero weight invalidates the group", mk(map[string]any{"priority_groups": []any{map[string]any{"name": "x", "clusters": []any{map[string]any{"cluster_name": "o1", "weight": 0}}}}}), 1, "c1"},
		{"name-only override reuses the configured group", mk(map[string]any{"priority_groups": []any{map[string]any{"name": "two"}}}), 1, "c2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := spec.selectCluster(tc.attempt, tc.md, 7); got != tc.want {
				t.Errorf("attempt %d: got %q, want %q", tc.attempt, got, tc.want)
			}
		})
	}
}

// TestShortDebugString verifies the one-line text format of endpoint metadata.
func TestShortDebugString(t *testing.T) {
	s, _ := structpb.NewStruct(map[string]any{"provider": "openai", "w": 1.5, "ok": true, "l": []any{"a", 2}, "q": `a"b`})
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"z": {}, "llm_failover": s}}
	got := shortDebugString(md)
	want := `filter_metadata { key: "llm_failover" value { fields { key: "l" value { list_value { values { string_value: "a" } values { number_value: 2 } } } } fields { key: "ok" value { bool_value: true } } fields { key: "provider" value { string_value: "openai" } } fields { key: "q" value { string_value: "a\"b" } } fields { key: "w" value { number_value: 1.5 } } } } filter_metadata { key: "z" value { } }`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := shortDebugString(nil); got != "" {
		t.Errorf("nil metadata: got %q, want empty", got)
	}
}

// TestBackoff verifies the fully jittered exponential backoff bounds of
// Envoy's JitteredExponentialBackOffStrategy: the interval doubles from
// base while below max/2, then is max; draws are whole milliseconds.
func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		base, max time.Duration
		ceils     []time.Duration // the interval of retry 1, 2, ...
	}{
		{10 * ms, 100 * ms, []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms}},
		{30 * ms, 100 * ms, []time.Duration{30 * ms, 60 * ms, 100 * ms, 100 * ms}},
		{10 * ms, 15 * ms, []time.Duration{10 * ms, 15 * ms, 15 * ms}},
		{25 * ms, 250 * ms, []time.Duration{25 * ms, 50 * ms, 100 * ms, 200 * ms, 250 * ms}},
	}
	for _, tt := range tests {
		p := &retryPolicy{base: tt.base, max: tt.max}
		for i, ceil := range tt.ceils {
			n := i + 1
			// The largest draw below the interval, and the interval itself (wraps to 0).
			if got := p.backoff(n, func() uint64 { return uint64(ceil/ms - 1) }); got != ceil-ms {
				t.Errorf("base %v max %v retry %d: backoff %v, want %v", tt.base, tt.max, n, got, ceil-ms)
			}
			if got := p.backoff(n, func() uint64 { return uint64(ceil / ms) }); got != 0 {
				t.Errorf("base %v max %v retry %d: backoff %v for a draw of the interval %v, want 0", tt.base, tt.max, n, got, ceil)
			}
		}
	}
}

// TestModel_PerTryTimeoutDuringHold verifies that per_try_timeout keeps
// running while the attempt phase holds the response headers, and that
// its expiry is retried on the next cluster.
func TestModel_PerTryTimeoutDuringHold(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	b := startUpstream(t, okJSON(`"b"`))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" {
			return routeOverride("a", "b")(phase, req)
		}
		if req.GetResponseHeaders() != nil || req.GetResponseBody() != nil {
			for _, h := range req.GetResponseHeaders().GetHeaders().GetHeaders() {
				if h.GetKey() == "x-never" {
					return nil
				}
			}
		}
		return continueAll(phase, req)
	})
	// Upstream a marks its response so the attempt phase never answers it.
	a.fn = func(w http.ResponseWriter, r *http.Request) { w.Header().Set("x-never", "1"); okJSON(`"a"`)(w, r) }
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1, PerTry: "0.2s", MessageTimeout: "5s"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.body != `"b"` || got.took > 2*time.Second {
		t.Fatalf("got %d %q after %v, want b within the per-try timeout", got.status, got.body, got.took)
	}
	if !strings.Contains(got.header.Get("server"), "envoy") {
		t.Errorf("server header %q, want envoy", got.header.Get("server"))
	}
}

// TestModel_FailureModeAllow verifies that with failure_mode_allow an
// unreachable ext_proc server is skipped (ext_proc.cc onGrpcError) and the
// request reaches the configured cluster unchanged.
func TestModel_FailureModeAllow(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	a := startUpstream(t, okJSON(`"a"`))
	m := startModel(t, params{ExtProc: dead, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		RouteExtra:   "\n              failure_mode_allow: true",
		AttemptExtra: "\n            failure_mode_allow: true"})
	if got := post(t, m, "/v1/x", `{"k":1}`); got.status != 200 || got.body != `"a"` {
		t.Fatalf("got %d %q, want 200 from a", got.status, got.body)
	}
	if b := a.requests()[0].body; b != `{"k":1}` {
		t.Errorf("upstream body %q, want the original", b)
	}
}

// TestModel_ModeOverrideIgnoredWithoutWaiting verifies that mode_override
// is honoured with allow_mode_override, and ignored when
// send_body_without_waiting_for_header_response is set (ext_proc.proto).
func TestModel_ModeOverrideIgnoredWithoutWaiting(t *testing.T) {
	const streamed = "{request_header_mode: SEND, request_body_mode: BUFFERED, response_header_mode: SEND, response_body_mode: STREAMED, request_trailer_mode: SKIP, response_trailer_mode: SKIP}"
	for _, tc := range []struct {
		name        string
		extra       string
		wantBodies  bool
		holdHeaders bool
	}{
		{name: "honoured", extra: "\n            allow_mode_override: true", wantBodies: false},
		{name: "ignored without waiting", extra: "\n            allow_mode_override: true\n            send_body_without_waiting_for_header_response: true", wantBodies: true, holdHeaders: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, okJSON(`"a"`))
			var held *extprocsvc.ProcessingRequest
			srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				answer := func(hr *extprocsvc.ProcessingRequest) *extprocsvc.ProcessingResponse {
					r := continueFor(hr, nil)
					r.ModeOverride = &extprocv3ProcessingMode{ResponseBodyMode: noneMode}
					return r
				}
				if phase == "attempt" && req.GetResponseHeaders() != nil {
					if tc.holdHeaders {
						held = req
						return nil
					}
					return []*extprocsvc.ProcessingResponse{answer(req)}
				}
				if phase == "attempt" && req.GetResponseBody() != nil && held != nil {
					h := held
					held = nil
					return []*extprocsvc.ProcessingResponse{answer(h), continueFor(req, nil)}
				}
				return continueAll(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, AttemptMode: streamed, AttemptExtra: tc.extra})
			if got := post(t, m, "/v1/x", `{}`); got.status != 200 || got.body != `"a"` {
				t.Fatalf("got %d %q", got.status, got.body)
			}
			bodies := 0
			for _, r := range srv.requests("attempt") {
				if r.GetResponseBody() != nil {
					bodies++
				}
			}
			if (bodies > 0) != tc.wantBodies {
				t.Errorf("server got %d response body messages, want some: %v", bodies, tc.wantBodies)
			}
		})
	}
}
