package config

import "slices"

// Shapes are the plan shapes the Envoy 1.38 topology gives an aggregate
// cluster, at most envoy.max_shapes: sequences of two or more distinct
// provider clusters in an order a plan can take: chain order, then the
// orders tiers and regions make (targetOrders). Every chain's whole
// sequences come first (the default chain's first), then the in-order
// subsequences with one target fewer, and so on, so the shapes of plans
// that leave out fewer targets are kept when the cap cuts. A chain that
// names a provider twice keeps its first occurrence: an aggregate cannot
// hold a cluster twice. A chain with affinity also gets the stay orders of
// its chain order (each later cluster first, stayOrders), after every
// chain's own sequences, with their subsequences.
func (c *Config) Shapes() [][]string {
	var seqs, stays [][]string
	add := func(ch *Chain) {
		for k, order := range c.targetOrders(ch) { // chain order first; tiers and regions reorder (shapes_tiers.go)
			var seq []string
			for _, j := range order {
				t := ch.Targets[j]
				cl := t.Provider
				if p := c.Provider(t.Provider); p != nil && p.Cluster != "" {
					cl = p.Cluster
				}
				if !slices.Contains(seq, cl) {
					seq = append(seq, cl)
				}
			}
			seqs = append(seqs, seq)
			if k == 0 && ch.Affinity {
				stays = append(stays, stayOrders(seq)...) // affinity.go
			}
		}
	}
	if ch := c.Chain(c.DefaultChain); ch != nil {
		add(ch)
	}
	for i := range c.Chains {
		if c.Chains[i].Name != c.DefaultChain {
			add(&c.Chains[i])
		}
	}
	seqs = append(seqs, stays...)
	limit := c.Envoy.MaxShapes
	var shapes [][]string
	seen := map[string]bool{}
	longest := 0
	for _, s := range seqs {
		longest = max(longest, len(s))
	}
	for drop := 0; drop <= longest-2; drop++ {
		for _, s := range seqs {
			keep := len(s) - drop
			if keep < 2 {
				continue
			}
			full := eachCombination(len(s), keep, func(idx []int) bool {
				if len(shapes) >= limit {
					return false
				}
				shape := make([]string, len(idx))
				for i, j := range idx {
					shape[i] = s[j]
				}
				key := string(appendJoined(nil, shape))
				if !seen[key] {
					seen[key] = true
					shapes = append(shapes, shape)
				}
				return true
			})
			if !full {
				return shapes
			}
		}
	}
	return shapes
}

// eachCombination calls f with every k-subset of 0..n-1, in increasing
// order and lexicographically, until f returns false; it reports whether
// every subset was visited.
func eachCombination(n, k int, f func([]int) bool) bool {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if !f(idx) {
			return false
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return true
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

func appendJoined(b []byte, s []string) []byte {
	for _, x := range s {
		b = append(b, x...)
		b = append(b, 0)
	}
	return b
}
