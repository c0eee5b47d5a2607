// Package grafana_test checks the Grafana dashboard deploy/grafana holds.
package grafana_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dashboard is the part of Grafana's dashboard model these tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// metricRE finds the metric names in a PromQL expression.
var metricRE = regexp.MustCompile(`\b(?:llm_failover|gen_ai)_[a-z_]+\b`)

// labelsRE matches label matchers and grouping clauses, which name labels.
var labelsRE = regexp.MustCompile(`\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)`)

// suffixRE strips what Prometheus adds to a histogram's series.
var suffixRE = regexp.MustCompile(`_(?:bucket|count|sum)$`)

// TestDashboard_QueriesDocumentedMetrics verifies the dashboard parses,
// every panel queries the ${datasource} variable and fits the 24-column
// grid, panel ids are unique, and every metric a query names is one
// docs/observability.md documents (so a renamed metric fails here, not on
// an operator's screen).
func TestDashboard_QueriesDocumentedMetrics(t *testing.T) {
	b, err := os.ReadFile("llm-failover.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("llm-failover.json: %v", err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != "llm-failover" || d.Title == "" {
		t.Errorf("uid %q title %q, want llm-failover and a title", d.UID, d.Title)
	}
	ids := map[int]bool{}
	queried := map[string]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, q := range p.Targets {
			names := metricRE.FindAllString(labelsRE.ReplaceAllString(q.Expr, " "), -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, q.Expr)
			}
			for _, n := range names {
				queried[suffixRE.ReplaceAllString(n, "")] = true
			}
		}
	}
	for name := range queried {
		if !strings.Contains(string(doc), "`"+name+"`") && !strings.Contains(string(doc), "`"+name+"_total`") {
			t.Errorf("metric %s: queried by the dashboard, not in docs/observability.md", name)
		}
	}
	for _, want := range []string{"llm_failover_breaker_state", "llm_failover_failovers_total", "gen_ai_server_time_to_first_token_seconds", "gen_ai_client_inference_usage_output_tokens_total"} {
		if !queried[want] {
			t.Errorf("the dashboard does not query %s", want)
		}
	}
}
