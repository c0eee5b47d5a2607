package admin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// regionConfig has a tier of two targets in two regions and a fallback.
const regionConfig = `
providers:
  - {name: east1, api: openai, host: e1.example, region: us-east}
  - {name: east2, api: openai, host: e2.example, region: us-east}
  - {name: west, api: openai, host: w.example, region: eu-west}
chains:
  - name: main
    match: {models: [m]}
    targets:
      - {provider: east1, model: m, tier: 1, weight: 3}
      - {provider: west, model: m, tier: 1, weight: 1}
      - {provider: east2, model: m}
breaker:
  consecutive_failures: 3
  open_for: 30s
  jitter: 0
`

// TestGetStatus_ShowsTiersAndRegionOutages verifies the status gives each
// target its tier, weight and region, and lists the regions with the one
// whose targets opened in outage since then.
func TestGetStatus_ShowsTiersAndRegionOutages(t *testing.T) {
	f := newService(t, fixtureOptions{config: regionConfig})
	now := f.clock.Now()
	f.srv.Registry().Lookup("east1/m").Trip(now, time.Minute, "test")
	st, err := f.svc.GetStatus(context.Background(), &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tg := st.GetChains()[0].GetTargets()[0]
	if tg.GetTier() != 1 || tg.GetWeight() != 3 || tg.GetRegion() != "us-east" || tg.GetLed() != 0 || tg.GetLedShare() != 0 {
		t.Errorf("east1 status = %v, want tier 1, weight 3, us-east, nothing led yet", tg)
	}
	rs := st.GetRegions()
	if len(rs) != 2 || rs[0].GetRegion() != "eu-west" || rs[0].GetOutage() || rs[1].GetRegion() != "us-east" || !rs[1].GetOutage() ||
		rs[1].GetOpen() != 1 || rs[1].GetTargets() != 2 || !rs[1].GetSince().AsTime().Equal(now) {
		t.Errorf("regions = %v, want eu-west fine and us-east in outage since %v with 1 of 2 open", rs, now)
	}
}

// TestExplainPlan_ShowsTierLeadsAndRegionPlacement verifies the explanation
// puts a preferred region first, names each step's placement, and gives a
// tier target the share of plans it would lead.
func TestExplainPlan_ShowsTierLeadsAndRegionPlacement(t *testing.T) {
	f := newService(t, fixtureOptions{config: regionConfig})
	ex, err := f.svc.ExplainPlan(context.Background(), &adminv1.ExplainPlanRequest{Model: "m", Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	steps := ex.GetSteps()
	if len(steps) != 3 || steps[0].GetTarget().GetProvider() != "west" || steps[0].GetPlacement() != "tier=1;weight=1/4;region=eu-west:preferred" {
		t.Fatalf("steps = %v, want west first, placed as preferred", steps)
	}
	v := ex.GetTargets()[0]
	if v.GetLeadShare() != 0.75 || v.GetTier() != 1 || v.GetWeight() != 3 || v.GetPlacement() != "tier=1;weight=3/4;region=us-east:other" {
		t.Errorf("east1 verdict = %v, want lead share 0.75 in tier 1, weight 3, placed other", v)
	}
	ex, err = f.svc.ExplainPlan(context.Background(), &adminv1.ExplainPlanRequest{Model: "m", Region: "mars"})
	if err != nil || !strings.Contains(ex.GetError(), "unknown region") {
		t.Fatalf("an unknown region: %v, error %q; want the explanation to say unknown region", err, ex.GetError())
	}
}
