package routing

import (
	"strconv"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
)

// This file orders a chain's tiers (config.Target.Tier): a tier's targets
// come in a weighted random order drawn for each request, so the first of
// them that admits the request leads a tier with the share of its weight
// among the tier's admitting targets; the tiers keep their order.

// chainInfo is what a table precomputes about a chain for arranging its
// plans: whether it has tiers or regions, and each target's placement text
// for the trace (placements).
type chainInfo struct {
	tiered  bool
	regions []string // each target's region ("" for none); nil when no target has one
	served  map[string]bool
	// place[i][s] is target i's placement in situation s (situation).
	place [][situations]string
}

// prepare computes ch's chainInfo.
func (t *Table) prepare(ch *config.Chain) *chainInfo {
	info := &chainInfo{tiered: ch.Tiered(), served: map[string]bool{}}
	for _, tg := range ch.Targets {
		if r := t.cfg.RegionOf(tg); r != "" {
			info.regions = make([]string, len(ch.Targets))
			break
		}
	}
	for i, tg := range ch.Targets {
		if info.regions != nil {
			info.regions[i] = t.cfg.RegionOf(tg)
			info.served[info.regions[i]] = true
		}
	}
	info.place = make([][situations]string, len(ch.Targets))
	for i := range ch.Targets {
		tier := tierPlacement(ch, i)
		for s := range situations {
			info.place[i][s] = joinPlacement(tier, regionPlacement(info, i, situation(s)))
		}
	}
	return info
}

// tierPlacement is "tier=N;weight=W/TOTAL" for a tier's target, else "".
func tierPlacement(ch *config.Chain, i int) string {
	tg := ch.Targets[i]
	if tg.Tier == 0 {
		return ""
	}
	total := 0
	for j := range ch.Targets {
		if ch.SameTier(i, j) {
			total += ch.Targets[j].Weight
		}
	}
	return "tier=" + strconv.Itoa(tg.Tier) + ";weight=" + strconv.Itoa(tg.Weight) + "/" + strconv.Itoa(total)
}

func joinPlacement(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + ";" + b
}

// drawTiers reorders each tier's run of targets in order (indices of ch's
// targets, in chain order) by weighted draws without replacement: the
// first place goes to a target with probability weight / the weights of
// the run, the next among the rest, and so on. A target without a tier
// stays where it is. draw returns a number in [0, 1).
func drawTiers(ch *config.Chain, order []int, draw func() float64) {
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && ch.SameTier(order[start], order[end]) {
			end++
		}
		if ch.Targets[order[start]].Tier > 0 {
			drawRun(ch, order[start:end], draw)
		}
		start = end
	}
}

// drawRun orders run by weighted draws without replacement, in place.
func drawRun(ch *config.Chain, run []int, draw func() float64) {
	total := 0
	for _, i := range run {
		total += ch.Targets[i].Weight
	}
	for k := 0; k < len(run)-1; k++ {
		x := draw() * float64(total)
		pick := len(run) - 1
		acc := 0.0
		for j := k; j < len(run); j++ {
			acc += float64(ch.Targets[run[j]].Weight)
			if x < acc {
				pick = j
				break
			}
		}
		run[k], run[pick] = run[pick], run[k]
		total -= ch.Targets[run[k]].Weight
	}
}

// heaviestFirst orders each tier's run by weight, heaviest first (chain
// order among equal weights): the most likely order of drawTiers, which
// Explain shows.
func heaviestFirst(ch *config.Chain, order []int) {
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && ch.SameTier(order[start], order[end]) {
			end++
		}
		run := order[start:end]
		for k := 1; k < len(run); k++ { // insertion sort: runs are short and it is stable
			for j := k; j > 0 && ch.Targets[run[j]].Weight > ch.Targets[run[j-1]].Weight; j-- {
				run[j], run[j-1] = run[j-1], run[j]
			}
		}
		start = end
	}
}

// explainTiers fills each verdict's tier, weight and region, and the share
// of plans each placed target would lead among its tier's targets that
// admit traffic now (a recovering target by its stage share).
func (t *Table) explainTiers(ch *config.Chain, ex *Explanation, pl placed) {
	info := t.info[ch]
	for i, tg := range ch.Targets {
		v := &ex.Targets[i]
		v.Tier, v.Weight = tg.Tier, tg.Weight
		if info.regions != nil {
			v.Region = info.regions[i]
		}
	}
	admits := func(i int) float64 {
		switch sn := ex.Targets[i].Breaker; sn.State {
		case breaker.Closed, breaker.Recovering:
			return sn.Share
		}
		return 0
	}
	for _, i := range pl.order {
		v := &ex.Targets[i]
		if ch.Targets[i].Tier == 0 {
			if admits(i) > 0 {
				v.Lead = 1
			}
			continue
		}
		total := 0.0
		for _, j := range pl.order {
			if ch.SameTier(i, j) {
				total += float64(ch.Targets[j].Weight) * admits(j)
			}
		}
		if total > 0 {
			v.Lead = float64(ch.Targets[i].Weight) * admits(i) / total
		}
	}
}
