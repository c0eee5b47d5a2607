package config

import "fmt"

// Residency says whether a chain's requests may leave their region.
type Residency string

// The residencies.
const (
	// ResidencyPrefer plans the preferred region's targets first, then the others.
	ResidencyPrefer Residency = "prefer"
	// ResidencyStrict plans only the preferred region's targets.
	ResidencyStrict Residency = "strict"
)

// Region defaults (Routing.RegionalOutageShare, Routing.RegionalOutageMinTargets).
const (
	DefaultRegionalOutageShare      = 0.5
	DefaultRegionalOutageMinTargets = 2
)

// RegionOf is the region of target t: its own, else its provider's ("" for none).
func (c *Config) RegionOf(t Target) string {
	if t.Region != "" {
		return t.Region
	}
	if p := c.Provider(t.Provider); p != nil {
		return p.Region
	}
	return ""
}

// Regions are the regions of every target of every chain, each once, in
// configuration order.
func (c *Config) Regions() []string {
	var out []string
	seen := map[string]bool{}
	for i := range c.Chains {
		for _, t := range c.Chains[i].Targets {
			if r := c.RegionOf(t); r != "" && !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

func (r *Routing) applyRegionDefaults() {
	if r.RegionalOutageShare == nil {
		s := DefaultRegionalOutageShare
		r.RegionalOutageShare = &s
	}
	setInt(&r.RegionalOutageMinTargets, DefaultRegionalOutageMinTargets)
}

func (r *Routing) validateRegions(p *problems) {
	if s := r.RegionalOutageShare; s != nil && !(*s >= 0 && *s <= 1) {
		p.bad("routing.regional_outage_share", "%v is outside 0..1", *s)
	}
	p.intIn("routing.regional_outage_min_targets", r.RegionalOutageMinTargets, 1, 1000)
}

// validRegion records a problem at path unless region is empty or a name.
func validRegion(p *problems, path, region string) {
	if region != "" && !nameRE.MatchString(region) {
		p.bad(path, "%q must match %s", region, nameRE)
	}
}

// validateRegionRefs checks the regions of targets (a name; one region per
// provider/model), chains (residency, a region some target of the chain is
// in) and client policies (a region some target is in).
func (c *Config) validateRegionRefs(p *problems) {
	byKey := map[string]string{}
	known := map[string]bool{}
	for i := range c.Chains {
		ch := &c.Chains[i]
		path := fmt.Sprintf("chains[%d]", i)
		inChain := map[string]bool{}
		for j, t := range ch.Targets {
			validRegion(p, fmt.Sprintf("%s.targets[%d].region", path, j), t.Region)
			r := c.RegionOf(t)
			if prev, ok := byKey[t.Key()]; ok && prev != r {
				p.bad(fmt.Sprintf("%s.targets[%d].region", path, j), "target %s is in region %q in an earlier chain: a target has one region", t.Key(), prev)
			}
			byKey[t.Key()] = r
			inChain[r], known[r] = true, true
		}
		if ch.Residency != ResidencyPrefer && ch.Residency != ResidencyStrict {
			p.bad(path+".residency", "%q is not prefer or strict", ch.Residency)
		}
		if ch.Region != "" && !inChain[ch.Region] {
			p.bad(path+".region", "no target of the chain is in region %q", ch.Region)
		}
	}
	check := func(path, r string) {
		if r != "" && !known[r] {
			p.bad(path, "no target is in region %q", r)
		}
	}
	check("clients.default.region", c.Clients.Default.Region)
	for i, k := range c.Clients.List {
		check(fmt.Sprintf("clients.list[%d].region", i), k.Region)
	}
}
