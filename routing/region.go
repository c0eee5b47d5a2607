package routing

import (
	"errors"
	"fmt"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
)

// This file places a chain's targets by region (config.Provider.Region,
// config.Target.Region): a request's preferred region first, then the
// others; the targets of a region in outage (regionwatch.go) behind every
// other region's; and, for a chain with residency strict, only the
// preferred region's.

// Sentinel errors of region placement; the processor maps them to HTTP
// statuses once.
var (
	// ErrUnknownRegion: the request prefers a region no target is in (400).
	ErrUnknownRegion = errors.New("unknown region")
	// ErrRegionRequired: the chain has residency strict and the request
	// has no region (400).
	ErrRegionRequired = errors.New("region required")
	// ErrRegionUnavailable: the chain has residency strict and no target of
	// the request's region can take it (503).
	ErrRegionUnavailable = errors.New("region unavailable")
)

// RegionError says which chain and region a region error is about; it
// wraps one of the region sentinels (and ErrAllOpen when every target of
// the region is open).
type RegionError struct {
	Chain, Region string
	Err           error
	// AllOpen is set when the region's targets are all open.
	AllOpen bool
}

func (e *RegionError) Error() string {
	switch {
	case errors.Is(e.Err, ErrRegionRequired):
		return fmt.Sprintf("routing: chain %q keeps requests in their region (residency strict) and the request names none: %v", e.Chain, e.Err)
	case errors.Is(e.Err, ErrUnknownRegion):
		return fmt.Sprintf("routing: no target is in region %q: %v", e.Region, e.Err)
	case e.AllOpen:
		return fmt.Sprintf("routing: chain %q: every target in region %q is unavailable (circuit open): %v", e.Chain, e.Region, e.Err)
	}
	return fmt.Sprintf("routing: chain %q keeps requests in region %q (residency strict) and none of its targets there can take this one: %v", e.Chain, e.Region, e.Err)
}

// Unwrap lets errors.Is match the sentinel, and ErrAllOpen when AllOpen.
func (e *RegionError) Unwrap() []error {
	if e.AllOpen {
		return []error{e.Err, ErrAllOpen}
	}
	return []error{e.Err}
}

// situation is where a target stands for a request's region placement.
type situation uint8

const (
	sitNeutral   situation = iota // no preference, not in outage
	sitPreferred                  // in the preferred region
	sitOther                      // a preference elsewhere
	sitOutage                     // its region is in outage
	situations
)

// rank orders situations in a plan: preferred, then neutral or other, then
// the preferred region in outage, then other regions in outage.
func rank(s situation, preferred bool) int {
	switch {
	case s == sitPreferred:
		return 0
	case s != sitOutage:
		return 1
	case preferred:
		return 2
	}
	return 3
}

// regionPlacement is "region=R" and, for a situation other than neutral,
// ":preferred", ":other" or ":outage"; "" for a target without a region.
func regionPlacement(info *chainInfo, i int, s situation) string {
	if info.regions == nil || info.regions[i] == "" {
		return ""
	}
	out := "region=" + info.regions[i]
	switch s {
	case sitPreferred:
		out += ":preferred"
	case sitOther:
		out += ":other"
	case sitOutage:
		out += ":outage"
	}
	return out
}

// placed is a chain's candidates in the order planning tries them, with
// each one's placement situation.
type placed struct {
	order []int
	sit   []situation // by position in order; nil when all neutral
}

// arrange orders the candidates (indices of ch's targets in chain order)
// for a request: tiers drawn by weight (drawTiers; or heaviest first for
// Explain, when draw is nil), then placed by region. It fails with a
// *RegionError when the request's region is unknown, or when the chain is
// strict and the request has no region or the region no candidate.
func (t *Table) arrange(ch *config.Chain, candidates []int, now time.Time, region string, draw func() float64) (placed, error) {
	info := t.info[ch]
	pl := placed{order: candidates}
	if info.tiered {
		if draw != nil {
			drawTiers(ch, pl.order, draw)
		} else {
			heaviestFirst(ch, pl.order)
		}
	}
	if region == "" {
		region = ch.Region
	}
	if region != "" && !t.known[region] {
		return pl, &RegionError{Chain: ch.Name, Region: region, Err: ErrUnknownRegion}
	}
	strict := ch.Residency == config.ResidencyStrict
	if strict && region == "" {
		return pl, &RegionError{Chain: ch.Name, Err: ErrRegionRequired}
	}
	if info.regions == nil {
		if strict {
			return pl, &RegionError{Chain: ch.Name, Region: region, Err: ErrRegionUnavailable}
		}
		return pl, nil
	}
	outage := t.regions.Outages()
	if region == "" && len(outage) == 0 {
		return pl, nil
	}
	pl.sit = make([]situation, 0, len(pl.order))
	kept := pl.order[:0]
	for _, i := range pl.order {
		r := info.regions[i]
		if strict && r != region {
			continue
		}
		s := sitNeutral
		switch {
		case outage[r]:
			s = sitOutage
		case region == "":
		case r == region:
			s = sitPreferred
		default:
			s = sitOther
		}
		kept = append(kept, i)
		pl.sit = append(pl.sit, s)
	}
	pl.order = kept
	if len(pl.order) == 0 {
		return pl, &RegionError{Chain: ch.Name, Region: region, Err: ErrRegionUnavailable}
	}
	pl.sortByRank(info, region)
	t.probeOutageFirst(ch, &pl, now)
	return pl, nil
}

// sortByRank orders pl stably by rank (insertion sort: plans are short).
func (pl *placed) sortByRank(info *chainInfo, region string) {
	rk := func(k int) int { return rank(pl.sit[k], info.regions[pl.order[k]] == region) }
	for k := 1; k < len(pl.order); k++ {
		for j := k; j > 0 && rk(j) < rk(j-1); j-- {
			pl.order[j], pl.order[j-1] = pl.order[j-1], pl.order[j]
			pl.sit[j], pl.sit[j-1] = pl.sit[j-1], pl.sit[j]
		}
	}
}

// probeOutageFirst moves the first target of a region in outage whose
// breaker is half-open with a free probe slot to the front: a half-open
// target is probed only when it leads a plan, and a region behind every
// other would otherwise never be probed and its outage never end. A target
// the active prober probes synthetically is left to it.
func (t *Table) probeOutageFirst(ch *config.Chain, pl *placed, now time.Time) {
	for k, s := range pl.sit {
		if s != sitOutage {
			continue
		}
		sn := t.breakers[ch][pl.order[k]].Snapshot(now)
		if sn.State != breaker.HalfOpen || sn.ProbesInFlight >= t.cfg.Breaker.HalfOpenProbes ||
			t.probedSynthetically(ch, ch.Targets[pl.order[k]]) { // the active prober probes it (probe.go)
			continue
		}
		i := pl.order[k]
		copy(pl.order[1:k+1], pl.order[:k])
		copy(pl.sit[1:k+1], pl.sit[:k])
		pl.order[0], pl.sit[0] = i, s
		return
	}
}

// placement is the trace text of the target at position k of pl.
func (t *Table) placement(ch *config.Chain, pl placed, k int) string {
	s := sitNeutral
	if pl.sit != nil {
		s = pl.sit[k]
	}
	return t.info[ch].place[pl.order[k]][s]
}

// regionUnavailable is PlanFor's error when nothing is left of a strict
// chain's plan: every target of the region is open.
func regionUnavailable(ch *config.Chain, region string) error {
	if region == "" {
		region = ch.Region
	}
	return &RegionError{Chain: ch.Name, Region: region, Err: ErrRegionUnavailable, AllOpen: true}
}

// allOpen is PlanFor's error when every candidate is open and
// routing.all_open is reject: ErrAllOpen, or for a strict chain a
// *RegionError that also matches ErrRegionUnavailable.
func allOpen(ch *config.Chain, region string) error {
	if ch.Residency == config.ResidencyStrict {
		return regionUnavailable(ch, region)
	}
	return fmt.Errorf("routing: chain %q: %w", ch.Name, ErrAllOpen)
}

// watchRegions records the configured regions and tells the registry's
// watch the configuration's regions and outage settings.
func (t *Table) watchRegions(reg *Registry) {
	for _, r := range t.cfg.Regions() {
		t.known[r] = true
	}
	if t.cfg.Routing.RegionalOutageShare == nil { // a configuration built without ApplyDefaults
		return
	}
	now := time.Now()
	if reg.clock != nil {
		now = reg.clock.Now()
	}
	reg.regions.configure(t.cfg, reg.Lookup, now)
}
