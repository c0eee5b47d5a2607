package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SummaryCases are compare.sh's cases in the order of the table,
// with what each row is called.
var SummaryCases = []struct{ Name, Title string }{
	{"json2k-c16", "JSON 2 KB, 16 concurrent"},
	{"json2k-c64", "JSON 2 KB, 64 concurrent"},
	{"sse200", "SSE answer, 200 events"},
	{"json64k", "JSON 64 KB"},
	{"json1m", "JSON 1 MB"},
	{"chain2", "chain of 2 targets (JSON 2 KB)"},
	{"chain8", "chain of 8 targets (JSON 2 KB)"},
	{"sse50", "SSE answer, 50 events"},
	{"sse800", "SSE answer, 800 events"},
}

// Summarize writes the markdown table of a compare.sh output folder
// (ours-CASE.json and aigw-CASE.json): CPU per request with the ratio,
// requests/s, latency and allocations per case, then the slopes per KB of
// body, per SSE chunk and per target. Missing reports leave their cells empty.
func Summarize(w io.Writer, dir string) error {
	load := func(name string) *Report {
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			return nil
		}
		var r Report
		if json.Unmarshal(b, &r) != nil {
			return nil
		}
		return &r
	}
	reports := map[string]*Report{}
	for _, c := range SummaryCases {
		for _, who := range []string{"ours", "aigw"} {
			if r := load(who + "-" + c.Name); r != nil {
				reports[who+"-"+c.Name] = r
			}
		}
	}
	if len(reports) == 0 {
		return fmt.Errorf("%s: no ours-CASE.json or aigw-CASE.json", dir)
	}
	pair := func(f func(*Report) string, c string) string {
		return cell(reports["ours-"+c], f) + " / " + cell(reports["aigw-"+c], f)
	}
	fmt.Fprintln(w, "| case | server CPU µs/request, ours / theirs | ratio | req/s, ours / theirs | p50 ms, ours / theirs | p99 ms, ours / theirs | allocs/request, ours / theirs | failed |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, c := range SummaryCases {
		o, a := reports["ours-"+c.Name], reports["aigw-"+c.Name]
		if o == nil && a == nil {
			continue
		}
		ratio := ""
		if o != nil && a != nil && a.ServerCPUUS > 0 {
			ratio = fmt.Sprintf("%.2f×", o.ServerCPUUS/a.ServerCPUUS)
		}
		failed := 0
		for _, r := range []*Report{o, a} {
			if r != nil {
				failed += r.Failed
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d |\n", c.Title,
			pair(func(r *Report) string { return fmt.Sprintf("%.1f", r.ServerCPUUS) }, c.Name), ratio,
			pair(func(r *Report) string { return fmt.Sprintf("%.0f", r.RPS) }, c.Name),
			pair(func(r *Report) string { return fmt.Sprintf("%.1f", r.P50US/1000) }, c.Name),
			pair(func(r *Report) string { return fmt.Sprintf("%.1f", r.P99US/1000) }, c.Name),
			pair(func(r *Report) string {
				if r.AllocsPerRequest == 0 {
					return "-" // no allocation counters in that run
				}
				return fmt.Sprintf("%.0f", r.AllocsPerRequest)
			}, c.Name), failed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| slope | ours | theirs |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, s := range []struct {
		title    string
		from, to string
		per      func(*Report) float64
	}{
		{"µs per KB of request body (2 KB → 1 MB)", "json2k-c16", "json1m", func(r *Report) float64 { return float64(r.BodyBytes) / 1024 }},
		{"µs per SSE chunk (50 → 800 events)", "sse50", "sse800", func(r *Report) float64 { return float64(r.Chunks) }},
		{"µs per chain target (2 → 8)", "chain2", "chain8", nil},
	} {
		fmt.Fprintf(w, "| %s | %s | %s |\n", s.title, slope(reports["ours-"+s.from], reports["ours-"+s.to], s.per, 6),
			slope(reports["aigw-"+s.from], reports["aigw-"+s.to], s.per, 6))
	}
	return nil
}

func cell(r *Report, f func(*Report) string) string {
	if r == nil {
		return "-"
	}
	return f(r)
}

// slope is the CPU per request's growth per unit between two reports; per
// nil means per target, six targets apart.
func slope(a, b *Report, per func(*Report) float64, targets float64) string {
	if a == nil || b == nil {
		return "-"
	}
	d := b.ServerCPUUS - a.ServerCPUUS
	units := targets
	if per != nil {
		units = per(b) - per(a)
	}
	if units == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f (%+.0f%%)", d/units, 100*d/a.ServerCPUUS)
}
