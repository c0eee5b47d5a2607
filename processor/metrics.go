package processor

import (
	"io"
	"net/http"
	"strings"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/telemetry"
)

// The metrics are OpenTelemetry instruments (package telemetry) served on
// /metrics by the OTel Prometheus exporter; this file wires the server's
// gauges into them. The families and labels of the hand-written page keep
// their meaning: llm_failover_attempts_total{provider,model,outcome},
// llm_failover_requests_planned_total{chain},
// llm_failover_requests_rejected_total{code},
// llm_failover_attempts_refused_total{reason},
// llm_failover_breaker_state{provider,model} (now with its own HELP and
// TYPE beside llm_failover_breaker_traffic_share) and llm_failover_streams.

// observeGauges reads the breakers and streams at each collection, and
// declares every refusal reason so its series reads 0 before any refusal.
func (s *Server) observeGauges() error {
	for r := range refusalCount {
		s.tel.CountRefused(r.String(), 0)
	}
	_, err := s.tel.ObserveGauges(telemetry.Gauges{
		Breakers: func(yield func(telemetry.BreakerGauge)) {
			now := s.clock.Now()
			s.registry.Each(func(b *breaker.Breaker) {
				snap := b.Snapshot(now)
				p, m, _ := strings.Cut(b.Name(), "/")
				yield(telemetry.BreakerGauge{Provider: p, Model: m, State: int(snap.State), Share: snap.Share})
			})
		},
		Streams: s.streams.Load,
		Regions: s.regionGauges,
	})
	return err
}

// MetricsHandler serves /metrics.
func (s *Server) MetricsHandler() http.Handler { return s.tel.Handler() }

// WriteMetrics writes the /metrics page in the Prometheus text format.
func (s *Server) WriteMetrics(w io.Writer) error { return s.tel.WriteText(w) }

// Telemetry is the server's telemetry (its own when Options.Telemetry was nil).
func (s *Server) Telemetry() *telemetry.Telemetry { return s.tel }
