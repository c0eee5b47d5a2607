package config

import "slices"

// maxOrders bounds the target orders targetOrders makes of one chain; the
// shapes of further orders would be cut by envoy.max_shapes anyway.
const maxOrders = 64

// targetOrders are the orders of ch's targets (indices) a plan can take,
// chain order first: every permutation of each tier's targets (a plan
// draws them by weight), then, for each region of the chain, each of those
// with the region's targets first (a request preferring it) and last (the
// region in outage). A chain without tiers or regions has chain order
// only.
func (c *Config) targetOrders(ch *Chain) [][]int {
	base := make([]int, len(ch.Targets))
	for i := range base {
		base[i] = i
	}
	orders := [][]int{base}
	for start := 0; start < len(base); {
		end := start + 1
		for end < len(base) && ch.SameTier(start, end) {
			end++
		}
		if end-start > 1 {
			var next [][]int
			for _, o := range orders {
				permute(o[start:end], func() {
					if len(next) < maxOrders {
						next = append(next, slices.Clone(o))
					}
				})
			}
			orders = next
		}
		start = end
	}
	var regions []string
	for _, t := range ch.Targets {
		if r := c.RegionOf(t); r != "" && !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	tiered := len(orders)
	for _, r := range regions {
		in := func(j int) bool { return c.RegionOf(ch.Targets[j]) == r }
		for _, o := range orders[:tiered] {
			for _, first := range []bool{true, false} {
				if len(orders) >= maxOrders {
					return orders
				}
				p := slices.Clone(o)
				slices.SortStableFunc(p, func(a, b int) int {
					ra, rb := in(a) == first, in(b) == first
					switch {
					case ra && !rb:
						return -1
					case rb && !ra:
						return 1
					}
					return 0
				})
				orders = append(orders, p)
			}
		}
	}
	return orders
}

// permute calls f once for every permutation of s (Heap's algorithm), the
// order s has first; s holds each permutation during its call and its
// last permutation after.
func permute(s []int, f func()) {
	var gen func(k int)
	gen = func(k int) {
		if k <= 1 {
			f()
			return
		}
		for i := 0; i < k-1; i++ {
			gen(k - 1)
			if k%2 == 0 {
				s[i], s[k-1] = s[k-1], s[i]
			} else {
				s[0], s[k-1] = s[k-1], s[0]
			}
		}
		gen(k - 1)
	}
	gen(len(s))
}
