package envoymodel

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// TestVersion_RefusesWhatTheVersionLacks verifies that a config setting a
// field or typed_config type the played version lacks is refused with its
// path, even a field written at its default value, and that 1.40 takes the
// same config.
func TestVersion_RefusesWhatTheVersionLacks(t *testing.T) {
	pg := renderYAML(t, params{ExtProc: "127.0.0.1:1", Clusters: map[string]string{"a": "127.0.0.1:2"}, Groups: []string{"a"}})
	refreshFalse := strings.Replace(string(renderYAML(t, params{ExtProc: "127.0.0.1:1", Clusters: map[string]string{"a": "127.0.0.1:2"}, Cluster: "a", NoRefresh: true})),
		"retry_back_off:", "refresh_cluster_on_retry: false\n                    retry_back_off:", 1)
	for _, tc := range []struct {
		name, version string
		yaml          []byte
		want          []string // substrings of the error; none: accepted
	}{
		{"priority_group on 1.39", Version139, pg, []string{"PriorityGroupClusterSpecifier does not exist in Envoy 1.39"}},
		{"priority_group and refresh on 1.38", Version138, pg, []string{
			"routes[1].route.retry_policy.refresh_cluster_on_retry: field refresh_cluster_on_retry does not exist in Envoy 1.38",
			"routes[1].route.inline_cluster_specifier_plugin.extension.typed_config: type envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier does not exist in Envoy 1.38"}},
		{"refresh_cluster_on_retry: false on 1.38", Version138, []byte(refreshFalse), []string{"field refresh_cluster_on_retry does not exist in Envoy 1.38"}},
		{"refresh_cluster_on_retry: false on 1.39", Version139, []byte(refreshFalse), nil},
		{"priority_group on 1.40", Version140, pg, nil},
		{"priority_group by default", "", pg, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.yaml, Options{Version: tc.version})
			if err == nil {
				_ = m.Close()
			}
			if len(tc.want) == 0 && err != nil {
				t.Fatalf("New: %v, want the config accepted", err)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("New: %v\nwant an error containing %q", err, w)
				}
			}
		})
	}
}

// TestVersion_UnknownVersionRefused verifies that a version the model does
// not play is an error naming the supported ones.
func TestVersion_UnknownVersionRefused(t *testing.T) {
	_, err := New(renderYAML(t, params{ExtProc: "127.0.0.1:1", Groups: []string{"a"}}), Options{Version: "1.37"})
	if !errors.Is(err, errUnknownVersion) || !strings.Contains(err.Error(), "1.38, 1.39, 1.40") {
		t.Errorf("New: %v, want errUnknownVersion listing 1.38, 1.39, 1.40", err)
	}
}

// TestVersion_HeldHeadersPerVersion verifies #45355 per version: on
// v1.38.0 a STREAMED headers-only answer continues the held response
// headers at once, so per_try_timeout no longer applies and the client gets
// the answer; on 1.39, and on 1.38 with the backport, the headers stay held
// and the attempt is cut by per_try_timeout (504, no retry left).
func TestVersion_HeldHeadersPerVersion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  string
		backport bool
		code     int
	}{
		{"1.38.0 releases", Version138, false, 200},
		{"1.38 with the backport holds", Version138, true, 504},
		{"1.39 holds", Version139, false, 504},
		{"1.40 holds", Version140, false, 504},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, sseAfter(time.Second, "data: 1\n\n"))
			_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "attempt" && req.GetResponseHeaders() != nil {
					return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-decided", "1")})}
				}
				return continueAll(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Cluster: "a", NoRefresh: true, NumRetries: 0,
				PerTry: "0.3s", Version: tc.version, Backport45355: tc.backport, AttemptMode: streamedAttemptMode,
				AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
			got := post(t, m, "/v1/x", `{}`)
			if got.status != tc.code {
				t.Fatalf("got %d %q, want %d", got.status, got.body, tc.code)
			}
			if tc.code == 200 && (got.header.Get("x-decided") != "1" || got.body != "data: 1\n\n") {
				t.Errorf("got %v %q, want x-decided and the chunk", got.header, got.body)
			}
		})
	}
}

// FuzzCheckVersionFields verifies that the version check never panics on
// any JSON document, for every version.
func FuzzCheckVersionFields(f *testing.F) {
	f.Add([]byte(`{"static_resources":{"clusters":[{"name":"a"}]}}`))
	f.Add([]byte(`{"static_resources":{"listeners":[{"filter_chains":[{"filters":[{"typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager","route_config":{"virtual_hosts":[{"routes":[{"route":{"retry_policy":{"refresh_cluster_on_retry":false}}}]}]}}}]}]}]}}`))
	f.Add([]byte(`{"@type":1,"static_resources":[]}`))
	f.Add([]byte(`[1,2,{"a":null}]`))
	md := (&bootstrapv3.Bootstrap{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, v := range Versions {
			_ = checkVersionFields(v, md, doc)
		}
	})
}

// TestVersion_ConnectFailureReply verifies the local reply for a refused
// connection: the details name the transport failure reason on every
// version, and the body does only on 1.38 (#44746 hides it from 1.39 on).
func TestVersion_ConnectFailureReply(t *testing.T) {
	const reason = "delayed connect error: Connection refused"
	for _, tc := range []struct {
		version    string
		bodyReason bool
	}{
		{Version138, true},
		{Version139, false},
		{Version140, false},
	} {
		t.Run(tc.version, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dead := ln.Addr().String()
			ln.Close()
			_, ep, _ := startExtProc(t, continueAll)
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": dead}, Cluster: "a", NoRefresh: true,
				NumRetries: 0, Version: tc.version, LocalReplyJSON: true})
			got := post(t, m, "/v1/x", `{}`)
			var lr localReplyJSON
			if err := json.Unmarshal([]byte(got.body), &lr); err != nil {
				t.Fatalf("body %q: %v", got.body, err)
			}
			if want := "upstream_reset_before_response_started{connection_failure|" + strings.ReplaceAll(reason, " ", "_") + "}"; lr.Code != 503 || lr.Details != want {
				t.Errorf("got %d %q, want 503 %q", lr.Code, lr.Details, want)
			}
			if has := strings.Contains(lr.Body, ", transport failure reason: "+reason); has != tc.bodyReason {
				t.Errorf("body %q: transport failure reason shown %v, want %v", lr.Body, has, tc.bodyReason)
			}
		})
	}
}

// TestVersion_HeaderMatcherMultipleValues verifies HeaderMatcher on a header
// sent twice: 1.38 matches the values joined with ",", 1.39 on each value
// (#44819); and the missing-header rules shared by both.
func TestVersion_HeaderMatcherMultipleValues(t *testing.T) {
	exact := func(v string, invert, treatMissing bool) *routev3.HeaderMatcher {
		return &routev3.HeaderMatcher{Name: "x-retry", InvertMatch: invert, TreatMissingHeaderAsEmpty: treatMissing,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}}}
	}
	present := &routev3.HeaderMatcher{Name: "x-retry", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}
	notPresent := &routev3.HeaderMatcher{Name: "x-retry", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}
	two := &headerMap{}
	two.add("x-retry", "0")
	two.add("x-retry", "1")
	none := &headerMap{}
	for _, tc := range []struct {
		name               string
		hm                 *routev3.HeaderMatcher
		h                  *headerMap
		want138, wantLater bool
	}{
		{"one of two values", exact("1", false, false), two, false, true},
		{"the joined values", exact("0,1", false, false), two, true, false},
		{"inverted, one value matches", exact("1", true, false), two, true, false},
		{"missing header", exact("", false, false), none, false, false},
		{"missing header, inverted", exact("1", true, false), none, false, false},
		{"missing header treated as empty", exact("", false, true), none, true, true},
		{"present", present, two, true, true},
		{"present, missing", present, none, false, false},
		{"inverted present, missing", notPresent, none, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchHeader(tc.hm, tc.h, false); got != tc.want138 {
				t.Errorf("1.38: got %v, want %v", got, tc.want138)
			}
			if got := matchHeader(tc.hm, tc.h, true); got != tc.wantLater {
				t.Errorf("1.39: got %v, want %v", got, tc.wantLater)
			}
		})
	}
}

// TestVersion_RefusesEnumValueTheVersionLacks verifies that an enum value
// added after a release is refused on it (TLS compliance policy CNSA2_202603
// is new in 1.39).
func TestVersion_RefusesEnumValueTheVersionLacks(t *testing.T) {
	doc := []byte(`{"static_resources":{"clusters":[{"name":"a","transport_socket":{"name":"tls","typed_config":{"@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext","common_tls_context":{"tls_params":{"compliance_policies":["CNSA2_202603"]}}}}}]}}`)
	md := (&bootstrapv3.Bootstrap{}).ProtoReflect().Descriptor()
	err := checkVersionFields(Version138, md, doc)
	if err == nil || !strings.Contains(err.Error(), "compliance_policies: value CNSA2_202603 does not exist in Envoy 1.38") {
		t.Errorf("1.38: %v, want CNSA2_202603 refused", err)
	}
	if err := checkVersionFields(Version139, md, doc); err != nil {
		t.Errorf("1.39: %v, want it accepted", err)
	}
}
