package envoymodel

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
)

const streamedAttemptMode = "{request_header_mode: SEND, request_body_mode: BUFFERED, response_header_mode: SEND, response_body_mode: STREAMED, request_trailer_mode: SKIP, response_trailer_mode: SKIP}"

// sseAfter answers 200 text/event-stream at once, then writes chunks after
// wait (0: never; the handler then waits for the client to go away).
func sseAfter(wait time.Duration, chunks ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		if wait == 0 {
			<-r.Context().Done()
			return
		}
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
			return
		}
		for _, c := range chunks {
			_, _ = io.WriteString(w, c)
			w.(http.Flusher).Flush()
		}
	}
}

// TestModel_StreamedHeadersAnswerDoesNotRelease verifies Envoy #45355
// (processor_state.cc handleHeaderContinue): in STREAMED mode a headers-only
// answer leaves the response headers held, so a 200 whose body never comes
// is cut by per_try_timeout and retried, with and without
// send_body_without_waiting_for_header_response.
func TestModel_StreamedHeadersAnswerDoesNotRelease(t *testing.T) {
	for _, tc := range []struct{ name, extra string }{
		{"waiting for the headers answer", ""},
		{"send_body_without_waiting_for_header_response", "\n            send_body_without_waiting_for_header_response: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startUpstream(t, sseAfter(0))
			b := startUpstream(t, okJSON(`"b"`))
			_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
				if phase == "route" {
					return routeOverride("a", "b")(phase, req)
				}
				if req.GetResponseHeaders() != nil {
					return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-decided", "1")})}
				}
				return continueAll(phase, req)
			})
			m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"},
				NumRetries: 1, PerTry: "0.5s", MessageTimeout: "5s", AttemptMode: streamedAttemptMode, AttemptExtra: tc.extra})
			got := post(t, m, "/v1/x", `{}`)
			if got.status != 200 || got.body != `"b"` || got.took < 500*time.Millisecond {
				t.Fatalf("got %d %q after %v, want b's answer after a's 0.5s per-try timeout", got.status, got.body, got.took)
			}
		})
	}
}

// TestModel_StreamedHeadersReleasedByFirstBodyAnswer verifies that the held
// headers go on, with their mutation, together with the first answered
// chunk (filter_manager.cc injectEncodedDataToFilterChain continues the
// headers first).
func TestModel_StreamedHeadersReleasedByFirstBodyAnswer(t *testing.T) {
	a := startUpstream(t, sseAfter(100*time.Millisecond, "data: 1\n\n"))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "attempt" && req.GetResponseHeaders() != nil {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-decided", "1")})}
		}
		if phase == "attempt" && req.GetResponseBody() != nil {
			c := strings.ToUpper(string(req.GetResponseBody().GetBody()))
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte(c)}}})}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		PerTry: "5s", AttemptMode: streamedAttemptMode, AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.header.Get("x-decided") != "1" || got.body != "DATA: 1\n\n" {
		t.Fatalf("got %d %q %v, want 200 with x-decided and the answered chunk", got.status, got.body, got.header)
	}
}

// TestModel_StreamedHeadersReleasedByStreamClose verifies that the server
// closing the gRPC stream (status OK) after a headers-only answer releases
// the held headers at once (ext_proc.cc onGrpcCloseWithStatus ->
// clearAsyncState -> continueIfNecessary), so per_try_timeout stops, and
// that later chunks pass unprocessed (processing_complete_).
func TestModel_StreamedHeadersReleasedByStreamClose(t *testing.T) {
	a := startUpstream(t, sseAfter(1500*time.Millisecond, "data: 1\n\n", "data: 2\n\n"))
	b := startUpstream(t, okJSON(`"b"`))
	var bodies atomic.Int32
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" {
			return routeOverride("a", "b")(phase, req)
		}
		if req.GetResponseHeaders() != nil {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders("x-decided", "1")}), endStream(codes.OK, "")}
		}
		if req.GetResponseBody() != nil {
			bodies.Add(1)
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{BodyMutation: &extprocsvc.BodyMutation{Mutation: &extprocsvc.BodyMutation_Body{Body: []byte("changed")}}})}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"},
		NumRetries: 1, PerTry: "0.5s", AttemptMode: streamedAttemptMode, AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.header.Get("x-decided") != "1" || got.body != "data: 1\n\ndata: 2\n\n" {
		t.Fatalf("got %d %q %v, want a's stream unprocessed with x-decided", got.status, got.body, got.header)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("b got %d requests, want 0 (the headers left at the stream close, before the per-try timeout)", n)
	}
	if n := bodies.Load(); n != 0 {
		t.Errorf("server got %d body chunks after it closed the stream, want 0", n)
	}
}

// TestModel_StreamedUpstreamResetWhileHeld verifies that an upstream reset
// while the headers are held is an upstream reset to the router: retried
// on the next target, the client never sees the first target's headers.
func TestModel_StreamedUpstreamResetWhileHeld(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		w.Header().Set("content-length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "data: partial")
		w.(http.Flusher).Flush()
		hj, _ := w.(http.Hijacker)
		c, _, err := hj.Hijack()
		if err == nil {
			_ = c.Close()
		}
	})
	b := startUpstream(t, okJSON(`"b"`))
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" {
			return routeOverride("a", "b")(phase, req)
		}
		if strings.Contains(string(req.GetResponseBody().GetBody()), "partial") {
			return nil // a's chunk is held: no answer
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"},
		NumRetries: 1, PerTry: "5s", MessageTimeout: "5s", AttemptMode: streamedAttemptMode, AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.body != `"b"` {
		t.Fatalf("got %d %q, want b's answer after a's reset", got.status, got.body)
	}
}

// TestModel_EmptyResponseIsNotHeld verifies that a response known to be
// empty (content-length 0) reaches the filters as headers with end_stream:
// no body message follows, so STREAMED mode has nothing to hold the
// headers for (processor_state.cc handleHeaderContinue, no_body_).
func TestModel_EmptyResponseIsNotHeld(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-length", "0")
		w.WriteHeader(200)
	})
	srv, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if req.GetResponseBody() != nil {
			return nil // never answered
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		PerTry: "5s", AttemptMode: streamedAttemptMode, AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.took > 2*time.Second {
		t.Fatalf("got %d after %v, want 200 at once", got.status, got.took)
	}
	for _, r := range srv.requests("attempt") {
		if h := r.GetResponseHeaders(); h != nil && !h.GetEndOfStream() {
			t.Errorf("response headers sent with end_of_stream false, want true")
		}
		if r.GetResponseBody() != nil {
			t.Errorf("a body message was sent for an empty response")
		}
	}
}

// TestModel_UpstreamResetWhileRoutePhaseBuffers verifies router.cc
// onUpstreamReset after the router passed the headers on
// (downstream_response_started_): an upstream body cut while the route
// phase buffers the response (mode_override BUFFERED) resets the
// downstream stream; the client gets no response, not a 503.
func TestModel_UpstreamResetWhileRoutePhaseBuffers(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
	})
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetResponseHeaders() != nil {
			r := continueFor(req, nil)
			r.ModeOverride = &extprocv3ProcessingMode{ResponseBodyMode: bufferedMode}
			return []*extprocsvc.ProcessingResponse{r}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"}, NoAttemptFilters: true})
	c := &http.Client{Timeout: testTimeout}
	resp, err := c.Post(m.URL()+"/v1/x", "application/json", strings.NewReader(`{}`))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		t.Fatalf("got %d %q, want the downstream stream reset", resp.StatusCode, b)
	}
}

// TestModel_MessageTimerStopsAtEveryAnswer verifies the message timer of
// processor_state.cc: every message sent starts it and every answer
// processed stops it (onFinishProcessorCall -> stopMessageTimer), even while
// a chunk sent earlier still awaits its answer. Here chunk one is sent
// before the headers answer, so after that answer no timer runs for it: the
// server may answer it when chunk two comes, well past message_timeout.
func TestModel_MessageTimerStopsAtEveryAnswer(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "one ")
		w.(http.Flusher).Flush()
		select {
		case <-time.After(900 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "two")
	})
	var held, first *extprocsvc.ProcessingRequest
	_, ep, _ := startExtProc(t, func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		switch {
		case phase != "attempt":
		case req.GetResponseHeaders() != nil:
			held = req
			return nil
		case req.GetResponseBody() != nil && first == nil:
			first = req
			return []*extprocsvc.ProcessingResponse{continueFor(held, nil)}
		case req.GetResponseBody() != nil:
			return []*extprocsvc.ProcessingResponse{continueFor(first, nil), continueFor(req, nil)}
		}
		return continueAll(phase, req)
	})
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		PerTry: "5s", MessageTimeout: "0.3s", AttemptMode: streamedAttemptMode, AttemptExtra: "\n            send_body_without_waiting_for_header_response: true"})
	got := post(t, m, "/v1/x", `{}`)
	if got.status != 200 || got.body != "one two" {
		t.Fatalf("got %d %q, want 200 \"one two\" (no message timeout)", got.status, got.body)
	}
}
