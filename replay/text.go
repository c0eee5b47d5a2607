package replay

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as a terminal table, baseline and candidate
// side by side, then each run's incidents and assumptions.
func (r *Report) WriteText(w io.Writer) error {
	b, c := r.Baseline, r.Candidate
	fmt.Fprintf(w, "replay of %s .. %s (%s)\n\n", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.To.Sub(r.From).Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\tbaseline (%s)\tcandidate (%s)\n", b.Name, c.Name)
	var rows textRows
	r.rows(&rows)
	for _, row := range rows.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Name, row.Baseline, row.Candidate)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, run := range []*Run{b, c} {
		if len(run.Incidents) > 0 {
			fmt.Fprintf(w, "\nincidents (%s):\n", run.Name)
			for _, in := range run.Incidents {
				back := "not back within the recording"
				if !in.Back.IsZero() {
					back = "back after " + ms(in.BackAfterMS)
				}
				fmt.Fprintf(w, "  %s: failing from %s, left after %s, %s\n", in.Target, in.Start.Format(time.RFC3339Nano), ms(in.LeftAfterMS), back)
			}
		}
		if len(run.Assumed) > 0 {
			fmt.Fprintf(w, "\nassumed outcomes (%s): not recorded for the request\n", run.Name)
			for _, k := range slices.Sorted(maps.Keys(run.Assumed)) {
				a := run.Assumed[k]
				fmt.Fprintf(w, "  %s: %d from its nearest recorded outcome, %d never recorded (assumed a success)\n", k, a.Nearest, a.Unrecorded)
			}
		}
	}
	for _, v := range r.Violations {
		fmt.Fprintf(w, "\nFAIL %s\n", v)
	}
	if len(r.Skipped) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Skipped)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.Skipped[k]))
		}
		fmt.Fprintf(w, "\nnot replayed: %s\n", strings.Join(parts, ", "))
	}
	return nil
}

// textRows collects the side-by-side figures.
type textRows struct{ rows []htmlRow }

// rows are the figures of both runs, one row a figure, for the text table
// and the HTML page.
func (r *Report) rows(out *textRows) {
	b, c := r.Baseline, r.Candidate
	row := func(name string, f func(*Run) string) { out.rows = append(out.rows, htmlRow{name, f(b), f(c)}) }
	row("requests", func(r *Run) string { return fmt.Sprint(r.Requests) })
	row("answered", func(r *Run) string { return fmt.Sprintf("%d (%.3f%%)", r.Answered, 100*r.AnsweredShare()) })
	row("returned (client errors)", func(r *Run) string { return fmt.Sprint(r.Returned) })
	reasons := map[string]bool{}
	for _, run := range []*Run{b, c} {
		for k := range run.Failed {
			reasons[k] = true
		}
	}
	if len(reasons) == 0 {
		row("failed", func(*Run) string { return "0" })
	}
	for _, k := range slices.Sorted(maps.Keys(reasons)) {
		row("failed: "+k, func(r *Run) string { return fmt.Sprint(r.Failed[k]) })
	}
	row("attempts", func(r *Run) string { return fmt.Sprint(r.Attempts) })
	row("attempts on failing targets", func(r *Run) string { return fmt.Sprint(r.FailedAttempts) })
	row("added TTFB p50/p95/p99", func(r *Run) string {
		return fmt.Sprintf("%s / %s / %s", ms(r.AddedTTFB.P50), ms(r.AddedTTFB.P95), ms(r.AddedTTFB.P99))
	})
	row("breaker openings (flaps)", func(r *Run) string { return fmt.Sprint(r.Flaps) })
	row("traffic left after (mean)", func(r *Run) string { return msOr(r.MeanLeftAfterMS()) })
	row("traffic back after (mean)", func(r *Run) string { return msOr(r.MeanBackAfterMS()) })
	row("tokens in/out", func(r *Run) string { return fmt.Sprintf("%d / %d", r.InputTokens, r.OutputTokens) })
}

// ms formats milliseconds as a duration.
func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// msOr formats milliseconds, or "-" for none (negative).
func msOr(v int64) string {
	if v < 0 {
		return "-"
	}
	return ms(v)
}
