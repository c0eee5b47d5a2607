package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/llm-failover/llm-failover/envoy"
)

// TestEnvoyConfig_XDSBootstrapAndFragmentsForEveryEnvoyVersion verifies
// that --envoy-version chooses the topology of --fragments and
// --xds-bootstrap, and that the xDS bootstrap passes that version's check.
func TestEnvoyConfig_XDSBootstrapAndFragmentsForEveryEnvoyVersion(t *testing.T) {
	const cfg = "../../examples/config.yaml"
	for _, v := range envoy.Versions() {
		t.Run(v, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "xds-envoy.yaml")
			if code := run([]string{"envoy-config", "--xds-bootstrap", "--envoy-version", v, "--config", cfg, "--out", path}, io.Discard, io.Discard); code != 0 {
				t.Fatalf("--xds-bootstrap --envoy-version %s: exit %d", v, code)
			}
			if code := run([]string{"envoy-config", "--check", path, "--envoy-version", v}, io.Discard, io.Discard); code != 0 {
				t.Errorf("--check --envoy-version %s of the xDS bootstrap: exit %d", v, code)
			}
			if code := run([]string{"envoy-config", "--fragments", "--envoy-version", v, "--config", cfg}, io.Discard, io.Discard); code != 0 {
				t.Errorf("--fragments --envoy-version %s: exit %d", v, code)
			}
		})
	}
}
