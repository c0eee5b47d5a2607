package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestServe_MetricsPageIsPromlintClean verifies the admin listener's
// /metrics, as a Prometheus server scrapes it, is the OTel exporter's page
// (every family with HELP and TYPE, target_info) and passes the
// promtool-equivalent lint.
func TestServe_MetricsPageIsPromlintClean(t *testing.T) {
	cfg, srv := newServer(t, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	bound, done := startServer(ctx, cfg, srv, slog.New(slog.NewTextHandler(io.Discard, nil)), runOptions{})
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("runServer did not return after cancel")
		}
		http.DefaultClient.CloseIdleConnections()
	}()
	l := <-bound
	req, _ := http.NewRequest(http.MethodGet, "http://"+l.admin+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: got %d %s, want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"# TYPE llm_failover_breaker_traffic_share gauge", "llm_failover_attempts_refused_total{reason=\"no_plan\"} 0", "target_info{"} {
		if !strings.Contains(text, want) {
			t.Errorf("got no %q in\n%s", want, text)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
