package config

import "fmt"

// Tier and weight bounds (Target.Tier, Target.Weight).
const (
	// MaxTier is the highest tier number.
	MaxTier = 32
	// MaxWeight is the highest weight of a tier's target.
	MaxWeight = 1000
)

// applyTierDefaults gives a tier's targets without a weight weight 1, and
// the chain its default residency.
func (ch *Chain) applyTierDefaults() {
	for j := range ch.Targets {
		if t := &ch.Targets[j]; t.Tier > 0 && t.Weight == 0 {
			t.Weight = 1
		}
	}
	if ch.Residency == "" {
		ch.Residency = ResidencyPrefer
	}
}

// Tiered reports whether any target of the chain is in a tier.
func (ch *Chain) Tiered() bool {
	for _, t := range ch.Targets {
		if t.Tier > 0 {
			return true
		}
	}
	return false
}

// SameTier reports whether the chain's targets i and j are in one tier
// (a target without a tier is in a tier of its own).
func (ch *Chain) SameTier(i, j int) bool {
	return i == j || ch.Targets[i].Tier > 0 && ch.Targets[i].Tier == ch.Targets[j].Tier
}

// validateTiers checks the tiers and weights of a chain's targets; path
// names the chain: tier and weight bounds, a weight only in a tier, a
// tier's targets adjacent and tier numbers not decreasing along the list.
func (c *Config) validateTiers(p *problems, path string, ch *Chain) {
	last := 0 // the last tier number seen
	for j, t := range ch.Targets {
		at := fmt.Sprintf("%s.targets[%d]", path, j)
		if t.Tier == 0 {
			if t.Weight != 0 {
				p.bad(at+".weight", "a weight needs a tier: set tier on the targets that share traffic")
			}
			continue
		}
		p.intIn(at+".tier", t.Tier, 1, MaxTier)
		p.intIn(at+".weight", t.Weight, 1, MaxWeight)
		switch {
		case t.Tier < last:
			p.bad(at+".tier", "tier %d after tier %d: tier numbers must not decrease along the list (the list is the fallback order)", t.Tier, last)
		case t.Tier == last && j > 0 && ch.Targets[j-1].Tier != t.Tier:
			p.bad(at+".tier", "tier %d is split: a tier's targets must be adjacent", t.Tier)
		}
		last = t.Tier
	}
}
