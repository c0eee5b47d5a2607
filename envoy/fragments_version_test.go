package envoy

import (
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// TestFragments_EveryEnvoyVersion verifies, for every supported Envoy
// version's topology, that the fragments hold every piece of that
// version's bootstrap and, merged into another Envoy's config, pass that
// version's check.
func TestFragments_EveryEnvoyVersion(t *testing.T) {
	js, err := yaml.YAMLToJSON([]byte(operatorBootstrap))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Versions() {
		for _, g := range allGenerated() {
			t.Run(v+"/"+g.name, func(t *testing.T) {
				c := loadConfig(t, g.config)
				c.Envoy.Version = v
				f, err := BuildFragments(c)
				if _, berr := Bootstrap(c); berr != nil {
					if err == nil {
						t.Fatalf("BuildFragments = nil error, want Bootstrap's %v", berr)
					}
					t.Skipf("no %s topology for %s: %v", v, g.config, berr)
				}
				if err != nil {
					t.Fatalf("BuildFragments: %v", err)
				}
				checkPieces(t, c, f)
				f.Gate()
				var b bootstrapv3.Bootstrap
				if err := protojson.Unmarshal(js, &b); err != nil {
					t.Fatal(err)
				}
				mergeFragments(t, &b, f)
				y, err := marshalYAML(&b)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckVersion(y, v); err != nil {
					t.Errorf("CheckVersion(operator's Envoy + fragments, %s) = %v, want nil", v, err)
				}
			})
		}
	}
}
