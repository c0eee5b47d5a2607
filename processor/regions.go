package processor

import (
	"errors"
	"fmt"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file is the processor's side of regions (routing/region.go,
// docs/tiers-regions.md): the region a request prefers, the answers when
// the plan cannot honour it, and the regional outages' logs, metrics and
// audit events.

// maxRegionHeader bounds the x-llm-failover-region value kept; a longer
// one names no region (region names have at most 60 bytes).
const maxRegionHeader = 64

// noteRegion keeps the x-llm-failover-region header when
// routing.region_header is on.
func (r *routeStream) noteRegion(hs map[string]string) {
	if r.st.cfg.Routing.RegionHeader {
		r.region = truncate(hs[contract.HeaderRegion], maxRegionHeader)
	}
}

// preferredRegion is the region the request prefers: its client policy's
// region, else the header's; "" leaves the chain's region.
func (r *routeStream) preferredRegion() string {
	cl := &r.st.cfg.Clients
	if c := r.client.id.Client; c != nil && c.Known() {
		for i := range cl.List {
			if cl.List[i].Name == c.Name && cl.List[i].Region != "" {
				return cl.List[i].Region
			}
		}
	} else if cl.Default.Region != "" {
		return cl.Default.Region
	}
	return r.region
}

// rejectRegion answers a *routing.RegionError (nil for any other error):
// 400 unknown_region or region_required, 503 region_unavailable.
func (r *routeStream) rejectRegion(ch *config.Chain, err error) []*extprocv3.ProcessingResponse {
	var re *routing.RegionError
	if !errors.As(err, &re) {
		return nil
	}
	status, e := 400, provider.ErrorObject{Type: "invalid_request_error"}
	switch {
	case errors.Is(err, routing.ErrUnknownRegion):
		e.Code = "unknown_region"
		e.Message = fmt.Sprintf("no target is in region %q; the configured regions are %s", re.Region, strings.Join(r.st.cfg.Regions(), ", "))
	case errors.Is(err, routing.ErrRegionRequired):
		e.Code = "region_required"
		e.Message = fmt.Sprintf("chain %q keeps every request in its region (residency strict) and this request names none", ch.Name)
		if r.st.cfg.Routing.RegionHeader {
			e.Message += ": send the " + contract.HeaderRegion + " header"
		}
	default:
		status, e.Type, e.Code = 503, "server_error", "region_unavailable"
		e.Message = fmt.Sprintf("chain %q keeps requests in region %q (residency strict) and none of its targets there can take this one now; it was not sent elsewhere", ch.Name, re.Region)
		if re.AllOpen {
			e.Message = fmt.Sprintf("every target of chain %q in region %q is unavailable (circuit open) and the chain keeps requests in their region (residency strict); retry later", ch.Name, re.Region)
		}
	}
	r.auditDenial(status, e.Code, ch.Name)
	return r.rejectWith(status, e.Code, e)
}

// regionChanged logs, counts and publishes a regional outage's start or end.
func (s *Server) regionChanged(c routing.RegionChange) {
	detail := fmt.Sprintf("%d of %d targets open", c.Open, c.Targets)
	if c.Outage {
		s.log.Warn("regional outage", "region", c.Region, "open", c.Open, "targets", c.Targets)
		s.tel.CountRegionOutage(c.Region)
	} else {
		s.log.Info("regional outage ended", "region", c.Region, "open", c.Open, "targets", c.Targets, timeAttr("since", c.Since))
	}
	if s.events == nil {
		return
	}
	e := events.Event{Kind: events.KindRegionOutage, Time: c.At, Region: c.Region, Reason: "start", Detail: detail}
	if !c.Outage {
		e.Reason, e.Since = "end", c.Since
	}
	s.events.Publish(e)
}

// regionGauges yields every configured region's state for the gauges.
func (s *Server) regionGauges(yield func(telemetry.RegionGauge)) {
	for _, st := range s.registry.Regions(s.clock.Now()) {
		yield(telemetry.RegionGauge{Region: st.Region, Open: st.Open, Targets: st.Targets, Outage: st.Outage})
	}
}
