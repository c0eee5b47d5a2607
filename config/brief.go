package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// This file reads the product brief's configuration shape (docs/import.md):
//
//	fallback:
//	  chains:
//	    - name: premium-reasoning
//	      models: [{provider: openai, model: gpt-4-turbo, priority: 1}, ...]
//	      triggers: [{type: rate_limit, enabled: true}, {type: latency, threshold_ms: 5000}, ...]
//	      retry: {max_attempts: 3, backoff: exponential}
//
// Parse detects it (a top-level "fallback" key) and converts it into this
// package's shape before decoding; ConvertBrief is the conversion, which
// llm-failover import-config prints. Other top-level keys of the file are
// ours and pass unchanged (providers:, breaker:, envoy:, ...): a provider
// the brief names that is not built in (BriefProviders) is defined there.

// ErrBrief wraps every problem of a brief-shaped file.
var ErrBrief = errors.New("brief configuration")

// BriefProvider is a provider the brief shape may name without defining it.
type BriefProvider struct {
	API      API
	Host     string
	BasePath string // "" for the API's default
	KeyEnv   string
}

// BriefProviders are the provider names the brief shape knows, each with
// the provider it means: the vendor's public endpoint, its key from the
// environment variable its own SDKs read.
var BriefProviders = map[string]BriefProvider{
	"openai":    {APIOpenAI, "api.openai.com", "", "OPENAI_API_KEY"},
	"anthropic": {APIAnthropic, "api.anthropic.com", "", "ANTHROPIC_API_KEY"},
	"google":    {APIGemini, "generativelanguage.googleapis.com", "", "GEMINI_API_KEY"},
	"gemini":    {APIGemini, "generativelanguage.googleapis.com", "", "GEMINI_API_KEY"},
	"mistral":   {APIOpenAICompatible, "api.mistral.ai", "/v1", "MISTRAL_API_KEY"},
	"groq":      {APIOpenAICompatible, "api.groq.com", "/openai/v1", "GROQ_API_KEY"},
	"deepseek":  {APIOpenAICompatible, "api.deepseek.com", "/v1", "DEEPSEEK_API_KEY"},
}

// BriefTriggerTypes are the trigger types the brief shape may name, in
// the order docs/import.md explains them.
var BriefTriggerTypes = []string{"rate_limit", "latency", "error_rate", "5xx", "timeout", "availability", "error",
	"budget", "cost", "quality", "auth", "geo", "region", "load", "all"}

type briefFile struct {
	Fallback struct {
		Chains []briefChain `yaml:"chains"`
	} `yaml:"fallback"`
}

type briefChain struct {
	Name     string         `yaml:"name"`
	Models   []briefModel   `yaml:"models"`
	Triggers []briefTrigger `yaml:"triggers"`
	Retry    *briefRetry    `yaml:"retry"`
}

type briefModel struct {
	Provider string `yaml:"provider"`
	Model    string `yaml:"model"`
	Priority *int   `yaml:"priority"`
}

type briefTrigger struct {
	Type        string   `yaml:"type"`
	Enabled     *bool    `yaml:"enabled"`
	ThresholdMS *int64   `yaml:"threshold_ms"`
	Threshold   *float64 `yaml:"threshold"`
}

type briefRetry struct {
	MaxAttempts int    `yaml:"max_attempts"`
	Backoff     string `yaml:"backoff"`
	Base        string `yaml:"base"`
	Max         string `yaml:"max"`
	Jitter      *bool  `yaml:"jitter"`
}

// IsBrief reports whether b is a brief-shaped file: a YAML mapping with a
// top-level "fallback" key.
func IsBrief(b []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "fallback" {
			return true
		}
	}
	return false
}

// ConvertBrief converts a brief-shaped file into this package's shape (as
// JSON, which is YAML), with notes saying what each brief setting became.
// Every problem is reported, each wrapping ErrBrief with its path in the
// brief file (fallback.chains[0].triggers[1].type).
func ConvertBrief(b []byte) (out []byte, notes []string, err error) {
	var rest map[string]any
	if err := yaml.Unmarshal(b, &rest); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBrief, err)
	}
	var bf briefFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&bf); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBrief, err)
	}
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrBrief, path, fmt.Sprintf(format, a...)))
	}
	if fb, ok := rest["fallback"].(map[string]any); ok {
		for k := range fb {
			if k != "chains" {
				bad("fallback."+k, "unknown field (the brief shape has fallback.chains only)")
			}
		}
	} else {
		bad("fallback", "want a mapping with chains")
	}
	if _, ok := rest["chains"]; ok {
		bad("chains", "a file has either fallback.chains (the brief shape) or chains (ours), not both")
	}
	checkBriefFields(b, bad)
	delete(rest, "fallback")

	defined := map[string]bool{}
	providers, _ := rest["providers"].([]any)
	for _, p := range providers {
		if m, ok := p.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				defined[n] = true
			}
		}
	}
	var chains []any
	usedModels := map[string]bool{}
	if len(bf.Fallback.Chains) == 0 {
		bad("fallback.chains", "at least one chain is required")
	}
	for i, bc := range bf.Fallback.Chains {
		path := fmt.Sprintf("fallback.chains[%d]", i)
		ch, chNotes := convertBriefChain(bc, path, bad)
		notes = append(notes, chNotes...)
		// Clients select the chain by its name, and by its first model
		// when no earlier chain took that model.
		models := []any{bc.Name}
		if ts, ok := ch["targets"].([]any); ok && len(ts) > 0 {
			if first, _ := ts[0].(map[string]any)["model"].(string); first != "" && first != bc.Name && !usedModels[first] {
				models = append(models, first)
				usedModels[first] = true
			}
		}
		usedModels[bc.Name] = true
		ch["match"] = map[string]any{"models": models}
		chains = append(chains, ch)
		for j, m := range bc.Models {
			name := strings.ToLower(m.Provider)
			if defined[name] {
				continue
			}
			bp, ok := BriefProviders[name]
			if !ok {
				bad(fmt.Sprintf("%s.models[%d].provider", path, j), "%q is not a provider the brief shape knows (%s); define it in this file's providers: section (docs/configuration.md)",
					m.Provider, strings.Join(sortedKeys(BriefProviders), ", "))
				continue
			}
			p := map[string]any{"name": name, "api": string(bp.API), "host": bp.Host, "auth": map[string]any{"key_env": bp.KeyEnv}}
			if bp.BasePath != "" {
				p["base_path"] = bp.BasePath
			}
			providers = append(providers, p)
			defined[name] = true
			notes = append(notes, fmt.Sprintf("provider %q: %s at %s, key from $%s", name, bp.API, bp.Host, bp.KeyEnv))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	rest["providers"] = providers
	rest["chains"] = chains
	out, err = json.Marshal(rest)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBrief, err)
	}
	return out, notes, nil
}

// convertBriefChain converts one brief chain into ours (as a generic map).
func convertBriefChain(bc briefChain, path string, bad func(path, format string, a ...any)) (map[string]any, []string) {
	var notes []string
	if bc.Name == "" {
		bad(path+".name", "required")
	}
	ch := map[string]any{"name": bc.Name}
	if len(bc.Models) == 0 {
		bad(path+".models", "at least one model is required")
	}
	// Lower priority first; without a priority, in list order after those with one.
	order := make([]int, len(bc.Models))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		pa, pb := bc.Models[a].Priority, bc.Models[b].Priority
		switch {
		case pa == nil && pb == nil:
			return 0
		case pa == nil:
			return 1
		case pb == nil:
			return -1
		}
		return *pa - *pb
	})
	var targets []any
	for _, i := range order {
		m := bc.Models[i]
		mp := fmt.Sprintf("%s.models[%d]", path, i)
		if m.Provider == "" {
			bad(mp+".provider", "required")
		}
		if m.Model == "" {
			bad(mp+".model", "required")
		}
		targets = append(targets, map[string]any{"provider": strings.ToLower(m.Provider), "model": m.Model})
	}
	ch["targets"] = targets
	triggers := map[string]any{}
	for i, t := range bc.Triggers {
		tp := fmt.Sprintf("%s.triggers[%d]", path, i)
		if t.Enabled != nil && !*t.Enabled {
			switch t.Type {
			case "rate_limit", "5xx", "timeout", "availability", "error", "auth", "all":
				bad(tp+".enabled", "llm-failover always fails over on %s; remove the trigger instead of disabling it", t.Type)
			default:
				notes = append(notes, fmt.Sprintf("chain %q: trigger %s is disabled and left out", bc.Name, t.Type))
			}
			continue
		}
		switch t.Type {
		case "rate_limit", "5xx", "timeout", "availability", "error", "auth":
			if t.ThresholdMS != nil || t.Threshold != nil {
				bad(tp, "a %s trigger takes no threshold: every such answer fails over", t.Type)
			}
			notes = append(notes, fmt.Sprintf("chain %q: trigger %s is always on (docs/import.md)", bc.Name, t.Type))
		case "latency":
			if t.ThresholdMS == nil || *t.ThresholdMS <= 0 || *t.ThresholdMS > 600_000 {
				bad(tp+".threshold_ms", "required, 1..600000")
				continue
			}
			d := time.Duration(*t.ThresholdMS) * time.Millisecond
			triggers["latency"] = map[string]any{"threshold": d.String()}
			ch["attempt_timeout"] = map[string]any{"streamed": max(d, 100*time.Millisecond).String()}
			notes = append(notes, fmt.Sprintf("chain %q: latency %s: the breaker's latency trigger (EWMA of time to first headers) and the streamed attempt timeout", bc.Name, d))
		case "error_rate":
			if t.Threshold == nil || *t.Threshold <= 0 || *t.Threshold > 1 {
				bad(tp+".threshold", "required, a share in (0, 1]")
				continue
			}
			triggers["error_rate"] = map[string]any{"threshold": *t.Threshold}
		case "quality":
			ch["quality"] = map[string]any{"empty": true, "invalid_json": true, "truncated_below": 0.5, "refusal": true}
			if t.Threshold != nil {
				if *t.Threshold <= 0 || *t.Threshold > 1 {
					bad(tp+".threshold", "a share in (0, 1]")
					continue
				}
				triggers["quality"] = map[string]any{"threshold": *t.Threshold}
			}
		case "all":
			ch["quality"] = map[string]any{"empty": true, "invalid_json": true, "truncated_below": 0.5, "refusal": true}
			notes = append(notes, fmt.Sprintf("chain %q: trigger all: every trigger that needs no threshold (rate limits, errors, timeouts, auth, quality checks)", bc.Name))
		case "budget", "cost":
			bad(tp+".type", "%s triggers are not converted: configure budgets in llm-failover's own format (docs/import.md)", t.Type)
		case "geo", "region", "load":
			bad(tp+".type", "%s triggers are not supported (docs/import.md)", t.Type)
		case "":
			bad(tp+".type", "required")
		default:
			bad(tp+".type", "%q is not a trigger type (%s)", t.Type, strings.Join(BriefTriggerTypes, ", "))
		}
	}
	if len(triggers) > 0 {
		ch["triggers"] = triggers
	}
	if r := bc.Retry; r != nil {
		if r.MaxAttempts < 1 || r.MaxAttempts > 6 {
			bad(path+".retry.max_attempts", "%d is outside 1..6", r.MaxAttempts)
		}
		if r.Backoff != "" && r.Backoff != BackoffExponential {
			bad(path+".retry.backoff", "%q is not exponential (Envoy's retry back-off)", r.Backoff)
		}
		retry := map[string]any{"max_attempts": r.MaxAttempts, "backoff": BackoffExponential}
		if r.Base != "" {
			retry["base"] = r.Base
		}
		if r.Max != "" {
			retry["max"] = r.Max
		}
		if r.Jitter != nil {
			retry["jitter"] = *r.Jitter
		}
		ch["retry"] = retry
	}
	return ch, notes
}

// checkBriefFields reports every field of fallback.chains the brief shape
// does not have (a typo would otherwise be dropped silently).
func checkBriefFields(b []byte, bad func(path, format string, a ...any)) {
	var raw struct {
		Fallback struct {
			Chains []map[string]any `yaml:"chains"`
		} `yaml:"fallback"`
	}
	if yaml.Unmarshal(b, &raw) != nil {
		return
	}
	known := map[string][]string{
		"":        {"name", "models", "triggers", "retry"},
		"models":  {"provider", "model", "priority"},
		"trigger": {"type", "enabled", "threshold_ms", "threshold"},
		"retry":   {"max_attempts", "backoff", "base", "max", "jitter"},
	}
	check := func(m map[string]any, kind, path string) {
		for k := range m {
			if !slices.Contains(known[kind], k) {
				bad(path+"."+k, "unknown field (known: %s)", strings.Join(known[kind], ", "))
			}
		}
	}
	for i, ch := range raw.Fallback.Chains {
		path := fmt.Sprintf("fallback.chains[%d]", i)
		check(ch, "", path)
		for j, m := range asMaps(ch["models"]) {
			check(m, "models", fmt.Sprintf("%s.models[%d]", path, j))
		}
		for j, m := range asMaps(ch["triggers"]) {
			check(m, "trigger", fmt.Sprintf("%s.triggers[%d]", path, j))
		}
		if r, ok := ch["retry"].(map[string]any); ok {
			check(r, "retry", path+".retry")
		}
	}
}

func asMaps(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		m, _ := e.(map[string]any)
		out = append(out, m)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
