package cost

import (
	"math"
	"testing"
)

// FuzzParseTable verifies any price table either parses into finite,
// non-negative prices whose costs are finite and non-negative, or is
// refused; Lookup never panics on any model name.
func FuzzParseTable(f *testing.F) {
	f.Add([]byte(shippedYAML), "gpt-4o-2024-08-06")
	f.Add([]byte("models: {m: {input: 1, output: 2}}"), "m-latest")
	f.Add([]byte("models: {m: {input: 1e400, output: 2}}"), "m")
	f.Fuzz(func(t *testing.T, b []byte, model string) {
		tab, err := ParseTable(b)
		if err != nil {
			return
		}
		p, ok := tab.Lookup(model)
		if !ok {
			return
		}
		c := Of(Usage{Input: 1 << 40, CachedInput: 1 << 39, Output: 1 << 40}, p)
		if math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
			t.Fatalf("Of at %+v = %v", p, c)
		}
	})
}
