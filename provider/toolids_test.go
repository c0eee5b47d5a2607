package provider

import (
	"regexp"
	"testing"
)

// TestAnthropicToolID: ids Anthropic takes pass unchanged; others become
// valid, deterministic ids, distinct for ids that differ only in refused bytes.
func TestAnthropicToolID(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	for _, id := range []string{"call_abc123", "toolu_01A09q90qw90lq917835lq9", "call_x_0", "A-b_9"} {
		if got := anthropicToolID(id); got != id {
			t.Errorf("anthropicToolID(%q) = %q, want it unchanged", id, got)
		}
	}
	seen := map[string]string{}
	for _, id := range []string{"functions.get_weather:0", "functions.get_weather:1", "functions.get_weather.0", "", "ü", "a b"} {
		got := anthropicToolID(id)
		if !valid.MatchString(got) || got != anthropicToolID(id) {
			t.Errorf("anthropicToolID(%q) = %q, want a stable id matching %s", id, got, valid)
		}
		if other, ok := seen[got]; ok {
			t.Errorf("anthropicToolID(%q) = anthropicToolID(%q) = %q, want distinct", id, other, got)
		}
		seen[got] = id
	}
}
