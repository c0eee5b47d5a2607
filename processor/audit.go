package processor

import (
	"fmt"
	"strings"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
)

// This file publishes the audit trail (docs/audit.md) to the server's
// events Bus: failovers and their end, breaker transitions, policy
// denials, probes and configuration reloads. Each function is called from
// one line where the decision is taken. An event holds names, statuses,
// classes and our own messages; a provider's message is redacted and cut
// (failureDetail); nothing of a prompt or an answer is read here.

// Events returns the server's audit Bus (Options.Events; nil when none, on
// which Publish discards).
func (s *Server) Events() *events.Bus { return s.events }

// target is a plan target as an event's.
func target(t contract.Target) events.Target {
	return events.Target{Provider: t.Provider, Model: t.Model}
}

// millis is d in whole milliseconds, never negative.
func millis(d time.Duration) int64 { return max(d, 0).Milliseconds() }

// maxDetail bounds a provider's message in an event or a breaker's
// opening, before the Bus's own bound.
const maxDetail = 200

// failureDetail is cls as the reason a breaker opened or a failover
// happened: its class and the provider's message, redacted (providers echo
// keys in errors) and cut.
func (a *attemptStream) failureDetail(cls provider.Classification) string {
	d := cls.Class.String()
	if cls.Message != "" {
		d += ": " + a.ep.ep.Redact(cls.Message)
	}
	return truncate(d, maxDetail)
}

// withDetail adds the failure's status and detail to the breaker outcome,
// so an opening breaker can say why.
func (a *attemptStream) withDetail(o breaker.Outcome, cls provider.Classification) breaker.Outcome {
	if o.Kind != breaker.Success && o.Kind != breaker.Neutral {
		o.Status, o.Detail = cls.Status, a.failureDetail(cls)
	}
	return o
}

// auditFailure publishes the decision on an attempt that failed before
// its answer reached the client (fail, or the per-try timeout): a
// failover when Envoy retries, "exhausted" when no attempt is left. A
// failure another target would not avoid (returned to the client) is not
// a failover and publishes nothing.
func (a *attemptStream) auditFailure(cls provider.Classification) {
	if a.s.events == nil || !a.failsOver(cls) {
		return
	}
	now := a.s.clock.Now()
	e := a.attemptEvent(events.KindFailover, now)
	e.Reason, e.Status, e.Detail = cls.Class.String(), cls.Status, a.failureDetail(cls)
	e.Quality = qualityReason(cls)
	if !a.sent.IsZero() {
		e.AddedLatencyMS = millis(now.Sub(a.sent))
	}
	if a.last() {
		e.Kind = events.KindExhausted
	} else {
		e.To = a.nextTarget()
	}
	a.s.events.Publish(e)
}

// nextTarget is the target Envoy's retry after this attempt goes to, as
// planned: the next of the plan, or this one again for a same-target retry
// (plan.Extra) after the last; zero when no attempt is left.
func (a *attemptStream) nextTarget() events.Target {
	switch next := a.index + 1; {
	case a.last():
		return events.Target{}
	case next < len(a.plan.Targets):
		return target(a.plan.Targets[next])
	}
	return target(a.target)
}

// auditRetried publishes a failover for each of recs that ended without
// response headers and that Envoy retried (a reset, or a per-try timeout
// this replica could not see), once the evidence says so: to is the target
// of the retry (the attempt that brought the evidence, or the planned
// next). The time such an attempt cost is not known here.
func (a *attemptStream) auditRetried(recs []attemptRecord, to events.Target) {
	if a.s.events == nil {
		return
	}
	for _, r := range recs {
		if r.Message != whyRetried {
			continue
		}
		e := a.attemptEvent(events.KindFailover, a.s.clock.Now())
		e.From, e.To, e.Attempt = events.Target{Provider: r.Provider, Model: r.Model}, to, r.Attempt
		e.Reason, e.Detail = r.Class.String(), r.Class.String()+": "+r.Message
		a.s.events.Publish(e)
	}
}

// auditAnswer publishes fallback_served when an attempt after the first
// answers successfully; AddedLatencyMS is the time from the first
// attempt's start to this one's, as this replica saw it.
func (a *attemptStream) auditAnswer(cls provider.Classification) {
	if a.s.events == nil || cls.Class != provider.ClassSuccess || a.attempt <= 1 {
		return
	}
	now := a.s.clock.Now()
	e := a.attemptEvent(events.KindFallbackServed, now)
	e.Status = cls.Status
	if t := a.s.traces.trace(a.traceID, now, false); t != nil && !a.sent.IsZero() {
		t.mu.Lock()
		e.AddedLatencyMS = millis(a.sent.Sub(t.created))
		t.mu.Unlock()
	}
	a.s.events.Publish(e)
}

// attemptEvent is an event of kind about this attempt, at now.
func (a *attemptStream) attemptEvent(kind events.Kind, now time.Time) events.Event {
	return events.Event{Kind: kind, Time: now, RequestID: a.reqID, Chain: a.plan.Chain, Client: a.plan.Client,
		From: target(a.target), Attempt: a.attempt, ConfigGen: a.plan.Gen}
}

// auditTransition publishes a breaker transition; one to open carries why
// it opened (breaker.Opening).
func (s *Server) auditTransition(t breaker.Transition) {
	if s.events == nil {
		return
	}
	e := events.Event{Kind: events.KindBreakerTransition, Time: t.At, From: events.ParseTarget(t.Name),
		Reason: t.Reason, BreakerFrom: t.From.String(), BreakerTo: t.To.String()}
	switch t.To {
	case breaker.Open:
		e.CooldownUntil, e.Failures = t.Until, t.Opening.Failures
		e.Status, e.Detail = t.Opening.Last.Status, t.Opening.Last.Detail
	case breaker.Recovering:
		e.Stage = t.Stage
	}
	s.events.Publish(e)
}

// auditDenial publishes a policy_denial: a route-phase refusal by policy
// (a client refusal, every target open, no capable target, no target that
// can take the request), not a malformed request. When every target is
// open the detail lists each target's state and why it opened.
func (r *routeStream) auditDenial(status int, reason, chain string) {
	if r.s.events == nil {
		return
	}
	e := events.Event{Kind: events.KindPolicyDenial, Time: r.s.clock.Now(), RequestID: r.reqID, Chain: chain,
		Reason: reason, Status: status}
	if c := r.client.id.Client; c != nil {
		e.Client = c.Name
	}
	if reason == reasonAllTargetsOpen {
		e.Detail = r.openTargets(chain)
	}
	r.s.events.Publish(e)
}

// reasonAllTargetsOpen is the route phase's refusal when every target of
// the chain is open.
const reasonAllTargetsOpen = "all_targets_open"

// openTargets describes each target of chain: "p/m open (consecutive
// failures, 3)".
func (r *routeStream) openTargets(chain string) string {
	ch := r.st.cfg.Chain(chain)
	if ch == nil {
		return ""
	}
	now := r.s.clock.Now()
	var parts []string
	for _, t := range ch.Targets {
		key := config.Target{Provider: t.Provider, Model: t.Model}.Key()
		b := r.s.registry.Lookup(key)
		if b == nil {
			continue
		}
		sn := b.Snapshot(now)
		part := key + " " + sn.State.String()
		if sn.Opened.Reason != "" {
			part += fmt.Sprintf(" (%s, %d)", sn.Opened.Reason, sn.Opened.Failures)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// auditProbes publishes a probe event for each half-open probe in plan.
func (r *routeStream) auditProbes(plan routing.Plan) {
	if r.s.events == nil {
		return
	}
	for i, st := range plan.Steps {
		if st.Probe() {
			r.s.events.Publish(events.Event{Kind: events.KindProbe, Time: r.s.clock.Now(), RequestID: r.reqID,
				Chain: plan.Chain, From: events.Target{Provider: st.Provider, Model: st.Model}, Attempt: i + 1, Reason: st.Reason})
		}
	}
}

// AuditReload publishes a config_reload: cfg loaded from source, or err
// when the reload was refused (the running configuration stays). cmd calls
// it for every reload, and once at start.
func (s *Server) AuditReload(source string, cfg *config.Config, err error) {
	if s.events == nil {
		return
	}
	e := events.Event{Kind: events.KindConfigReload, Time: s.clock.Now(), Reason: "loaded"}
	if err != nil {
		first, _, _ := strings.Cut(err.Error(), "\n")
		e.Reason, e.Detail = "rejected", source+": "+first
	} else if cfg != nil {
		e.ConfigGen = generationOf(cfg)
		e.Detail = fmt.Sprintf("%s: %d providers, %d chains", source, len(cfg.Providers), len(cfg.Chains))
	}
	s.events.Publish(e)
}

// settledOutcome is the breaker outcome of an attempt that ended without
// an answer, with its class and the trace's reason as the detail an
// opening breaker keeps.
func settledOutcome(r attemptRecord) breaker.Outcome {
	o := outcomeOf(provider.Classification{Class: r.Class}, 0)
	o.Probe = r.Probe
	if o.Kind != breaker.Success && o.Kind != breaker.Neutral {
		o.Detail = truncate(r.Class.String()+": "+r.Message, maxDetail)
	}
	return o
}
