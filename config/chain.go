package config

import (
	"fmt"
	"time"
)

// Chain is an ordered fallback list.
type Chain struct {
	// Name identifies the chain; the x-llm-failover-chain request header may name it. Required.
	Name string `json:"name"`
	// Match selects the chain by the request's "model" value.
	Match Match `json:"match"`
	// Targets are tried in order. At least one, at most limits.max_targets.
	Targets []Target `json:"targets"`
	// Triggers override the breaker's error-rate and latency triggers for this chain's targets.
	Triggers *Triggers `json:"triggers,omitempty"`
	// AttemptTimeout overrides routing.attempt_timeout for this chain's
	// requests; a field left unset takes routing's value.
	AttemptTimeout *AttemptTimeout `json:"attempt_timeout,omitempty"`
	// Kind is what the chain's targets are: chat models
	// (chat completions and the APIs translated to them) or embedding
	// models (/v1/embeddings). Default "chat"; "chat" or "embeddings".
	Kind ChainKind `json:"kind,omitempty"`
	// AllowMixedDimensions lets an embeddings chain's targets answer with
	// vectors of different sizes (their dimensions differ): a failover then
	// changes the size a client gets. Default false: Validate refuses such
	// a chain. Only for kind "embeddings".
	AllowMixedDimensions bool `json:"allow_mixed_dimensions,omitempty"`
	// Quality are the checks on this chain's answers that fail them over
	// (quality.go). Default: none.
	Quality *Quality `json:"quality,omitempty"`
	// Retry are same-target retries for this chain (retry.go). Default:
	// routing.same_target_retries.
	Retry *Retry `json:"retry,omitempty"`
	// Affinity keeps each conversation of this chain on the target that
	// last served it while that target's breaker admits traffic (the
	// affinity section says how conversations are named). Default false;
	// only on a chat chain.
	Affinity bool `json:"affinity,omitempty"`
	// Region is the region this chain's requests prefer when neither the
	// client's policy nor the x-llm-failover-region header names one: its
	// targets are planned first. Default none; a region some target of
	// the chain is in (regions.go).
	Region string `json:"region,omitempty"`
	// Residency says whether a request may leave its preferred region:
	// "prefer" (default) plans the region's targets first and the others
	// after them; "strict" plans only the region's targets and answers 503
	// region_unavailable when none can take the request, and 400
	// region_required when the request has no region (regions.go).
	Residency Residency `json:"residency,omitempty"`
}

// AttemptTimeout bounds each attempt of a request (Envoy's per-try timeout,
// which the route phase sets per request), separately for streamed and
// non-streamed requests. An attempt that runs out is retried on the next
// planned target.
type AttemptTimeout struct {
	// Streamed bounds an attempt of a streamed ("stream": true) request until
	// its response headers leave for the client: the provider's headers and,
	// since the attempt phase holds them, its first event. Default 60s, 100ms..1h.
	Streamed Duration `json:"streamed,omitempty"`
	// NonStreamed bounds an attempt of a non-streamed request until its
	// response headers, which a provider sends only once the whole answer is
	// generated: keep it above the longest answer a model may take. Default
	// 10m, 100ms..1h.
	NonStreamed Duration `json:"non_streamed,omitempty"`
}

// Match selects a chain.
type Match struct {
	// Models are the request "model" values that select this chain. Each value
	// may belong to one chain only.
	Models []string `json:"models,omitempty"`
}

// Target is one step of a chain: a provider and the model to ask it for.
type Target struct {
	// Provider names a configured provider. Required.
	Provider string `json:"provider"`
	// Model is the model (or Azure deployment) sent to the provider. Required.
	Model string `json:"model"`
	// ContextWindow is the model's context window in tokens; 0 means unknown.
	// Used to fail over a context-length error only to a larger window.
	ContextWindow int `json:"context_window,omitempty"`
	// Supports lists the request features the model handles: tools, json
	// (response_format json_object/json_schema), vision (image parts). Empty
	// means all of them. A request needing a feature skips targets without it.
	Supports []Capability `json:"supports,omitempty"`
	// Dimensions is the size of the vectors an embedding model answers
	// with (for a request without "dimensions"). Required on the targets of
	// an embeddings chain (1..65536, MaxDimensions), which must agree unless the
	// chain has allow_mixed_dimensions; must be unset (0) on a chat chain.
	Dimensions int `json:"dimensions,omitempty"`
	// Tier groups adjacent targets into one step of the chain: the plan
	// leads with one of a tier's targets drawn by weight among those whose
	// breakers admit traffic, orders the rest of the tier by further
	// draws, then falls back to the next tier (tiers.go). Default 0: the
	// target is a tier of its own. 1..32; a tier's targets are adjacent and
	// tier numbers do not decrease along the list.
	Tier int `json:"tier,omitempty"`
	// Weight is the target's share of its tier's traffic, relative to the
	// weights of the tier's other targets. Default 1 in a tier; 1..1000;
	// only with tier.
	Weight int `json:"weight,omitempty"`
	// Region is the region (or deployment zone) the target serves from.
	// Default: its provider's region. A name ([a-z0-9_.-], at most 60
	// characters); a provider/model target has one region in every chain.
	Region string `json:"region,omitempty"`
}

// Capability is a request feature a target may lack.
type Capability string

// The capabilities.
const (
	CapTools  Capability = "tools"
	CapJSON   Capability = "json"
	CapVision Capability = "vision"
)

// Has reports whether t handles c (an empty Supports handles everything).
func (t Target) Has(c Capability) bool {
	if len(t.Supports) == 0 {
		return true
	}
	for _, s := range t.Supports {
		if s == c {
			return true
		}
	}
	return false
}

// Key is the breaker key of the target: "provider/model".
func (t Target) Key() string { return t.Provider + "/" + t.Model }

// applyDefaults fills the chain's unset attempt timeouts with routing's.
func (t *AttemptTimeout) applyDefaults(routing AttemptTimeout) {
	setDur(&t.Streamed, routing.Streamed.D())
	setDur(&t.NonStreamed, routing.NonStreamed.D())
}

// validate checks an attempt timeout's bounds; path names it.
func (t *AttemptTimeout) validate(p *problems, path string) {
	p.durIn(path+".streamed", t.Streamed, 100*time.Millisecond, time.Hour)
	p.durIn(path+".non_streamed", t.NonStreamed, 100*time.Millisecond, time.Hour)
}

// validateChains checks each chain (name, models, targets, overrides) and
// default_chain.
func (c *Config) validateChains(p *problems) {
	if len(c.Chains) == 0 {
		p.bad("chains", "at least one chain is required")
	}
	chains := map[string]bool{}
	models := map[string]string{}
	for i := range c.Chains {
		ch := &c.Chains[i]
		path := fmt.Sprintf("chains[%d]", i)
		p.uniqueName(path+".name", ch.Name, chains)
		for j, m := range ch.Match.Models {
			if m == "" {
				p.bad(fmt.Sprintf("%s.match.models[%d]", path, j), "empty model name")
			} else if prev, ok := models[m]; ok {
				p.bad(fmt.Sprintf("%s.match.models[%d]", path, j), "model %q already selects chain %q", m, prev)
			}
			models[m] = ch.Name
		}
		if len(ch.Targets) == 0 {
			p.bad(path+".targets", "at least one target is required")
		}
		if len(ch.Targets) > c.Limits.MaxTargets {
			p.bad(path+".targets", "%d targets exceed limits.max_targets (%d)", len(ch.Targets), c.Limits.MaxTargets)
		}
		for j, t := range ch.Targets {
			c.validateTarget(p, fmt.Sprintf("%s.targets[%d]", path, j), t)
		}
		if ch.Triggers != nil {
			ch.Triggers.validate(p, path+".triggers")
		}
		if t := ch.AttemptTimeout; t != nil {
			t.validate(p, path+".attempt_timeout")
		}
		if q := ch.Quality; q != nil {
			q.validate(p, path+".quality")
			if ch.Kind == KindEmbeddings {
				p.bad(path+".quality", "quality checks judge chat answers; an embeddings chain has none")
			}
		}
		if r := ch.Retry; r != nil {
			r.validate(p, path+".retry")
		}
		c.validateKind(p, path, ch)
		c.validateTiers(p, path, ch)
	}
	if c.DefaultChain != "" && !chains[c.DefaultChain] {
		p.bad("default_chain", "%q is not a configured chain", c.DefaultChain)
	}
}

// validateTarget checks one target of a chain; path names it.
func (c *Config) validateTarget(p *problems, path string, t Target) {
	if c.Provider(t.Provider) == nil {
		p.bad(path+".provider", "%q is not a configured provider", t.Provider)
	}
	if t.Model == "" {
		p.bad(path+".model", "required")
	}
	if t.ContextWindow < 0 {
		p.bad(path+".context_window", "must not be negative")
	}
	for k, s := range t.Supports {
		if s != CapTools && s != CapJSON && s != CapVision {
			p.bad(fmt.Sprintf("%s.supports[%d]", path, k), "%q is not one of tools, json, vision", s)
		}
	}
}
