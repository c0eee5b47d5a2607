package processor

import (
	"slices"
	"sync"
	"time"

	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file keeps each configured target's attempt statistics for the admin
// API's status and the dashboard (TargetStats): counts since start and the
// time to first byte of its recent answered attempts. The metrics hold the
// same facts as histograms for Prometheus; these are what one process can
// show without one.

// TargetStats are a target's attempt statistics since start.
type TargetStats struct {
	// Attempts and Errors count the attempts with an outcome; Errors those
	// that were not a success.
	Attempts, Errors int64
	// Tokens are the input and output tokens the answers reported.
	Tokens int64
	// TTFBP50 and TTFBP95 are quantiles of the time to the response headers
	// of the last admin.ttfb_samples attempts that had them; 0 without
	// samples.
	TTFBP50, TTFBP95 time.Duration
}

// statsStore holds one targetStats per configured target.
type statsStore struct {
	samples int      // each target's ring size (admin.ttfb_samples, fixed at New)
	m       sync.Map // target key -> *targetStats
}

type targetStats struct {
	mu                       sync.Mutex
	attempts, errors, tokens int64
	ring                     []time.Duration // len samples
	n, next                  int
}

// record adds one attempt of the configured target key (others are
// ignored, so no caller input adds an entry): its class, time to first byte
// (0: no response headers) and reported usage (nil: none).
func (s *Server) recordStats(key string, c provider.Class, ttfb time.Duration, u *telemetry.Usage) {
	if s.registry.Lookup(key) == nil {
		return
	}
	v, ok := s.stats.m.Load(key)
	if !ok {
		v, _ = s.stats.m.LoadOrStore(key, &targetStats{ring: make([]time.Duration, max(s.stats.samples, 1))})
	}
	t := v.(*targetStats)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts++
	if c != provider.ClassSuccess {
		t.errors++
	}
	if u != nil {
		t.tokens += u.Input + u.Output
	}
	if ttfb > 0 {
		t.ring[t.next] = ttfb
		t.next = (t.next + 1) % len(t.ring)
		t.n = min(t.n+1, len(t.ring))
	}
}

// TargetStats returns the statistics of target key ("provider/model");
// the zero value before its first attempt.
func (s *Server) TargetStats(key string) TargetStats {
	v, ok := s.stats.m.Load(key)
	if !ok {
		return TargetStats{}
	}
	t := v.(*targetStats)
	t.mu.Lock()
	out := TargetStats{Attempts: t.attempts, Errors: t.errors, Tokens: t.tokens}
	samples := slices.Clone(t.ring[:t.n])
	t.mu.Unlock()
	if len(samples) > 0 {
		slices.Sort(samples)
		out.TTFBP50, out.TTFBP95 = quantile(samples, 0.50), quantile(samples, 0.95)
	}
	return out
}

// quantile is the q-quantile of sorted samples (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
