package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/affinity"
	"github.com/llm-failover/llm-failover/config"
)

// TestAffinity_DefaultsAndPerChainSwitch verifies the affinity defaults
// and that a chain turns affinity on with affinity: true (off by default).
func TestAffinity_DefaultsAndPerChainSwitch(t *testing.T) {
	c, err := config.Parse([]byte(minimal + `  - name: sticky
    match: {models: [sticky]}
    affinity: true
    targets:
      - {provider: openai, model: gpt-4o}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	a := c.Affinity
	if !slices.Equal(a.Keys, affinity.Sources) || a.Header != "x-llm-failover-session" || a.TTL.D() != time.Hour ||
		a.MaxConversations != 100000 || a.SecretFile != "" {
		t.Errorf("affinity defaults = %+v, want keys %v, x-llm-failover-session, 1h, 100000, no secret file", a, affinity.Sources)
	}
	if c.Chain("main").Affinity || !c.Chain("sticky").Affinity {
		t.Errorf("chain affinity main=%v sticky=%v, want false and true", c.Chain("main").Affinity, c.Chain("sticky").Affinity)
	}
}

// TestAffinity_ReportsEachProblemWithItsPath verifies the bounds of the
// affinity section, each reported at its path; values at the bounds pass.
func TestAffinity_ReportsEachProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"at the bounds", "affinity: {keys: [messages], header: x-s, ttl: 168h, max_conversations: 10000000}\n", nil},
		{"at the lower bounds", "affinity: {ttl: 1s, max_conversations: 1}\n", nil},
		{"unknown and repeated keys", "affinity: {keys: [user, cookie, user]}\n", []string{"affinity.keys[1]", "affinity.keys[2]"}},
		{"bad header", "affinity: {header: X-Session}\n", []string{"affinity.header"}},
		{"out of bounds", "affinity: {ttl: 169h, max_conversations: 10000001}\n", []string{"affinity.ttl", "affinity.max_conversations"}},
		{"below bounds", "affinity: {ttl: 500ms}\n", []string{"affinity.ttl"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(minimal + tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Errorf("Parse error = %v, want nil", err)
				}
				return
			}
			if got := fieldPaths(t, err); !slices.Equal(got, tt.want) {
				t.Errorf("problems at %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}

// TestAffinity_ReadSecret verifies secret_file: trimmed content, a short or
// missing file refused with the file named and the secret never shown.
func TestAffinity_ReadSecret(t *testing.T) {
	dir := t.TempDir()
	good, short := filepath.Join(dir, "good"), filepath.Join(dir, "short")
	os.WriteFile(good, []byte("  0123456789abcdefXYZ\n"), 0o600)
	os.WriteFile(short, []byte("tiny-secret\n"), 0o600)
	if b, err := (config.Affinity{SecretFile: good}).ReadSecret(); err != nil || string(b) != "0123456789abcdefXYZ" {
		t.Errorf("ReadSecret(good) = %q, %v; want the trimmed content", b, err)
	}
	if b, err := (config.Affinity{}).ReadSecret(); err != nil || b != nil {
		t.Errorf("ReadSecret without a file = %q, %v; want nil, nil", b, err)
	}
	_, err := (config.Affinity{SecretFile: short}).ReadSecret()
	if err == nil || !strings.Contains(err.Error(), short) || strings.Contains(err.Error(), "tiny-secret") {
		t.Errorf("ReadSecret(short) error = %v; want one naming the file, not the secret", err)
	}
	if _, err := (config.Affinity{SecretFile: filepath.Join(dir, "none")}).ReadSecret(); err == nil {
		t.Error("ReadSecret(missing file) = nil error")
	}
}
