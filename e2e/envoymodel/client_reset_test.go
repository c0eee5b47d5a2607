package envoymodel

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestModel_ClientResetEncodesNothingAndRetriesNothing verifies that a client
// leaving while an attempt is in flight ends the request as Envoy does
// (conn_manager_impl.cc onResetStream destroys the filters; router.cc
// Filter::onDestroy resets the upstream request): no retry goes to the next
// cluster and no local reply reaches the route-phase ext_proc as response
// headers (which the server would read as Envoy answering for a failed
// attempt).
func TestModel_ClientResetEncodesNothingAndRetriesNothing(t *testing.T) {
	a := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	b := startUpstream(t, okJSON(`"b"`))
	srv, ep, _ := startExtProc(t, routeOverride("a", "b"))
	m := startModel(t, params{ExtProc: ep, Clusters: map[string]string{"a": a.addr, "b": b.addr}, Groups: []string{"a"},
		NumRetries: 1, PerTry: "10s", MessageTimeout: "5s"})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL()+"/v1/x", strings.NewReader(`{}`))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(testTimeout)
	for len(a.requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first attempt never reached cluster a")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request was answered after the client left")
	}
	// Close the model: every stream it started has then ended.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(b.requests()); n != 0 {
		t.Errorf("cluster b received %d requests after the client left, want 0 (no retry)", n)
	}
	for _, r := range srv.requests("route") {
		if r.GetResponseHeaders() != nil {
			t.Errorf("the route-phase ext_proc saw response headers %v after the client left, want none", r.GetResponseHeaders())
		}
	}
}
