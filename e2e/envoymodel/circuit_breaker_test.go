package envoymodel

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
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
	done := postAsync(m, "/v1/x", `{}`)
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

// TestModel_ProviderRetryCircuitBreaker verifies circuit_breakers
// max_retries (default 3) of the first attempt's cluster
// (retry_state_impl.cc shouldRetry): while one request is retrying, a
// second request whose retry would exceed max_retries 1 is not retried
// (RetryStatus::NoOverflow) and gets the first target's answer.
func TestModel_ProviderRetryCircuitBreaker(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	a := startUpstream(t, respondStatus(503))
	b := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		okJSON(`"b"`)(w, r)
	})
	_, ep, _ := startExtProc(t, routeOverride("a", "b"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1,
		MaxRetries: map[string]int{"a": 1}})
	done := postAsync(m, "/v1/x", `{}`)
	<-entered // request 1 is retrying on b: a's one retry slot is taken
	if got := post(t, m, "/v1/x", `{}`); got.status != 503 {
		t.Errorf("second request: got %d %q, want a's 503 (retry overflow)", got.status, got.body)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("first request: got %d, want b's 200", code)
	}
	if got := post(t, m, "/v1/x", `{}`); got.status != 200 {
		t.Fatalf("third request after the first ended: got %d %q, want 200 (the slot is free)", got.status, got.body)
	}
}

// TestModel_ProviderRequestCircuitBreaker verifies circuit_breakers
// max_requests of a provider cluster: a request past the limit fails with
// overflow, a 503 local reply with x-envoy-overloaded that is never retried
// (retry_state_impl.cc wouldRetryFromReset).
func TestModel_ProviderRequestCircuitBreaker(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var once sync.Once
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first {
			entered <- struct{}{}
			<-release
		}
		okJSON(`"a"`)(w, r)
	})
	b := startUpstream(t, okJSON(`"b"`))
	_, ep, _ := startExtProc(t, routeOverride("a", "b"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"}, NumRetries: 1,
		MaxRequests: map[string]int{"a": 1}, LocalReplyJSON: true})
	done := postAsync(m, "/v1/x", `{}`)
	<-entered
	got := post(t, m, "/v1/x", `{}`)
	var lr localReplyJSON
	_ = json.Unmarshal([]byte(got.body), &lr)
	if got.status != 503 || lr.Details != "upstream_reset_before_response_started{overflow}" || got.header.Get("x-envoy-overloaded") != "true" {
		t.Errorf("second request: got %d %q %v, want the 503 overflow reply", got.status, got.body, got.header)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("b got %d requests, want 0: overflow is never retried", n)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("first request: got %d, want 200", code)
	}
}

// postAsync posts body to path on m in a goroutine; the channel gets the
// response status (0 when the request failed).
func postAsync(m *Model, path, body string) <-chan int {
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(m.URL()+path, "application/json", strings.NewReader(body))
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}
