package main

import (
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/processor"
)

// targetStatus is one breaker as the status page and /status show it.
type targetStatus struct {
	Target              string    `json:"target"`
	State               string    `json:"state"`
	OpenUntil           time.Time `json:"open_until,omitzero"`
	Stage               int       `json:"stage"`
	Share               float64   `json:"share"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	WindowRequests      int       `json:"window_requests"`
	WindowFailures      int       `json:"window_failures"`
	// QualityAnswers and QualityFailures are the quality window's counts
	// (triggers.quality; docs/quality.md).
	QualityAnswers  int   `json:"quality_answers"`
	QualityFailures int   `json:"quality_failures"`
	LatencyEWMAms   int64 `json:"latency_ewma_ms"`
	// Opened is why the breaker last opened (breaker.Opening), while it is
	// open, half-open or recovering.
	Opened *openedStatus `json:"opened,omitempty"`
}

// openedStatus is breaker.Opening as /status shows it.
type openedStatus struct {
	At       time.Time `json:"at"`
	Until    time.Time `json:"until"`
	Reason   string    `json:"reason"`
	Failures int       `json:"failures"`
	Status   int       `json:"status,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// openedOf is o for /status; nil when the breaker has not opened.
func openedOf(o breaker.Opening) *openedStatus {
	if o.At.IsZero() {
		return nil
	}
	return &openedStatus{At: o.At, Until: o.Until, Reason: o.Reason, Failures: o.Failures, Status: o.Last.Status, Detail: o.Last.Detail}
}

func targets(srv *processor.Server, now time.Time) []targetStatus {
	var out []targetStatus
	srv.Registry().Each(func(b *breaker.Breaker) {
		s := b.Snapshot(now)
		out = append(out, targetStatus{Target: b.Name(), State: s.State.String(), OpenUntil: s.OpenUntil, Stage: s.Stage,
			Share: s.Share, ConsecutiveFailures: s.ConsecutiveFailures, WindowRequests: s.Requests,
			WindowFailures: s.Failures, QualityAnswers: s.Answers, QualityFailures: s.QualityFailures,
			LatencyEWMAms: s.LatencyEWMA.Milliseconds(), Opened: openedOf(s.Opened)})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// writeStatus serves the breakers' state as JSON.
func writeStatus(w http.ResponseWriter, srv *processor.Server) {
	w.Header().Set("content-type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"streams": srv.Streams(), "targets": targets(srv, time.Now())})
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"pct": func(f float64) int { return int(f*100 + 0.5) },
	"until": func(t, now time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Sub(now).Round(time.Second).String()
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>llm-failover status</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.35em .8em;border-bottom:1px solid #ddd;text-align:left}
.closed{color:#176d2c}.open{color:#b00020;font-weight:bold}.half-open,.recovering{color:#a15c00}
</style></head><body>
<h1>llm-failover</h1>
<p>{{.Streams}} ext_proc streams in flight · refreshed every 5 s · <a href="/status">JSON</a> · <a href="/metrics">metrics</a></p>
<table><thead><tr><th>target</th><th>state</th><th>traffic share</th><th>cooldown left</th><th>consecutive failures</th><th>window failures / requests</th><th>latency EWMA</th><th>why it opened</th></tr></thead><tbody>
{{range .Targets}}<tr><td>{{.Target}}</td><td class="{{.State}}">{{.State}}</td><td>{{pct .Share}}%</td><td>{{until .OpenUntil $.Now}}</td><td>{{.ConsecutiveFailures}}</td><td>{{.WindowFailures}} / {{.WindowRequests}}</td><td>{{.LatencyEWMAms}} ms</td><td>{{with .Opened}}{{.Reason}} ({{.Failures}}){{with .Detail}}: {{.}}{{end}}{{end}}</td></tr>
{{else}}<tr><td colspan="8">no targets</td></tr>{{end}}
</tbody></table></body></html>
`))

// writeStatusPage serves the human status page.
func writeStatusPage(w http.ResponseWriter, srv *processor.Server) {
	now := time.Now()
	w.Header().Set("content-type", "text/html; charset=utf-8")
	_ = statusPage.Execute(w, map[string]any{"Streams": srv.Streams(), "Targets": targets(srv, now), "Now": now})
}
