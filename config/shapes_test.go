package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestConfig_ShapesOrderAndCap verifies Shapes lists whole chains first
// (the default chain's first), then subsequences with fewer targets, keeps
// chain order inside a shape (a chain with affinity also each later target
// first, after every chain's own), drops repeated clusters and shapes, and
// stops at envoy.max_shapes.
func TestConfig_ShapesOrderAndCap(t *testing.T) {
	const providers = `
providers:
  - {name: a, api: openai, host: a.example}
  - {name: b, api: openai, host: b.example}
  - {name: c, api: openai, host: c.example}
  - {name: d, api: openai, host: d.example}
`
	tests := []struct {
		name   string
		chains string
		max    int
		want   []string
	}{
		{"one target has no shape", `
chains:
  - {name: x, match: {models: [m]}, targets: [{provider: a, model: m}]}
`, 64, nil},
		{"three targets: whole, then pairs in order", `
chains:
  - {name: x, match: {models: [m]}, targets: [{provider: a, model: m}, {provider: b, model: m}, {provider: c, model: m}]}
`, 64, []string{"a b c", "a b", "a c", "b c"}},
		{"the default chain comes first", `
default_chain: y
chains:
  - {name: x, match: {models: [m]}, targets: [{provider: a, model: m}, {provider: b, model: m}]}
  - {name: y, match: {models: [n]}, targets: [{provider: c, model: m}, {provider: d, model: m}]}
`, 64, []string{"c d", "a b"}},
		{"a provider named twice counts once", `
chains:
  - {name: x, match: {models: [m]}, targets: [{provider: a, model: m}, {provider: b, model: m}, {provider: a, model: n}]}
`, 64, []string{"a b"}},
		{"shared shapes are listed once", `
chains:
  - {name: x, match: {models: [m]}, targets: [{provider: a, model: m}, {provider: b, model: m}]}
  - {name: y, match: {models: [n]}, targets: [{provider: a, model: n}, {provider: b, model: n}]}
`, 64, []string{"a b"}},
		{"affinity adds each later target first, after the chains' own", `
chains:
  - {name: x, match: {models: [m]}, affinity: true, targets: [{provider: a, model: m}, {provider: b, model: m}, {provider: c, model: m}]}
  - {name: y, match: {models: [n]}, targets: [{provider: d, model: m}, {provider: a, model: m}]}
`, 64, []string{"a b c", "d a", "b a c", "c a b", "a b", "a c", "b c", "b a", "c a", "c b"}},
		{"the cap keeps the longest shapes", `
chains:
  - {name: x, match: {models: [m]}, targets: [{provider: a, model: m}, {provider: b, model: m}, {provider: c, model: m}, {provider: d, model: m}]}
`, 3, []string{"a b c d", "a b c", "a b d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(providers + tt.chains + fmt.Sprintf("envoy: {max_shapes: %d}\n", tt.max)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range c.Shapes() {
				got = append(got, strings.Join(s, " "))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Shapes: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestConfig_ShapesBoundedForLongChains verifies a long chain's shapes stop
// at the cap without enumerating every subsequence.
func TestConfig_ShapesBoundedForLongChains(t *testing.T) {
	var b strings.Builder
	b.WriteString("providers:\n")
	for i := range 30 {
		fmt.Fprintf(&b, "  - {name: p%d, api: openai, host: p%d.example}\n", i, i)
	}
	b.WriteString("chains:\n  - name: x\n    match: {models: [m]}\n    targets:\n")
	for i := range 30 {
		fmt.Fprintf(&b, "      - {provider: p%d, model: m}\n", i)
	}
	b.WriteString("limits: {max_targets: 30}\nenvoy: {max_shapes: 4096}\n")
	c, err := Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Shapes()); got != 4096 {
		t.Errorf("len(Shapes): got %d, want 4096", got)
	}
}
