package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvoyConfig_EnvoyVersionGeneratesAndChecksEachTopology verifies
// --envoy-version picks the topology, that each version's output passes
// --check for that version and says what it loses, and that an older
// version's check refuses a newer version's config.
func TestEnvoyConfig_EnvoyVersionGeneratesAndChecksEachTopology(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		version  string
		contains string // in the generated envoy.yaml
		loses    bool
	}{
		{"1.38", "cluster_header: x-llm-failover-cluster", true},
		{"1.39", "envoy.router.cluster_specifier_plugin.matcher", true},
		{"1.40", "envoy.router.cluster_specifier_plugin.priority_group", false},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			var o, e bytes.Buffer
			out := filepath.Join(dir, "envoy-"+tt.version+".yaml")
			if code := run([]string{"envoy-config", "--config", "../../examples/config.yaml", "--envoy-version", tt.version, "--out", out}, &o, &e); code != 0 {
				t.Fatalf("generate: exit %d: %s", code, e.String())
			}
			o.Reset()
			if code := run([]string{"envoy-config", "--check", out, "--envoy-version", tt.version}, &o, &e); code != 0 {
				t.Fatalf("check: exit %d: %s", code, e.String())
			}
			if got := strings.Contains(o.String(), "this topology loses"); got != tt.loses {
				t.Errorf("check output says what is lost: got %v, want %v:\n%s", got, tt.loses, o.String())
			}
		})
	}
	var o, e bytes.Buffer
	if code := run([]string{"envoy-config", "--check", filepath.Join(dir, "envoy-1.40.yaml"), "--envoy-version", "1.38"}, &o, &e); code != 1 ||
		!strings.Contains(e.String(), "field refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not exist in Envoy 1.38") {
		t.Errorf("check of the 1.40 config for 1.38: exit %d, stderr %q; want 1 naming refresh_cluster_on_retry", code, e.String())
	}
}

// TestEnvoyConfig_RejectsUnknownEnvoyVersion verifies a bad --envoy-version
// is a usage error naming the supported versions.
func TestEnvoyConfig_RejectsUnknownEnvoyVersion(t *testing.T) {
	var o, e bytes.Buffer
	if code := run([]string{"envoy-config", "--config", "../../examples/config.yaml", "--envoy-version", "1.37"}, &o, &e); code != 2 ||
		!strings.Contains(e.String(), "1.38, 1.39, 1.40") {
		t.Errorf("exit %d, stderr %q; want 2 naming the supported versions", code, e.String())
	}
}
