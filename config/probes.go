package config

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Probes are the active health probes (docs/design.md, "Active probes"):
// per target, a cheap chat completion (max_tokens small, a fixed prompt)
// sent through Envoy's front door with a signed header that pins the plan
// to that one target, so TLS, key and path are those of real traffic.
// Probe outcomes feed the target's breaker. Off by default.
type Probes struct {
	// Enabled turns the probes on for every target of every chat chain
	// (each target once; embeddings chains' targets are not probed), unless
	// a Targets entry turns it off. Default false.
	Enabled bool `json:"enabled,omitempty"`
	// FrontDoor is the base URL of Envoy's client listener the probes are
	// sent to. Default "http://127.0.0.1:<envoy.listen_port>"; an http or
	// https URL with a host and no path, query or user.
	FrontDoor string `json:"front_door,omitempty"`
	// Path is the chat completions route the probes take. Default
	// "/v1/chat/completions"; one of envoy.routes (a route ending in "/"
	// matches as a prefix).
	Path string `json:"path,omitempty"`
	// Interval is the time between two probes of a target (each jittered).
	// Default 30s; min_interval..24h.
	Interval Duration `json:"interval,omitempty"`
	// Jitter spreads each interval by ±this fraction. Default 0.1 (an
	// explicit 0 turns it off); 0..0.5.
	Jitter *float64 `json:"jitter,omitempty"`
	// Prompt is the user message of every probe. Default "ping"; 1..1024
	// bytes of UTF-8.
	Prompt string `json:"prompt,omitempty"`
	// MaxTokens is the probe's max_tokens. Default 1; 1..64.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Timeout is the probe's attempt timeout (its per-try timeout in Envoy,
	// so a provider that stalls fails the probe). Default 10s; 1s..5m.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxPerSecond bounds the probes sent by this process, all targets
	// together (a token bucket of burst max(1, MaxPerSecond)); a probe due
	// while the bucket is empty waits for the next tick. Default 2;
	// 0.01..100.
	MaxPerSecond float64 `json:"max_per_second,omitempty"`
	// MinInterval is the least time between two probes of one target,
	// whatever the jitter or a half-open target wants. Default 5s; 1s..1h.
	MinInterval Duration `json:"min_interval,omitempty"`
	// SyntheticHalfOpen: a probed target that turns half-open is probed by
	// a synthetic request (as soon as min_interval allows) and plans do not
	// hand its half-open slot to users, so no user request pays for the
	// probe. Default true (with probes on).
	SyntheticHalfOpen *bool `json:"synthetic_half_open,omitempty"`
	// FailuresToOpen is how many failed probes in a row (no success in
	// between, a user's or a probe's) open a closed target, with reason
	// "probe"; failed probes also count as failures for the breaker's own
	// triggers. Default 2; 1..100.
	FailuresToOpen int `json:"failures_to_open,omitempty"`
	// Targets override the settings above per target.
	Targets []ProbeTarget `json:"targets,omitempty"`
}

// ProbeTarget overrides the probe settings of one target. Unset fields
// take the probes section's.
type ProbeTarget struct {
	// Target is "provider/model", a target of some chain. Required.
	Target string `json:"target"`
	// Enabled turns this target's probes on or off. Default: probes.enabled.
	Enabled *bool `json:"enabled,omitempty"`
	// Interval: default probes.interval; min_interval..24h.
	Interval Duration `json:"interval,omitempty"`
	// Prompt: default probes.prompt; 1..1024 bytes.
	Prompt string `json:"prompt,omitempty"`
	// MaxTokens: default probes.max_tokens; 1..64.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Timeout: default probes.timeout; 1s..5m.
	Timeout Duration `json:"timeout,omitempty"`
}

// Probe defaults.
const (
	DefaultProbeInterval       = 30 * time.Second
	DefaultProbeJitter         = 0.1
	DefaultProbePrompt         = "ping"
	DefaultProbeMaxTokens      = 1
	DefaultProbeTimeout        = 10 * time.Second
	DefaultProbeMaxPerSecond   = 2.0
	DefaultProbeMinInterval    = 5 * time.Second
	DefaultProbeFailuresToOpen = 2
	DefaultProbePath           = "/v1/chat/completions"
	// MaxProbePromptBytes bounds probes.prompt.
	MaxProbePromptBytes = 1024
)

func (c *Config) applyProbeDefaults() {
	p := &c.Probes
	setStr(&p.FrontDoor, "http://127.0.0.1:"+strconv.Itoa(c.Envoy.ListenPort))
	setStr(&p.Path, DefaultProbePath)
	setDur(&p.Interval, DefaultProbeInterval)
	if p.Jitter == nil {
		j := DefaultProbeJitter
		p.Jitter = &j
	}
	setStr(&p.Prompt, DefaultProbePrompt)
	setInt(&p.MaxTokens, DefaultProbeMaxTokens)
	setDur(&p.Timeout, DefaultProbeTimeout)
	if p.MaxPerSecond == 0 {
		p.MaxPerSecond = DefaultProbeMaxPerSecond
	}
	setDur(&p.MinInterval, DefaultProbeMinInterval)
	if p.SyntheticHalfOpen == nil {
		t := true
		p.SyntheticHalfOpen = &t
	}
	setInt(&p.FailuresToOpen, DefaultProbeFailuresToOpen)
}

func (c *Config) validateProbes(pr *problems) {
	p := &c.Probes
	if u, err := url.Parse(p.FrontDoor); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" ||
		u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		pr.bad("probes.front_door", "%q must be an http or https URL with a host and no path, query or user", p.FrontDoor)
	}
	if !routed(c.Envoy.Routes, p.Path) {
		pr.bad("probes.path", "%q is not one of envoy.routes", p.Path)
	}
	pr.durIn("probes.min_interval", p.MinInterval, time.Second, time.Hour)
	pr.durIn("probes.interval", p.Interval, p.MinInterval.D(), 24*time.Hour)
	if j := p.Jitter; j != nil && (*j < 0 || *j > 0.5) {
		pr.bad("probes.jitter", "%v is outside 0..0.5", *j)
	}
	validatePrompt(pr, "probes.prompt", p.Prompt)
	pr.intIn("probes.max_tokens", p.MaxTokens, 1, 64)
	pr.durIn("probes.timeout", p.Timeout, time.Second, 5*time.Minute)
	if p.MaxPerSecond < 0.01 || p.MaxPerSecond > 100 {
		pr.bad("probes.max_per_second", "%v is outside 0.01..100", p.MaxPerSecond)
	}
	pr.intIn("probes.failures_to_open", p.FailuresToOpen, 1, 100)
	known := c.targetKeys()
	seen := map[string]bool{}
	for i, t := range p.Targets {
		path := fmt.Sprintf("probes.targets[%d]", i)
		switch {
		case !known[t.Target]:
			pr.bad(path+".target", "%q is not a target (provider/model) of any chat chain", t.Target)
		case seen[t.Target]:
			pr.bad(path+".target", "%q is listed twice", t.Target)
		}
		seen[t.Target] = true
		if t.Interval != 0 {
			pr.durIn(path+".interval", t.Interval, p.MinInterval.D(), 24*time.Hour)
		}
		if t.Prompt != "" {
			validatePrompt(pr, path+".prompt", t.Prompt)
		}
		if t.MaxTokens != 0 {
			pr.intIn(path+".max_tokens", t.MaxTokens, 1, 64)
		}
		if t.Timeout != 0 {
			pr.durIn(path+".timeout", t.Timeout, time.Second, 5*time.Minute)
		}
	}
}

func validatePrompt(pr *problems, path, s string) {
	if len(s) == 0 || len(s) > MaxProbePromptBytes || !utf8.ValidString(s) {
		pr.bad(path, "must be 1..%d bytes of UTF-8", MaxProbePromptBytes)
	}
}

// routed reports whether path is served by one of routes (a route ending
// in "/" as a prefix, any other exactly), as the generated Envoy routes
// match it.
func routed(routes []string, path string) bool {
	return slices.ContainsFunc(routes, func(r string) bool {
		return r == path || strings.HasSuffix(r, "/") && strings.HasPrefix(path, r)
	})
}

// targetKeys are the keys of every chat chain's targets: the targets a
// probe (a chat completion) can test.
func (c *Config) targetKeys() map[string]bool {
	m := map[string]bool{}
	for _, ch := range c.Chains {
		if !ch.probed() {
			continue
		}
		for _, t := range ch.Targets {
			m[t.Key()] = true
		}
	}
	return m
}

// ProbeSettings are one target's effective probe settings.
type ProbeSettings struct {
	Target    Target // the target probed
	Chain     string // the first chain, in configuration order, that lists it
	Interval  time.Duration
	Prompt    string
	MaxTokens int
	Timeout   time.Duration
}

// probed reports whether ch's targets are probed: a probe is a chat
// completion, so only a chat chain's (an embeddings model cannot answer
// one). A chain whose kind is unset is a chat chain; nil is none.
func (ch *Chain) probed() bool { return ch != nil && (ch.Kind == KindChat || ch.Kind == "") }

// ProbedTargets lists the targets probed, each once, in configuration
// order, with their effective settings and the first chat chain that lists
// them; none when probes are off and no override turns one on. Targets of
// embeddings chains are never probed.
func (c *Config) ProbedTargets() []ProbeSettings {
	p := &c.Probes
	var out []ProbeSettings
	seen := map[string]bool{}
	for _, ch := range c.Chains {
		if !ch.probed() {
			continue
		}
		for _, t := range ch.Targets {
			key := t.Key()
			if seen[key] {
				continue
			}
			seen[key] = true
			s := ProbeSettings{Target: Target{Provider: t.Provider, Model: t.Model}, Chain: ch.Name,
				Interval: p.Interval.D(), Prompt: p.Prompt, MaxTokens: p.MaxTokens, Timeout: p.Timeout.D()}
			on := p.Enabled
			if o := p.override(key); o != nil {
				if o.Enabled != nil {
					on = *o.Enabled
				}
				if o.Interval != 0 {
					s.Interval = o.Interval.D()
				}
				if o.Prompt != "" {
					s.Prompt = o.Prompt
				}
				if o.MaxTokens != 0 {
					s.MaxTokens = o.MaxTokens
				}
				if o.Timeout != 0 {
					s.Timeout = o.Timeout.D()
				}
			}
			if on {
				out = append(out, s)
			}
		}
	}
	return out
}

func (p *Probes) override(key string) *ProbeTarget {
	for i := range p.Targets {
		if p.Targets[i].Target == key {
			return &p.Targets[i]
		}
	}
	return nil
}

// SyntheticHalfOpenFor reports whether plans of chain ch keep the
// half-open slot of its target provider/model for a synthetic probe:
// probes.synthetic_half_open is on and the target is probed (ch is a chat
// chain, and probes are on for it). It does not allocate.
func (p *Probes) SyntheticHalfOpenFor(ch *Chain, provider, model string) bool {
	if p.SyntheticHalfOpen == nil || !*p.SyntheticHalfOpen || !ch.probed() {
		return false
	}
	on := p.Enabled
	for i := range p.Targets {
		t := p.Targets[i].Target
		if p.Targets[i].Enabled != nil && len(t) == len(provider)+1+len(model) &&
			strings.HasPrefix(t, provider) && t[len(provider)] == '/' && strings.HasSuffix(t, model) {
			on = *p.Targets[i].Enabled
		}
	}
	return on
}
