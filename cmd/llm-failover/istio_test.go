package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIstioConfig_WritesTheObjects checks that istio-config writes the
// Istio objects to --out for a configuration whose ext_proc address is a
// Service, and refuses bad flags and configurations with a message naming
// the flag or field.
func TestIstioConfig_WritesTheObjects(t *testing.T) {
	cfg := "../../istio/testdata/config.yaml"
	out := filepath.Join(t.TempDir(), "istio.yaml")
	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		wantFile string // a line the written file holds
	}{
		{"written", []string{"--config", cfg, "--istio-version", "1.31", "--host", "llm.example.com", "--out", out}, 0, "", "kind: EnvoyFilter"},
		{"missing host", []string{"--config", cfg, "--istio-version", "1.31"}, 2, "--host are required", ""},
		{"unsupported Istio", []string{"--config", cfg, "--istio-version", "1.29", "--host", "h.example"}, 1, `istio version "1.29" is not supported`, ""},
		{"server for another Envoy", []string{"--config", cfg, "--istio-version", "1.30", "--host", "h.example"}, 1, `envoy.version: "1.39", but Istio 1.30 runs Envoy 1.38`, ""},
		{"bad selector", []string{"--config", cfg, "--istio-version", "1.31", "--host", "h.example", "--gateway-selector", "istio"}, 2, "--gateway-selector", ""},
		{"not a Service address", []string{"--config", "../../examples/config.yaml", "--istio-version", "1.30", "--host", "h.example"}, 1, "envoy.ext_proc_address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"istio-config"}, tt.args...), &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if tt.wantFile == "" {
				return
			}
			b, err := os.ReadFile(out)
			if err != nil || !strings.Contains(string(b), tt.wantFile) {
				t.Fatalf("%s: %v, want a file holding %q", out, err, tt.wantFile)
			}
		})
	}
}

// FuzzParseLabels checks that any --gateway-selector value is read or
// refused, never a panic, and that what is read has non-empty keys.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{"istio=ingressgateway", "a=b,c=d", "a", "=b", "a=b,a=c", "", " a = b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseLabels(s)
		if err != nil {
			return
		}
		for k := range m {
			if k == "" {
				t.Fatalf("parseLabels(%q) = %v: an empty key", s, m)
			}
		}
	})
}
