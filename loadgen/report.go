package loadgen

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one run's figures. Times per request are in microseconds.
type Report struct {
	Profile     string `json:"profile"`
	Addr        string `json:"addr"`
	Concurrency int    `json:"concurrency"`
	Conns       int    `json:"conns"`
	BodyBytes   int    `json:"body_bytes"`
	Chunks      int    `json:"chunks"`
	PID         int    `json:"pid"`

	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	RPS      float64 `json:"requests_per_second"`
	P50US    float64 `json:"p50_us"`
	P95US    float64 `json:"p95_us"`
	P99US    float64 `json:"p99_us"`
	MaxUS    float64 `json:"max_us"`

	// ServerCPUUS is the server's CPU time (user+system, /proc/<pid>/stat)
	// over the measured window divided by the requests completed in it;
	// ServerCores the same time over the window's length.
	ServerCPUUS float64 `json:"server_cpu_us_per_request"`
	ServerCores float64 `json:"server_cores"`
	// GeneratorCPUUS is this process's own CPU per request: when the
	// generator's core is saturated the throughput is its, not the server's.
	GeneratorCPUUS float64 `json:"generator_cpu_us_per_request"`
	GeneratorCores float64 `json:"generator_cores"`
	// AllocsPerRequest, AllocBytesPerRequest and GCs come from the
	// server's Go runtime counters on MetricsURL (go_memstats_mallocs_total,
	// go_memstats_alloc_bytes_total, go_gc_duration_seconds_count); zero
	// without it.
	AllocsPerRequest     float64 `json:"allocs_per_request,omitempty"`
	AllocBytesPerRequest float64 `json:"alloc_bytes_per_request,omitempty"`
	GCs                  float64 `json:"gcs,omitempty"`

	// Observed sums what the servers did to the measured requests.
	Observed Observed `json:"observed"`
	// Errors counts failed requests by error.
	Errors map[string]int `json:"errors,omitempty"`
	// Sample is the last measured request as the provider and the client saw it.
	Sample *Sample `json:"sample,omitempty"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r *Report) fill(lat []time.Duration, before, after counters) {
	sortDurations(lat)
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	r.P50US, r.P95US, r.P99US = us(quantile(lat, .50)), us(quantile(lat, .95)), us(quantile(lat, .99))
	if len(lat) > 0 {
		r.MaxUS = us(lat[len(lat)-1])
	}
	window := after.at.Sub(before.at).Seconds()
	if window > 0 {
		r.ServerCores = (after.serverCPU - before.serverCPU) / window
		r.GeneratorCores = (after.genCPU - before.genCPU) / window
	}
	if r.Requests == 0 {
		return
	}
	n := float64(r.Requests)
	if r.PID > 0 {
		r.ServerCPUUS = (after.serverCPU - before.serverCPU) / n * 1e6
	}
	r.GeneratorCPUUS = (after.genCPU - before.genCPU) / n * 1e6
	if after.metrics {
		r.AllocsPerRequest = (after.mallocs - before.mallocs) / n
		r.AllocBytesPerRequest = (after.allocBytes - before.allocBytes) / n
		r.GCs = after.gcs - before.gcs
	}
}

// Table writes reports as an aligned table, one row each.
func Table(w io.Writer, reps ...*Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tconc\tbody B\tchunks\treq/s\tp50 µs\tp95 µs\tp99 µs\tCPU µs/req\tserver cores\tallocs/req\tKB/req\tgen µs/req\tfailed\t")
	for _, r := range reps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.2f\t%.0f\t%.1f\t%.1f\t%d\t\n",
			r.Profile, r.Concurrency, r.BodyBytes, r.Chunks, r.RPS, r.P50US, r.P95US, r.P99US,
			r.ServerCPUUS, r.ServerCores, r.AllocsPerRequest, r.AllocBytesPerRequest/1024, r.GeneratorCPUUS, r.Failed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range reps {
		if len(r.Errors) == 0 {
			continue
		}
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s: %d× %s\n", r.Profile, r.Errors[k], strings.TrimSpace(k))
		}
	}
	return nil
}
