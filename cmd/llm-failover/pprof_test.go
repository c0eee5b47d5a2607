package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// --pprof serves the runtime's profiles on a loopback admin address and
// refuses any other address.
func TestServePprof_OnlyOnLoopback(t *testing.T) {
	if err := servePprof(http.NewServeMux(), "0.0.0.0:9464"); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("servePprof on 0.0.0.0: %v, want a refusal", err)
	}
	mux := http.NewServeMux()
	if err := servePprof(mux, "127.0.0.1:9464"); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/allocs?debug=1", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "# Mallocs = ") {
		t.Fatalf("allocs profile: %d %.200q", rec.Code, rec.Body.String())
	}
}
