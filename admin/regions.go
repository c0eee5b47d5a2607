package admin

import (
	"github.com/llm-failover/llm-failover/config"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
	"github.com/llm-failover/llm-failover/processor"
	"github.com/llm-failover/llm-failover/routing"
)

// This file maps tiers and regions (docs/tiers-regions.md) to the status:
// a target's tier, weight, region and the plans it led, and the regions'
// outage states.

// placeStatus adds tg's tier, weight and region, and the plans it led of
// its chain's (leads), to st.
func placeStatus(st *adminv1.TargetStatus, cfg *config.Config, tg config.Target, leads processor.Leads) {
	st.Tier, st.Weight, st.Region = int32(tg.Tier), int32(tg.Weight), cfg.RegionOf(tg)
	st.Led = leads.ByTarget[tg.Key()]
	if leads.Plans > 0 {
		st.LedShare = float64(st.Led) / float64(leads.Plans)
	}
}

// regionStatuses maps the regions' states.
func regionStatuses(rs []routing.RegionStatus) []*adminv1.RegionStatus {
	out := make([]*adminv1.RegionStatus, 0, len(rs))
	for _, r := range rs {
		out = append(out, &adminv1.RegionStatus{Region: r.Region, Open: int32(r.Open), Targets: int32(r.Targets), Outage: r.Outage, Since: ts(r.Since)})
	}
	return out
}
