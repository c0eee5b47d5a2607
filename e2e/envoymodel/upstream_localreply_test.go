package envoymodel

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
)

// TestModel_AttemptPhaseLocalReplyReachesClient verifies that every local
// reply of an upstream (attempt-phase) ext_proc filter goes to the client at
// once with Envoy's status and response code details and is never retried
// (ext_proc.cc Filter::sendImmediateResponse -> encoder_callbacks_->sendLocalReply,
// forwarded downstream by upstream_request.cc UpstreamFilterManager::sendLocalReply).
// The per-try timeout is far above every bound, so a stall would show.
func TestModel_AttemptPhaseLocalReplyReachesClient(t *testing.T) {
	immediate := &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvc.ImmediateResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests}, Body: []byte(`{"error":{}}`), Headers: setHeaders("x-final", "1"), Details: "my details"}}}
	lengthMismatch := func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{
			HeaderMutation: setHeaders("content-length", "2"),
			BodyMutation:   &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte("longer body")}}})}
	}
	cases := []struct {
		name string
		// answer replaces the attempt phase's answer to the message it matches.
		onRequestBody, onResponseHeaders func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse
		extra                            string
		wantStatus                       int
		wantDetails                      string
		// upstreamA is how many requests reach the first target (0: the
		// reply came before the upstream request).
		upstreamA int
		// wantMutationSkipped: no local reply, the refused header is dropped.
		wantOK bool
	}{
		{name: "immediate response on response headers", onResponseHeaders: func(*extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{immediate}
		}, wantStatus: 429, wantDetails: "my_details", upstreamA: 1},
		{name: "immediate response on request body", onRequestBody: func(*extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{immediate}
		}, wantStatus: 429, wantDetails: "my_details", upstreamA: 0},
		{name: "gRPC error is status_on_error", onRequestBody: func(*extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{endStream(codes.Internal, "boom now")}
		}, extra: "\n            status_on_error: {code: 502}", wantStatus: 502, wantDetails: "ext_proc_error_gRPC_error_13{boom_now}", upstreamA: 0},
		{name: "gRPC error on response headers", onResponseHeaders: func(*extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{endStream(codes.Unavailable, "gone")}
		}, wantStatus: 500, wantDetails: "ext_proc_error_gRPC_error_14{gone}", upstreamA: 1},
		{name: "message timeout", onResponseHeaders: func(*extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return nil
		}, wantStatus: 504, wantDetails: "ext_proc_error_per-message_timeout_exceeded", upstreamA: 1},
		{name: "refused mutation with disallow_is_error", onResponseHeaders: func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-envoy-foo", "1")})}
		}, extra: "\n            mutation_rules: {disallow_is_error: true}", wantStatus: 500, wantDetails: "header_mutation_set_headers_failed", upstreamA: 1},
		{name: "refused mutation without disallow_is_error is ignored", onResponseHeaders: func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-envoy-foo", "1")})}
		}, wantOK: true, upstreamA: 1},
		{name: "invalid header value is always an error", onResponseHeaders: func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-bad", "a\nb")})}
		}, wantStatus: 500, wantDetails: "header_mutation_set_contains_invalid_character", upstreamA: 1},
		{name: "control character in a header value is an error", onResponseHeaders: func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-bad", "a\x01b")})}
		}, wantStatus: 500, wantDetails: "header_mutation_set_contains_invalid_character", upstreamA: 1},
		{name: "DEL in a header value is an error", onResponseHeaders: func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-bad", "a\x7fb")})}
		}, wantStatus: 500, wantDetails: "header_mutation_set_contains_invalid_character", upstreamA: 1},
		{name: "tab and obs-text in a header value are valid", onResponseHeaders: func(req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-ok", "a\tb\xe9")})}
		}, wantOK: true, upstreamA: 1},
		{name: "content-length mismatch", onRequestBody: lengthMismatch,
			wantStatus: 500, wantDetails: "mismatch_between_content_length_and_the_length_of_the_mutated_body", upstreamA: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, okJSON(`"a"`))
			b := startUpstream(t, okJSON(`"b"`))
			_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "route" {
					return routeOverride("a", "b")(phase, req)
				}
				if tc.onRequestBody != nil && req.GetRequestBody() != nil {
					return tc.onRequestBody(req)
				}
				if tc.onResponseHeaders != nil && req.GetResponseHeaders() != nil {
					return tc.onResponseHeaders(req)
				}
				return continueAll(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"},
				NumRetries: 1, PerTry: "5s", MessageTimeout: "0.3s", AttemptExtra: tc.extra, LocalReplyJSON: true})
			got := post(t, m, "/v1/x", `{}`)
			if got.took > 3*time.Second {
				t.Errorf("answer took %v, want it well before the 5s per-try timeout", got.took)
			}
			if n := len(a.requests()); n != tc.upstreamA {
				t.Errorf("first target got %d requests, want %d", n, tc.upstreamA)
			}
			if n := len(b.requests()); n != 0 {
				t.Errorf("second target got %d requests, want 0 (a local reply is never retried)", n)
			}
			if tc.wantOK {
				if got.status != 200 || got.body != `"a"` || got.header.Get("x-envoy-foo") != "" {
					t.Fatalf("got %d %q %v, want a's answer without the refused header", got.status, got.body, got.header)
				}
				return
			}
			var lr localReplyJSON
			if err := json.Unmarshal([]byte(got.body), &lr); err != nil {
				t.Fatalf("body %q is not the local_reply_config JSON: %v", got.body, err)
			}
			if got.status != tc.wantStatus || lr.Details != tc.wantDetails {
				t.Fatalf("got %d details %q, want %d details %q", got.status, lr.Details, tc.wantStatus, tc.wantDetails)
			}
			if tc.wantStatus == 429 && got.header.Get("x-final") != "1" {
				t.Errorf("x-final = %q, want the ImmediateResponse's header", got.header.Get("x-final"))
			}
		})
	}
}

// TestModel_ImmediateResponseStatusAndFailedMutation verifies
// ext_proc.cc sendImmediateResponse: a status below 200 becomes 200, and a
// header mutation that fails is only logged: the reply still goes out with
// the mutations made before the failure.
func TestModel_ImmediateResponseStatusAndFailedMutation(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	mut := setHeaders("x-first", "1")
	mut.SetHeaders = append(mut.SetHeaders, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-bad", RawValue: []byte("a\nb")}})
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			return []*extprocsvc.ProcessingResponse{{Response: &extprocsvc.ProcessingResponse_ImmediateResponse{ImmediateResponse: &extprocsvc.ImmediateResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Continue}, Body: []byte("x"), Headers: mut}}}}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.body != "x" || got.header.Get("x-first") != "1" {
		t.Fatalf("got %d %q %v, want 200 \"x\" with x-first", got.status, got.body, got.header)
	}
	if strings.Contains(got.header.Get("x-bad"), "b") {
		t.Errorf("invalid header was applied: %q", got.header.Get("x-bad"))
	}
}

// TestModel_AttemptStreamClosedEarlyForwardsRequestAsIs verifies
// ext_proc.cc onGrpcCloseWithStatus: a server that ends the attempt
// stream with OK before answering the request body ends processing, and the
// request goes upstream unmodified, the client's own headers included.
func TestModel_AttemptStreamClosedEarlyForwardsRequestAsIs(t *testing.T) {
	a := startUpstream(t, okJSON(`"a"`))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "attempt" && req.GetRequestHeaders() != nil {
			return []*extprocsvc.ProcessingResponse{endStream(codes.OK, "")}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}})
	if got := post(t, m, "/v1/x", `{"k":1}`, "authorization", "Bearer client-key"); got.status != 200 {
		t.Fatalf("got %d %q, want 200", got.status, got.body)
	}
	r := a.requests()[0]
	if r.body != `{"k":1}` || r.header.Get("authorization") != "Bearer client-key" {
		t.Errorf("upstream got %q with authorization %q, want the client's request unmodified", r.body, r.header.Get("authorization"))
	}
}
