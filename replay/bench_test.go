package replay

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/provider"
)

// synthetic is a recording of d at 100 requests/s on chain c: p/m fails
// 1% of the time at random, and for 10 minutes in every hour (an outage);
// a request whose p/m attempt failed is answered by q/m.
func synthetic(d time.Duration) *Recording {
	n := int(d / (10 * time.Millisecond))
	rng := rand.New(rand.NewPCG(7, 7))
	rec := &Recording{Requests: make([]Request, n), Skipped: map[string]int{}}
	ok := func(target string, sent time.Time, ttfb time.Duration) Attempt {
		return Attempt{Target: target, SentAt: sent, At: sent.Add(ttfb), Class: provider.ClassSuccess, TTFB: ttfb,
			Outcome: breaker.Outcome{Kind: breaker.Success, Latency: ttfb, Status: 200}, InputTokens: 50, OutputTokens: 20}
	}
	for i := range n {
		start := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		r := &rec.Requests[i]
		r.ID, r.Chain, r.Model = strconv.Itoa(i), "c", "m"
		if outage := start.Sub(t0)%time.Hour < 10*time.Minute; outage || rng.Float64() < 0.01 {
			r.Attempts = []Attempt{{Target: "p/m", SentAt: start, At: start.Add(80 * time.Millisecond), Class: provider.ClassOverloaded,
				TTFB: 80 * time.Millisecond, Outcome: breaker.Outcome{Kind: breaker.Failure, Status: 503}},
				ok("q/m", start.Add(80*time.Millisecond), 300*time.Millisecond)}
			continue
		}
		r.Attempts = []Attempt{ok("p/m", start, 250*time.Millisecond)}
	}
	rec.index()
	return rec
}

// BenchmarkSimulate_HourAt100PerSecond replays an hour at 100 requests/s
// (360,000 requests, an outage of 10 minutes) under a candidate config;
// ns/op is one whole hour. REPLAY_BENCH_DAY=1 replays a whole day (8.64 M
// requests) instead, for the figure docs/replay.md quotes.
func BenchmarkSimulate_HourAt100PerSecond(b *testing.B) {
	d := time.Hour
	if os.Getenv("REPLAY_BENCH_DAY") != "" {
		d = 24 * time.Hour
	}
	rec := synthetic(d)
	cfg := testConfig(b, "{consecutive_failures: 3, open_for: 30s, recovery_stages: [0.5, 1.0], recovery_stage_duration: 10s}")
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		run := Simulate("candidate", cfg, rec, Options{})
		if run.Requests != len(rec.Requests) {
			b.Fatalf("replayed %d requests, want %d", run.Requests, len(rec.Requests))
		}
	}
	b.ReportMetric(float64(len(rec.Requests))*float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	// CPU seconds per replay (GC included), which a loaded machine does
	// not inflate as it does the wall time.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}
