package envoymodel

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestModel_ExtProcCircuitBreaker verifies circuit_breakers max_requests on
// the ext_proc gRPC cluster: every open ext_proc stream (the route phase's
// for the whole request, the attempt phase's for the attempt) holds one; a
// stream past the limit is refused (conn_pool_base.cc "max streams
// overflow") and ext_proc answers with status_on_error (onGrpcError,
// Unavailable); once the streams end the slots are free again.
func TestModel_ExtProcCircuitBreaker(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	first := true
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			entered <- struct{}{}
			<-release
		}
		okJSON(`"a"`)(w, r)
	})
	_, ep, _ := startExtProc(t, continueAll)
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr}, Groups: []string{"a"},
		MaxRequests: map[string]int{"extproc": 2}, LocalReplyJSON: true})
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(m.URL()+"/v1/x", "application/json", strings.NewReader(`{}`))
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered // request 1 holds its route and attempt streams: 2 of 2
	got := post(t, m, "/v1/x", `{}`)
	var lr localReplyJSON
	_ = json.Unmarshal([]byte(got.body), &lr)
	const want = "ext_proc_error_gRPC_error_14{upstream_reset_before_response_started{overflow}}"
	if got.status != 500 || lr.Details != want {
		t.Errorf("second request: got %d %q, want 500 with details %s", got.status, got.body, want)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("first request: got %d, want 200", code)
	}
	if r := post(t, m, "/v1/x", `{}`); r.status != 200 {
		t.Fatalf("third request after the first ended: got %d %q, want 200", r.status, r.body)
	}
}
