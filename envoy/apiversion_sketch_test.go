package envoy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	// The types the older releases' topologies use in the sketches, which the
	// 1.40 generator does not link (yet).
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/priority/previous_priorities/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/matcher/v3"
)

// sketchDir holds hand-written bootstraps, each marked "# accepted by: V ..."
// with the releases whose real go-control-plane/envoy module accepts it (the
// tool modules under tools/envoyapi check that with each release's protojson).
const sketchDir = "../tools/envoyapi/testdata"

// TestValidateAPI_AgreesWithEachReleasesDecoder verifies that ValidateAPI
// accepts each sketch on exactly the releases whose own decoder accepts it.
func TestValidateAPI_AgreesWithEachReleasesDecoder(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(sketchDir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sketches in %s (%v)", sketchDir, err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		accepted := sketchAcceptedBy(t, raw)
		b, err := decode(raw)
		if err != nil {
			t.Fatalf("%s does not decode with the 1.40 API: %v", p, err)
		}
		for _, v := range apiVersionsWant {
			t.Run(filepath.Base(p)+"/"+v, func(t *testing.T) {
				err := ValidateAPI(v, b)
				if want := slices.Contains(accepted, v); want != (err == nil) {
					t.Errorf("ValidateAPI(%s, %s) = %v; the sketch says it is accepted by %v", v, p, err, accepted)
				}
			})
		}
	}
}

// sketchAcceptedBy reads a sketch's "# accepted by:" line.
func sketchAcceptedBy(t *testing.T, sketch []byte) []string {
	t.Helper()
	for _, line := range strings.Split(string(sketch), "\n") {
		if rest, ok := strings.CutPrefix(line, "# accepted by:"); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal(`sketch without "# accepted by:" line`)
	return nil
}
