package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServe_WritesTheBudgetStateFileAtShutdown verifies /status lists the
// budgets and serve writes budgets.state_file when it stops, so counters
// survive a restart.
func TestServe_WritesTheBudgetStateFileAtShutdown(t *testing.T) {
	state := filepath.Join(t.TempDir(), "budgets.json")
	cfg, srv := newServer(t, "", "budgets: {state_file: "+state+", list: [{name: b, tokens: 10}]}\n")
	ctx, cancel := context.WithCancel(context.Background())
	bound, done := startServer(ctx, cfg, srv, slog.New(slog.NewTextHandler(io.Discard, nil)), runOptions{})
	l := <-bound
	resp, err := http.Get("http://" + l.admin + "/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"budgets":[{"name":"b","window":"day","unit":"tokens","limit":10,"used":0,"state":"under"`) {
		t.Fatalf("/status: got %s, want budget b", body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runServer: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runServer did not return after cancel")
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("no state file after shutdown: %v", err)
	}
	var st struct {
		V int `json:"v"`
	}
	if err := json.Unmarshal(b, &st); err != nil || st.V != 1 {
		t.Fatalf("state file %s: %v (v %d)", b, err, st.V)
	}
}
