package config_test

import (
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestAdmin_Defaults verifies an absent admin section gets the token
// variable and the watcher limits.
func TestAdmin_Defaults(t *testing.T) {
	c, err := config.Parse([]byte(clientsBase))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Admin
	if a.TokenEnv != "LLM_FAILOVER_ADMIN_TOKEN" || a.MaxWatchers != 16 || a.WatchBuffer != 256 || a.TTFBSamples != 512 || a.TLS != nil {
		t.Errorf("admin defaults = %+v, want token_env LLM_FAILOVER_ADMIN_TOKEN, max_watchers 16, watch_buffer 256, ttfb_samples 512, no tls", a)
	}
}

// TestAdmin_ValidateReportsEveryProblem verifies each rule with its path.
func TestAdmin_ValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"bounds", "admin: {max_watchers: 1001, watch_buffer: 100001, ttfb_samples: 8}", []string{"admin.max_watchers: 1001 is outside 1..1000",
			"admin.watch_buffer: 100001 is outside 1..100000", "admin.ttfb_samples: 8 is outside 16..100000"}},
		{"identities need mutual TLS", "admin: {identities: [spiffe://ops/admin, '']}", []string{"admin.identities: needs admin.tls.client_ca_file", "admin.identities[1]: empty"}},
		{"tls needs its files", "admin: {tls: {client_sans: [x]}}", []string{"admin.tls.cert_file: required", "admin.tls.key_file: required", "admin.tls.client_sans: needs admin.tls.client_ca_file"}},
		{"valid", "admin: {identities: [spiffe://ops/admin], tls: {cert_file: c, key_file: k, client_ca_file: ca}}", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(clientsBase + tt.yaml + "\n"))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse error = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse error = nil, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}
