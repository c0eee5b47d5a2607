package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParse_BriefShapeLoadsAsItIs verifies the product brief's example
// file (testdata/brief/brief.yaml, the YAML of shared/brief's
// 003_7e5cc04c7bd0479e.txt) loads: its chains in priority order with the
// built-in providers, the triggers it names, its retry.
func TestParse_BriefShapeLoadsAsItIs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "brief", "brief.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var names []string
	for _, p := range c.Providers {
		names = append(names, p.Name+"="+string(p.API)+"@"+p.Host+"$"+p.Auth.KeyEnv)
	}
	if got, want := strings.Join(names, " "), "openai=openai@api.openai.com$OPENAI_API_KEY anthropic=anthropic@api.anthropic.com$ANTHROPIC_API_KEY google=gemini@generativelanguage.googleapis.com$GEMINI_API_KEY"; got != want {
		t.Errorf("providers %s, want %s", got, want)
	}
	pr := c.Chain("premium-reasoning")
	if pr == nil {
		t.Fatal("no chain premium-reasoning")
	}
	if got := targetKeys(pr); got != "openai/gpt-4-turbo anthropic/claude-3-opus google/gemini-pro" {
		t.Errorf("premium-reasoning targets %s", got)
	}
	if got := strings.Join(pr.Match.Models, ","); got != "premium-reasoning,gpt-4-turbo" {
		t.Errorf("premium-reasoning models %s", got)
	}
	if tr := pr.Triggers; tr == nil || tr.Latency == nil || tr.Latency.Threshold.D().Seconds() != 5 || tr.ErrorRate == nil || tr.ErrorRate.Threshold != 0.05 {
		t.Errorf("premium-reasoning triggers %+v, want latency 5s, error_rate 0.05", tr)
	}
	if pr.AttemptTimeout == nil || pr.AttemptTimeout.Streamed.D().Seconds() != 5 {
		t.Errorf("premium-reasoning attempt_timeout %+v, want streamed 5s", pr.AttemptTimeout)
	}
	if pr.Retry == nil || pr.Retry.MaxAttempts != 3 || c.SameTargetRetries(pr) != 2 {
		t.Errorf("premium-reasoning retry %+v, want max_attempts 3 (2 same-target retries)", pr.Retry)
	}
	fc := c.Chain("fast-chat")
	if fc == nil || targetKeys(fc) != "openai/gpt-3.5-turbo anthropic/claude-instant" {
		t.Fatalf("fast-chat %+v", fc)
	}
	if q := fc.Quality; q == nil || !q.Empty || !q.InvalidJSON || !q.Refusal || q.TruncatedBelow != 0.5 {
		t.Errorf("fast-chat quality %+v, want every check (trigger all)", q)
	}
	if c.SameTargetRetries(fc) != 0 {
		t.Errorf("fast-chat same-target retries %d, want 0", c.SameTargetRetries(fc))
	}
}

func targetKeys(ch *Chain) string {
	var ks []string
	for _, t := range ch.Targets {
		ks = append(ks, t.Key())
	}
	return strings.Join(ks, " ")
}

// TestConvertBrief_PriorityOrdersAndOwnProvidersDefineNames verifies that
// models are ordered by priority (those without one last, in list order),
// and that a provider the brief shape does not know is taken from the
// file's own providers: section.
func TestConvertBrief_PriorityOrdersAndOwnProvidersDefineNames(t *testing.T) {
	c, err := Parse([]byte(`
providers:
  - {name: llama, api: openai-compatible, host: llama.internal, auth: {key_env: LLAMA_KEY}}
fallback:
  chains:
    - name: self-hosted
      models:
        - {provider: OpenAI, model: gpt-3.5-turbo}
        - {provider: mistral, model: mistral-large, priority: 2}
        - {provider: llama, model: llama-3-70b, priority: 1}
      triggers: [{type: all}]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := targetKeys(c.Chain("self-hosted")); got != "llama/llama-3-70b mistral/mistral-large openai/gpt-3.5-turbo" {
		t.Errorf("targets %s, want by priority, the unprioritized last", got)
	}
	if p := c.Provider("llama"); p == nil || p.Host != "llama.internal" {
		t.Errorf("llama provider %+v, want the file's own", p)
	}
	if p := c.Provider("mistral"); p == nil || p.API != APIOpenAICompatible || p.BasePath != "/v1" {
		t.Errorf("mistral provider %+v, want the built-in", p)
	}
}

// TestConvertBrief_ReportsWhatItCannotConvert verifies each unsupported or
// wrong brief setting is an ErrBrief naming its path and the reason.
func TestConvertBrief_ReportsWhatItCannotConvert(t *testing.T) {
	chain := func(body string) string {
		return "fallback:\n  chains:\n    - name: c\n      models: [{provider: openai, model: m}]\n" + body
	}
	tests := []struct {
		name, file string
		want       []string
	}{
		{"budget", chain("      triggers: [{type: budget}]\n"), []string{"fallback.chains[0].triggers[0].type: budget triggers are not converted"}},
		{"cost", chain("      triggers: [{type: cost}]\n"), []string{"triggers[0].type: cost triggers are not converted"}},
		{"geo", chain("      triggers: [{type: geo}]\n"), []string{"triggers[0].type: geo triggers are not supported"}},
		{"load", chain("      triggers: [{type: load}]\n"), []string{"triggers[0].type: load triggers are not supported"}},
		{"unknown type", chain("      triggers: [{type: vibes}]\n"), []string{`"vibes" is not a trigger type`}},
		{"disabled rate limit", chain("      triggers: [{type: rate_limit, enabled: false}]\n"), []string{"triggers[0].enabled: llm-failover always fails over on rate_limit"}},
		{"latency without threshold", chain("      triggers: [{type: latency}]\n"), []string{"triggers[0].threshold_ms: required"}},
		{"error rate above one", chain("      triggers: [{type: error_rate, threshold: 5}]\n"), []string{"triggers[0].threshold: required, a share in (0, 1]"}},
		{"retry too many", chain("      retry: {max_attempts: 9, backoff: linear}\n"), []string{"retry.max_attempts: 9 is outside 1..6", `retry.backoff: "linear" is not exponential`}},
		{"unknown provider", "fallback:\n  chains:\n    - name: c\n      models: [{provider: meta, model: llama}]\n", []string{`models[0].provider: "meta" is not a provider the brief shape knows`}},
		{"typo", "fallback:\n  chains:\n    - name: c\n      modles: [{provider: openai, model: m}]\n", []string{"fallback.chains[0].modles: unknown field", "fallback.chains[0].models: at least one model"}},
		{"both shapes", "chains: []\nfallback:\n  chains:\n    - {name: c, models: [{provider: openai, model: m}]}\n", []string{"chains: a file has either"}},
		{"no chains", "fallback: {}\n", []string{"fallback.chains: at least one chain"}},
		{"bad priority", "fallback:\n  chains:\n    - name: c\n      models: [{provider: openai, model: m, priority: high}]\n", []string{"brief configuration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil || !errors.Is(err, ErrBrief) {
				t.Fatalf("Parse = %v, want an ErrBrief", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to say %q", err, w)
				}
			}
		})
	}
}

// TestIsBrief verifies the detection: a top-level fallback key, nothing else.
func TestIsBrief(t *testing.T) {
	for in, want := range map[string]bool{
		"fallback: {chains: []}":                true,
		"providers: []\nfallback: {}":           true,
		"chains: [{name: fallback}]":            false,
		"- fallback":                            false,
		"":                                      false,
		"{":                                     false,
		"server: {fallback: 1}":                 false,
		"# fallback:\nproviders: []\nchains: x": false,
	} {
		if got := IsBrief([]byte(in)); got != want {
			t.Errorf("IsBrief(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzConvertBrief verifies that any bytes convert without a panic, and
// that a converted file is valid JSON Parse reads without a panic.
func FuzzConvertBrief(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "brief", "brief.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte("fallback:\n  chains:\n    - name: c\n      models: [{provider: openai, model: m, priority: -3}]\n      triggers: [{type: latency, threshold_ms: 1}, {type: quality, threshold: 0.2}]\n      retry: {max_attempts: 1}\n"))
	f.Add([]byte("fallback: {chains: [{name: a, models: [{provider: google, model: g}]}, {name: b, models: [{provider: google, model: g}]}]}"))
	f.Add([]byte("providers: [{name: x}]\nfallback: {chains: [{name: x, models: [{provider: x, model: y}]}]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, _, err := ConvertBrief(b)
		if err != nil {
			if !errors.Is(err, ErrBrief) {
				t.Fatalf("ConvertBrief error %v does not wrap ErrBrief", err)
			}
			return
		}
		_, _ = Parse(out)
	})
}
