package processor

import (
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
)

// This file publishes the opt-in "attempt" events (audit.attempts), one
// per outcome a breaker records, at the time it records it: what the replay
// lab (package replay) needs to re-run routing and breakers offline.

// auditAttempt publishes the attempt event of this attempt's outcome o
// (classified cls), recorded on its breaker at now.
func (a *attemptStream) auditAttempt(now time.Time, cls provider.Classification, o breaker.Outcome) {
	if a.s.events == nil || !a.st.cfg.Audit.Attempts {
		return
	}
	e := a.attemptEvent(events.KindAttempt, now)
	e.Model, e.Reason, e.Status, e.Outcome = a.plan.Model, cls.Class.String(), cls.Status, o.Kind.String()
	e.SentAt, e.LatencyMS, e.RetryAfterMS = a.sent, millis(now.Sub(a.sent)), millis(cls.RetryAfter)
	e.Planned, e.ActiveProbe = len(a.plan.Targets)+a.plan.Extra, a.plan.Probe
	if cls.Status != 0 {
		e.TTFBMS = millis(a.latency)
	}
	if u := a.obs.usage; u != nil {
		e.InputTokens, e.OutputTokens = u.Prompt, u.Completion
	}
	a.s.events.Publish(e)
}

// auditSettled publishes the attempt event of an attempt settled later
// (it ended without an answer, see settle), recorded at now with outcome o.
// Its request is not known here: the event has no request id.
func (s *Server) auditSettled(now time.Time, r attemptRecord, o breaker.Outcome) {
	if s.events == nil || !s.attemptsAudited() {
		return
	}
	s.events.Publish(events.Event{Kind: events.KindAttempt, Time: now, From: events.Target{Provider: r.Provider, Model: r.Model},
		Attempt: r.Attempt, Reason: r.Class.String(), Outcome: o.Kind.String(), ActiveProbe: r.Probe})
}

// attemptsAudited reports whether the running configuration asks for
// attempt events.
func (s *Server) attemptsAudited() bool {
	st := s.state.Load()
	return st != nil && st.cfg.Audit.Attempts
}
