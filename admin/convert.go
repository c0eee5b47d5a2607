package admin

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
	"github.com/llm-failover/llm-failover/processor"
	"github.com/llm-failover/llm-failover/routing"
)

// This file maps the server's types to the admin API's messages: one
// function per message, so the gRPC service and the dashboard's JSON are
// the same schema.

// stateOf maps a breaker state to its enum value.
func stateOf(s breaker.State) adminv1.BreakerState {
	switch s {
	case breaker.Closed:
		return adminv1.BreakerState_BREAKER_STATE_CLOSED
	case breaker.Open:
		return adminv1.BreakerState_BREAKER_STATE_OPEN
	case breaker.HalfOpen:
		return adminv1.BreakerState_BREAKER_STATE_HALF_OPEN
	case breaker.Recovering:
		return adminv1.BreakerState_BREAKER_STATE_RECOVERING
	}
	return adminv1.BreakerState_BREAKER_STATE_UNSPECIFIED
}

// ts is a Timestamp, or nil for the zero time.
func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// targetStatus is tg's breaker snapshot sn and statistics at now as a
// TargetStatus.
func targetStatus(tg config.Target, sn breaker.Snapshot, stats processor.TargetStats, stages int, now time.Time) *adminv1.TargetStatus {
	st := &adminv1.TargetStatus{
		Target:              &adminv1.Target{Provider: tg.Provider, Model: tg.Model},
		State:               stateOf(sn.State),
		Reason:              sn.Opened.Reason,
		RecoveryStages:      int32(stages),
		TrafficShare:        sn.Share,
		ConsecutiveFailures: int32(sn.ConsecutiveFailures),
		WindowRequests:      int32(sn.Requests),
		WindowFailures:      int32(sn.Failures),
		Since:               ts(sn.Since),
		OpenedAt:            ts(sn.Opened.At),
		OpenedFailures:      int32(sn.Opened.Failures),
		OpenedStatus:        int32(sn.Opened.Last.Status),
		OpenedDetail:        sn.Opened.Last.Detail,
		Stats:               &adminv1.TargetStats{Attempts: stats.Attempts, Errors: stats.Errors, Tokens: stats.Tokens},
	}
	if stats.Attempts > 0 {
		st.Stats.ErrorRate = float64(stats.Errors) / float64(stats.Attempts)
	}
	if stats.TTFBP50 > 0 {
		st.Stats.TtfbP50, st.Stats.TtfbP95 = durationpb.New(stats.TTFBP50), durationpb.New(stats.TTFBP95)
	}
	if sn.LatencySamples > 0 {
		st.LatencyEwma = durationpb.New(sn.LatencyEWMA)
	}
	if sn.State == breaker.Recovering {
		st.RecoveryStage = int32(sn.Stage + 1)
	}
	if sn.State == breaker.Open {
		st.CooldownUntil = ts(sn.OpenUntil)
		st.CooldownLeft = durationpb.New(max(sn.OpenUntil.Sub(now), 0))
	}
	return st
}

// statusOf is the GetStatus answer of src at now.
func statusOf(src Source, now time.Time) *adminv1.GetStatusResponse {
	t := src.Table()
	cfg := t.Config()
	out := &adminv1.GetStatusResponse{Time: timestamppb.New(now), Streams: src.Streams(), DefaultChain: cfg.DefaultChain}
	stages := len(cfg.Breaker.RecoveryStages)
	for i := range cfg.Chains {
		ch := &cfg.Chains[i]
		cs := &adminv1.ChainStatus{Name: ch.Name, Models: ch.Match.Models}
		leads := src.Leads(ch.Name)
		for j, tg := range ch.Targets {
			st := targetStatus(tg, t.Breaker(ch, j).Snapshot(now), src.TargetStats(tg.Key()), stages, now)
			placeStatus(st, cfg, tg, leads)
			cs.Targets = append(cs.Targets, st)
		}
		out.Chains = append(out.Chains, cs)
	}
	out.Regions = regionStatuses(src.Regions(now))
	return out
}

// explanation maps a routing explanation.
func explanation(ex routing.Explanation) *adminv1.ExplainPlanResponse {
	out := &adminv1.ExplainPlanResponse{Chain: ex.Plan.Chain, SameTargetRetries: int32(ex.Plan.SameTargetRetries)}
	for _, st := range ex.Plan.Steps {
		out.Steps = append(out.Steps, &adminv1.PlanStep{Target: &adminv1.Target{Provider: st.Provider, Model: st.Model},
			Cluster: st.Cluster, Reason: st.Reason, Placement: st.Placement})
	}
	for _, v := range ex.Targets {
		reason := v.Reason
		if !v.Included && v.Breaker.State == breaker.Open && v.Breaker.Opened.Reason != "" {
			reason += " (" + v.Breaker.Opened.Reason + ")"
		}
		out.Targets = append(out.Targets, &adminv1.TargetVerdict{Target: &adminv1.Target{Provider: v.Provider, Model: v.Model},
			Included: v.Included, Position: int32(v.Position), Reason: reason, State: stateOf(v.Breaker.State),
			Tier: int32(v.Tier), Weight: int32(v.Weight), Region: v.Region, LeadShare: v.Lead, Placement: v.Placement})
	}
	if ex.Err != nil {
		out.Error = ex.Err.Error()
	}
	return out
}

// event maps an audit event.
func event(e events.Event) *adminv1.Event {
	out := &adminv1.Event{
		V: int32(e.V), Seq: e.Seq, Time: ts(e.Time), Kind: string(e.Kind), RequestId: e.RequestID, Chain: e.Chain,
		Client: e.Client, Reason: e.Reason, Status: int32(e.Status), Attempt: int32(e.Attempt),
		AddedLatencyMs: e.AddedLatencyMS, BreakerFrom: e.BreakerFrom, BreakerTo: e.BreakerTo, Stage: int32(e.Stage),
		Failures: int32(e.Failures), CooldownUntil: ts(e.CooldownUntil), Detail: e.Detail,
	}
	if !e.From.IsZero() {
		out.From = &adminv1.Target{Provider: e.From.Provider, Model: e.From.Model}
	}
	if !e.To.IsZero() {
		out.To = &adminv1.Target{Provider: e.To.Provider, Model: e.To.Model}
	}
	return out
}
