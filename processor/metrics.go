package processor

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// metrics counts what the status page and /metrics show. Counters are
// created once per label set and then updated without locks.
type metrics struct {
	attempts sync.Map // "provider\x00model\x00outcome" -> *atomic.Int64
	planned  sync.Map // chain -> *atomic.Int64
	rejected sync.Map // code -> *atomic.Int64
	// shapeFallbacks counts 1.38 plans sent to a shorter generated shape, by chain.
	shapeFallbacks sync.Map // chain -> *atomic.Int64
	// refused counts attempt streams refused for their plan, by fixed reason.
	refused [refusalCount]atomic.Int64
}

func counter(m *sync.Map, key string) *atomic.Int64 {
	if c, ok := m.Load(key); ok {
		return c.(*atomic.Int64)
	}
	c, _ := m.LoadOrStore(key, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// WriteMetrics writes the Prometheus text exposition of the server's
// counters and its breakers' state at now.
func (s *Server) WriteMetrics(w io.Writer, now time.Time) {
	fmt.Fprintln(w, "# HELP llm_failover_attempts_total Attempts by provider, model and outcome.")
	fmt.Fprintln(w, "# TYPE llm_failover_attempts_total counter")
	writeCounters(w, &s.metrics.attempts, func(k string) string {
		p := strings.SplitN(k, "\x00", 3)
		return fmt.Sprintf(`llm_failover_attempts_total{provider=%q,model=%q,outcome=%q}`, p[0], p[1], p[2])
	})
	fmt.Fprintln(w, "# HELP llm_failover_requests_planned_total Requests planned, by chain.")
	fmt.Fprintln(w, "# TYPE llm_failover_requests_planned_total counter")
	writeCounters(w, &s.metrics.planned, func(k string) string {
		return fmt.Sprintf(`llm_failover_requests_planned_total{chain=%q}`, k)
	})
	fmt.Fprintln(w, "# HELP llm_failover_requests_rejected_total Requests answered by llm-failover itself, by error code.")
	fmt.Fprintln(w, "# TYPE llm_failover_requests_rejected_total counter")
	writeCounters(w, &s.metrics.rejected, func(k string) string {
		return fmt.Sprintf(`llm_failover_requests_rejected_total{code=%q}`, k)
	})
	fmt.Fprintln(w, "# HELP llm_failover_shape_fallbacks_total Requests (Envoy 1.38) whose plan shape was not generated and went to its longest generated prefix, by chain.")
	fmt.Fprintln(w, "# TYPE llm_failover_shape_fallbacks_total counter")
	writeCounters(w, &s.metrics.shapeFallbacks, func(k string) string {
		return fmt.Sprintf(`llm_failover_shape_fallbacks_total{chain=%q}`, k)
	})
	fmt.Fprintln(w, "# HELP llm_failover_attempts_refused_total Attempt streams refused for their plan (missing, unverified, expired, provider not in it), by reason.")
	fmt.Fprintln(w, "# TYPE llm_failover_attempts_refused_total counter")
	for r := range refusalCount {
		fmt.Fprintf(w, "llm_failover_attempts_refused_total{reason=%q} %d\n", r.String(), s.metrics.refused[r].Load())
	}
	fmt.Fprintln(w, "# HELP llm_failover_breaker_state Breaker state per target: 0 closed, 1 open, 2 half-open, 3 recovering.")
	fmt.Fprintln(w, "# TYPE llm_failover_breaker_state gauge")
	var lines []string
	s.registry.Each(func(b *breaker.Breaker) {
		snap := b.Snapshot(now)
		p, m, _ := strings.Cut(b.Name(), "/")
		lines = append(lines, fmt.Sprintf(`llm_failover_breaker_state{provider=%q,model=%q} %d`, p, m, snap.State),
			fmt.Sprintf(`llm_failover_breaker_traffic_share{provider=%q,model=%q} %g`, p, m, snap.Share))
	})
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "# HELP llm_failover_streams ext_proc streams in flight.")
	fmt.Fprintln(w, "# TYPE llm_failover_streams gauge")
	fmt.Fprintf(w, "llm_failover_streams %d\n", s.streams.Load())
}

func writeCounters(w io.Writer, m *sync.Map, name func(string) string) {
	var lines []string
	m.Range(func(k, v any) bool {
		lines = append(lines, fmt.Sprintf("%s %d", name(k.(string)), v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
