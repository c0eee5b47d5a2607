package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestProbes_DefaultsAndOverrides verifies the probes section: off by
// default with its documented defaults (the front door on Envoy's
// listener), and the targets probed with their effective settings when on,
// a per-target override changing one target and turning another off; an
// embeddings chain's targets are not probed.
func TestProbes_DefaultsAndOverrides(t *testing.T) {
	c, err := config.Parse([]byte(minimal + "envoy: {listen_port: 8443}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Probes
	got := fmt.Sprintf("%v %s %s %v %v %q %d %v %v %v %v %d", p.Enabled, p.FrontDoor, p.Path, p.Interval, *p.Jitter, p.Prompt, p.MaxTokens,
		p.Timeout, p.MaxPerSecond, p.MinInterval, *p.SyntheticHalfOpen, p.FailuresToOpen)
	if want := `false http://127.0.0.1:8443 /v1/chat/completions 30s 0.1 "ping" 1 10s 2 5s true 2`; got != want {
		t.Errorf("defaults: got %s, want %s", got, want)
	}
	if n := len(c.ProbedTargets()); n != 0 {
		t.Errorf("probes off: %d targets probed, want 0", n)
	}
	c, err = config.Parse([]byte(minimal + `  - name: second
    match: {models: [mini]}
    targets:
      - {provider: openai, model: gpt-4o-mini}
      - {provider: openai, model: gpt-4o}
      - {provider: openai, model: o3}
  - name: vectors
    kind: embeddings
    match: {models: [text-embedding-3-small]}
    targets:
      - {provider: openai, model: text-embedding-3-small, dimensions: 1536}
probes:
  enabled: true
  targets:
    - {target: openai/gpt-4o-mini, interval: 1m, prompt: hi, max_tokens: 3, timeout: 2s}
    - {target: openai/o3, enabled: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, ps := range c.ProbedTargets() {
		list = append(list, fmt.Sprintf("%s@%s %v %q %d %v", ps.Target.Key(), ps.Chain, ps.Interval, ps.Prompt, ps.MaxTokens, ps.Timeout))
	}
	want := []string{`openai/gpt-4o@main 30s "ping" 1 10s`, `openai/gpt-4o-mini@second 1m0s "hi" 3 2s`}
	if !slices.Equal(list, want) {
		t.Errorf("probed: got %q, want %q", list, want)
	}
	for _, tt := range []struct {
		chain, provider, model string
		want                   bool
	}{{"main", "openai", "gpt-4o", true}, {"second", "openai", "o3", false}, {"second", "openai", "gpt-4o-mini", true},
		{"vectors", "openai", "text-embedding-3-small", false}} {
		if got := c.Probes.SyntheticHalfOpenFor(c.Chain(tt.chain), tt.provider, tt.model); got != tt.want {
			t.Errorf("SyntheticHalfOpenFor(%s, %s/%s) = %v, want %v", tt.chain, tt.provider, tt.model, got, tt.want)
		}
	}
}

// TestProbes_ValidateReportsEachProblemWithItsPath verifies every bound of
// the probes section is checked and reported with its path, and that a
// value exactly at a bound is accepted.
func TestProbes_ValidateReportsEachProblemWithItsPath(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		paths []string
	}{
		{"at the bounds", "probes: {enabled: true, interval: 1s, min_interval: 1s, jitter: 0.5, max_tokens: 64, timeout: 5m, max_per_second: 100, failures_to_open: 100}", nil},
		{"front door with a path", "probes: {front_door: 'http://127.0.0.1:10000/v1'}", []string{"probes.front_door"}},
		{"front door not http", "probes: {front_door: 'ftp://127.0.0.1'}", []string{"probes.front_door"}},
		{"path not routed", "probes: {path: /v2/chat}", []string{"probes.path"}},
		{"interval under min_interval", "probes: {interval: 2s, min_interval: 3s}", []string{"probes.interval"}},
		{"out of bounds", "probes: {jitter: 0.6, max_tokens: 65, timeout: 301s, max_per_second: 101, min_interval: 2h, failures_to_open: 101}",
			[]string{"probes.min_interval", "probes.interval", "probes.jitter", "probes.max_tokens", "probes.timeout", "probes.max_per_second", "probes.failures_to_open"}},
		{"prompt too long", "probes: {prompt: " + strings.Repeat("x", config.MaxProbePromptBytes+1) + "}", []string{"probes.prompt"}},
		{"unknown and repeated targets", "probes: {targets: [{target: openai/nope}, {target: openai/gpt-4o}, {target: openai/gpt-4o, interval: 1s, max_tokens: 99, timeout: 1h}]}",
			[]string{"probes.targets[0].target", "probes.targets[2].target", "probes.targets[2].interval", "probes.targets[2].max_tokens", "probes.targets[2].timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(minimal + tt.yaml + "\n"))
			var got []string
			if err != nil {
				got = fieldPaths(t, err)
			}
			if !slices.Equal(got, tt.paths) {
				t.Errorf("problems at %q, want %q (%v)", got, tt.paths, err)
			}
		})
	}
}
