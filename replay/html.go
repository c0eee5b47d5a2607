package replay

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// This file renders a Report as one self-contained HTML page: the figures
// side by side and three plots per run drawn as inline SVG (no script, no
// external resource): each target's breaker state over time, each
// target's share of the attempts over time, and the time to first byte the
// failovers added (p95 per time slice).

//go:embed report.html.tmpl
var reportTemplate string

var reportPage = template.Must(template.New("report").Parse(reportTemplate))

// Plot geometry, in SVG user units.
const (
	plotWidth  = 900.0
	plotLeft   = 190.0 // room for target names
	laneHeight = 22.0
	areaHeight = 160.0
)

// stateColors are the fill of each breaker state in the timeline.
var stateColors = map[string]string{
	breaker.Closed.String():     "#3a9d5d",
	breaker.Open.String():       "#d64545",
	breaker.HalfOpen.String():   "#e39b2f",
	breaker.Recovering.String(): "#e3cf4a",
}

// palette colours the targets in the share plot.
var palette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"}

type htmlPage struct {
	R        *Report
	Rows     []htmlRow
	Runs     []htmlRun
	Legend   []htmlSwatch
	Latency  htmlLines
	Duration string
}

type htmlRow struct{ Name, Baseline, Candidate string }

type htmlSwatch struct{ Name, Color string }

type htmlRun struct {
	Name     string
	Role     string
	Lanes    []htmlLane
	Height   float64
	Share    []htmlArea
	Targets  []htmlSwatch
	Ticks    []htmlTick
	Assumed  []string
	Incident []string
}

type htmlLane struct {
	Target string
	Y, TY  float64
	Rects  []htmlRect
}

type htmlRect struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type htmlArea struct {
	Points string
	Color  string
	Title  string
}

type htmlTick struct {
	X      float64
	Label  string
	Anchor string
}

type htmlLines struct {
	Lines []htmlPolyline
	Ticks []htmlTick
	Max   string
}

type htmlPolyline struct {
	Points string
	Color  string
	Name   string
}

// WriteHTML writes the report as a self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	p := htmlPage{R: r, Duration: r.To.Sub(r.From).Round(time.Millisecond).String()}
	var text textRows
	r.rows(&text)
	p.Rows = text.rows
	for _, s := range []string{breaker.Closed.String(), breaker.Recovering.String(), breaker.HalfOpen.String(), breaker.Open.String()} {
		p.Legend = append(p.Legend, htmlSwatch{s, stateColors[s]})
	}
	for i, run := range []*Run{r.Baseline, r.Candidate} {
		p.Runs = append(p.Runs, r.htmlRun(run, [2]string{"baseline", "candidate"}[i]))
	}
	p.Latency = r.latencyPlot()
	if err := reportPage.Execute(w, p); err != nil {
		return fmt.Errorf("replay: html report: %w", err)
	}
	return nil
}

// x maps a time to the plot's x coordinate.
func (r *Report) x(t time.Time) float64 {
	span := r.To.Sub(r.From)
	if span <= 0 {
		return plotLeft
	}
	return plotLeft + (plotWidth-plotLeft)*float64(t.Sub(r.From))/float64(span)
}

// ticks are five time labels along the x axis.
func (r *Report) ticks() []htmlTick {
	var out []htmlTick
	for i := range 5 {
		t := r.From.Add(time.Duration(float64(r.To.Sub(r.From)) * float64(i) / 4))
		out = append(out, htmlTick{X: r.x(t), Label: t.Format("15:04:05"), Anchor: [5]string{"start", "middle", "middle", "middle", "end"}[i]})
	}
	return out
}

// targets are the targets a run attempted or whose breaker changed, sorted.
func targetsOf(run *Run) []string {
	set := map[string]bool{}
	for _, b := range run.Timeline {
		for t := range b.Attempts {
			set[t] = true
		}
	}
	for _, tr := range run.Transitions {
		set[tr.Target] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func (r *Report) htmlRun(run *Run, role string) htmlRun {
	h := htmlRun{Name: run.Name, Role: role, Ticks: r.ticks()}
	targets := targetsOf(run)
	for i, tg := range targets {
		y := float64(i) * laneHeight
		lane := htmlLane{Target: tg, Y: y, TY: y + laneHeight*0.7}
		state, since := breaker.Closed.String(), r.From
		flush := func(until time.Time) {
			x0, x1 := r.x(since), r.x(until)
			lane.Rects = append(lane.Rects, htmlRect{X: x0, Y: y + 2, W: max(x1-x0, 1), H: laneHeight - 4, Color: stateColors[state],
				Title: fmt.Sprintf("%s %s from %s to %s", tg, state, since.Format(time.RFC3339), until.Format(time.RFC3339))})
		}
		for _, tr := range run.Transitions {
			if tr.Target != tg {
				continue
			}
			flush(tr.At)
			state, since = tr.To, tr.At
		}
		flush(r.To)
		h.Lanes = append(h.Lanes, lane)
	}
	h.Height = float64(len(targets))*laneHeight + 20
	// Share of attempts per target: stacked areas over the buckets.
	n := len(run.Timeline)
	base := make([]float64, n)
	for i, tg := range targets {
		color := palette[i%len(palette)]
		h.Targets = append(h.Targets, htmlSwatch{tg, color})
		top := make([]float64, n)
		var pts []string
		for j, b := range run.Timeline {
			total := 0
			for _, c := range b.Attempts {
				total += c
			}
			if total > 0 {
				top[j] = base[j] + float64(b.Attempts[tg])/float64(total)
			} else {
				top[j] = base[j]
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", r.bucketX(run, j), areaHeight*(1-top[j])))
		}
		for j := n - 1; j >= 0; j-- {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", r.bucketX(run, j), areaHeight*(1-base[j])))
		}
		h.Share = append(h.Share, htmlArea{Points: joinPoints(pts), Color: color, Title: tg})
		base = top
	}
	for _, k := range slices.Sorted(maps.Keys(run.Assumed)) {
		a := run.Assumed[k]
		h.Assumed = append(h.Assumed, fmt.Sprintf("%s: %d from its nearest recorded outcome, %d never recorded (assumed a success)", k, a.Nearest, a.Unrecorded))
	}
	for _, in := range run.Incidents {
		back := "not back within the recording"
		if !in.Back.IsZero() {
			back = "back after " + ms(in.BackAfterMS)
		}
		h.Incident = append(h.Incident, fmt.Sprintf("%s: failing from %s, traffic left after %s, %s", in.Target, in.Start.Format("15:04:05.000"), ms(in.LeftAfterMS), back))
	}
	return h
}

// bucketX is the x of the middle of bucket j.
func (r *Report) bucketX(run *Run, j int) float64 {
	b := run.Timeline[j]
	w := time.Duration(0)
	if len(run.Timeline) > 1 {
		w = run.Timeline[1].Start.Sub(run.Timeline[0].Start)
	}
	return min(r.x(b.Start.Add(w/2)), plotWidth)
}

// latencyPlot is the p95 added TTFB per bucket of both runs.
func (r *Report) latencyPlot() htmlLines {
	var top int64 = 1
	for _, run := range []*Run{r.Baseline, r.Candidate} {
		for _, b := range run.Timeline {
			top = max(top, b.AddedP95MS)
		}
	}
	l := htmlLines{Ticks: r.ticks(), Max: ms(top)}
	for i, run := range []*Run{r.Baseline, r.Candidate} {
		var pts []string
		for j, b := range run.Timeline {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", r.bucketX(run, j), areaHeight*(1-float64(b.AddedP95MS)/float64(top))))
		}
		l.Lines = append(l.Lines, htmlPolyline{Points: joinPoints(pts), Color: [2]string{"#888888", "#4e79a7"}[i],
			Name: [2]string{"baseline", "candidate"}[i] + " (" + run.Name + ")"})
	}
	return l
}

func joinPoints(pts []string) string {
	out := ""
	for i, p := range pts {
		if i > 0 {
			out += " "
		}
		out += p
	}
	return out
}
