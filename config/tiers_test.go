package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// tiered is a configuration with two regions and a tier of two targets.
const tiered = `
providers:
  - {name: a, api: openai, host: a.example, region: eu}
  - {name: b, api: openai, host: b.example, region: us}
  - {name: c, api: openai, host: c.example}
chains:
  - name: main
    match: {models: [m]}
    targets:
      - {provider: a, model: m, tier: 1, weight: 3}
      - {provider: b, model: m, tier: 1}
      - {provider: c, model: m, region: ap}
`

// TestParse_TiersAndRegionsDefaults verifies a tier's targets default to
// weight 1, targets take their provider's region unless they set one, and
// the routing and residency defaults.
func TestParse_TiersAndRegionsDefaults(t *testing.T) {
	c, err := config.Parse([]byte(tiered))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	ch := &c.Chains[0]
	if got := []int{ch.Targets[0].Weight, ch.Targets[1].Weight, ch.Targets[2].Weight}; !slices.Equal(got, []int{3, 1, 0}) {
		t.Errorf("weights = %v, want [3 1 0]", got)
	}
	if got := []string{c.RegionOf(ch.Targets[0]), c.RegionOf(ch.Targets[1]), c.RegionOf(ch.Targets[2])}; !slices.Equal(got, []string{"eu", "us", "ap"}) {
		t.Errorf("regions = %v, want [eu us ap]", got)
	}
	if got := c.Regions(); !slices.Equal(got, []string{"eu", "us", "ap"}) {
		t.Errorf("Regions() = %v, want [eu us ap]", got)
	}
	if ch.Residency != config.ResidencyPrefer || *c.Routing.RegionalOutageShare != 0.5 || c.Routing.RegionalOutageMinTargets != 2 || c.Routing.RegionHeader {
		t.Errorf("residency %q, outage share %v, min targets %d, header %v; want prefer, 0.5, 2, false",
			ch.Residency, *c.Routing.RegionalOutageShare, c.Routing.RegionalOutageMinTargets, c.Routing.RegionHeader)
	}
	if !ch.Tiered() || !ch.SameTier(0, 1) || ch.SameTier(1, 2) {
		t.Errorf("Tiered %v, SameTier(0,1) %v, SameTier(1,2) %v; want true, true, false", ch.Tiered(), ch.SameTier(0, 1), ch.SameTier(1, 2))
	}
}

// TestValidate_TiersAndRegionsProblems verifies each tier, weight, region
// and residency problem is reported at its path, and limits are accepted.
func TestValidate_TiersAndRegionsProblems(t *testing.T) {
	tests := []struct {
		name    string
		targets string
		extra   string
		want    []string
	}{
		{"weight without tier", `[{provider: a, model: m, weight: 2}]`, "", []string{"chains[0].targets[0].weight"}},
		{"tier above 32", `[{provider: a, model: m, tier: 33}]`, "", []string{"chains[0].targets[0].tier"}},
		{"weight above 1000", `[{provider: a, model: m, tier: 1, weight: 1001}]`, "", []string{"chains[0].targets[0].weight"}},
		{"limits accepted", `[{provider: a, model: m, tier: 32, weight: 1000}]`, "", nil},
		{"decreasing tiers", `[{provider: a, model: m, tier: 2}, {provider: b, model: m, tier: 1}]`, "", []string{"chains[0].targets[1].tier"}},
		{"split tier", `[{provider: a, model: m, tier: 1}, {provider: b, model: m}, {provider: c, model: m, tier: 1}]`, "", []string{"chains[0].targets[2].tier"}},
		{"bad region name", `[{provider: a, model: m, region: "EU West"}]`, "", []string{"chains[0].targets[0].region"}},
		{"residency unknown", `[{provider: a, model: m}]`, "    residency: never\n", []string{"chains[0].residency"}},
		{"chain region not served", `[{provider: a, model: m}]`, "    region: us\n", []string{"chains[0].region"}},
		{"strict in a served region", `[{provider: a, model: m}]`, "    region: eu\n    residency: strict\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := `
providers:
  - {name: a, api: openai, host: a.example, region: eu}
  - {name: b, api: openai, host: b.example}
  - {name: c, api: openai, host: c.example}
chains:
  - name: main
    match: {models: [m]}
    targets: ` + tt.targets + "\n" + tt.extra
			_, err := config.Parse([]byte(y))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Parse error = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse error = nil, want problems at %v", tt.want)
			}
			if got := fieldPaths(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problem paths = %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

// TestValidate_RegionReferencesAndOutageBounds verifies a target keeps one
// region across chains, a client's region must be served, and the outage
// settings' bounds.
func TestValidate_RegionReferencesAndOutageBounds(t *testing.T) {
	y := `
providers:
  - {name: a, api: openai, host: a.example, region: eu}
chains:
  - name: one
    match: {models: [m]}
    targets: [{provider: a, model: m}]
  - name: two
    match: {models: [n]}
    targets: [{provider: a, model: m, region: us}]
routing: {regional_outage_share: 1.5, regional_outage_min_targets: -1}
clients:
  default: {region: mars}
`
	_, err := config.Parse([]byte(y))
	want := []string{"routing.regional_outage_share", "routing.regional_outage_min_targets", "chains[1].targets[0].region", "clients.default.region"}
	if got := fieldPaths(t, err); !slices.Equal(got, want) {
		t.Errorf("problem paths = %v, want %v (%v)", got, want, err)
	}
}

// TestConfig_ShapesCoverTierAndRegionOrders verifies the Envoy 1.38 shapes
// include every order a tier's draws make and each region first and last,
// so a reordered plan keeps all its attempts.
func TestConfig_ShapesCoverTierAndRegionOrders(t *testing.T) {
	tests := []struct {
		name, targets string
		want          []string
	}{
		{"tier of three then one", `[{provider: a, model: m, tier: 1}, {provider: b, model: m, tier: 1}, {provider: c, model: m, tier: 1}, {provider: d, model: m}]`,
			[]string{"a b c d", "b a c d", "c a b d", "a c b d", "b c a d", "c b a d"}},
		{"regions first and last", `[{provider: a, model: m}, {provider: b, model: m, region: r2}, {provider: c, model: m, region: r1}]`,
			[]string{"a b c", "a c b", "b a c"}}, // r1 = {a, c} first and last; r2 = {b} first and last
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse([]byte(`
providers:
  - {name: a, api: openai, host: a.example, region: r1}
  - {name: b, api: openai, host: b.example}
  - {name: c, api: openai, host: c.example}
  - {name: d, api: openai, host: d.example}
chains:
  - {name: x, match: {models: [m]}, targets: ` + tt.targets + `}
`))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range c.Shapes() {
				got = append(got, strings.Join(s, " "))
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("shapes %v lack %q", got, w)
				}
			}
			if got[0] != tt.want[0] {
				t.Errorf("first shape %q, want chain order %q", got[0], tt.want[0])
			}
		})
	}
}
