package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/llm-failover/llm-failover/contract"
)

// Config is the whole llm-failover configuration: one YAML file.
type Config struct {
	// Server holds the listen addresses and the ext_proc stream limits.
	Server Server `json:"server"`
	// MetadataNamespace is the Envoy dynamic metadata namespace that carries
	// the priority_group override. The plan details travel in
	// MetadataNamespace + ".plan". Default "llm_failover".
	MetadataNamespace string `json:"metadata_namespace,omitempty"`
	// Providers are the upstream model APIs, each one Envoy cluster. At least one.
	Providers []Provider `json:"providers"`
	// Chains are the ordered fallback lists. At least one.
	Chains []Chain `json:"chains"`
	// DefaultChain serves requests whose model no chain matches. Empty means
	// such a request is answered 404 model_not_found.
	DefaultChain string `json:"default_chain,omitempty"`
	// Breaker holds the circuit-breaker defaults for every target.
	Breaker Breaker `json:"breaker"`
	// Routing holds plan-building choices.
	Routing Routing `json:"routing"`
	// Limits bound request sizes and plan lengths.
	Limits Limits `json:"limits"`
	// Trace bounds the in-memory record of each request's attempts.
	Trace Trace `json:"trace"`
	// Envoy holds settings used only by `llm-failover envoy-config`.
	Envoy Envoy `json:"envoy"`
	// Clients is the client access policy (identification, allowed chains
	// and models, rate limits, token budgets). Unset: every caller is allowed.
	Clients Clients `json:"clients"`
	// Admin configures the admin API and dashboard (docs/admin.md).
	Admin Admin `json:"admin"`
	// Telemetry configures OpenTelemetry metrics and traces (telemetry.go).
	Telemetry Telemetry `json:"telemetry"`
	// Audit is the audit trail: the event bus's limits and the JSON-lines
	// file (docs/audit.md).
	Audit Audit `json:"audit"`
	// Probes are the active health probes (probes.go). Off by default.
	Probes Probes `json:"probes"`
	// Fleet shares breaker state between replicas through Redis
	// (docs/fleet.md). Unset: each replica on its own.
	Fleet Fleet `json:"fleet"`
	// Affinity keeps conversations on the target that served them (affinity.go).
	Affinity Affinity `json:"affinity"`
}

// Load reads, defaults and validates the configuration file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Parse decodes YAML strictly (unknown fields are errors), applies the
// defaults and validates. A file in the product brief's shape (a
// top-level fallback: key) is converted first (ConvertBrief). The error lists every problem, each a FieldError
// with its path and its line and column in b (load.go).
func Parse(b []byte) (*Config, error) {
	if IsBrief(b) { // the product brief's shape (brief.go)
		conv, _, err := ConvertBrief(b)
		if err != nil {
			return nil, err
		}
		b = conv
	}
	var c Config
	root, err := decode(b, &c)
	if root == nil && err != nil { // not YAML: nothing to validate
		return nil, err
	}
	c.ApplyDefaults()
	if verr := c.Validate(); verr != nil || err != nil {
		return nil, locate(errors.Join(append(joined(err), joined(verr)...)...), root)
	}
	return &c, nil
}

// ApplyDefaults fills every unset field with its documented default. It is
// the only place defaults are applied: each section's defaults are set by
// its own function below, in this order (chains' attempt timeouts take
// routing's, so routing comes before them).
func (c *Config) ApplyDefaults() {
	c.Server.applyDefaults()
	setStr(&c.MetadataNamespace, DefaultMetadataNamespace)
	for i := range c.Providers {
		c.Providers[i].applyDefaults()
	}
	c.Breaker.applyDefaults()
	for i := range c.Chains {
		if t := c.Chains[i].Triggers; t != nil {
			t.applyDefaults()
		}
	}
	c.Routing.applyDefaults()
	for i := range c.Chains {
		if c.Chains[i].Kind == "" {
			c.Chains[i].Kind = KindChat
		}
		c.Chains[i].applyTierDefaults()
	}
	for i := range c.Chains {
		if t := c.Chains[i].AttemptTimeout; t != nil {
			t.applyDefaults(c.Routing.AttemptTimeout)
		}
	}
	c.Limits.applyDefaults()
	c.Trace.applyDefaults()
	c.Envoy.applyDefaults()
	for i := range c.Chains {
		if r := c.Chains[i].Retry; r != nil {
			r.applyDefaults(c.Envoy.RetryBaseInterval.D())
		}
	}
	c.Clients.applyDefaults()
	c.Admin.applyDefaults()
	c.Telemetry.applyDefaults()
	c.Audit.applyDefaults()
	c.applyProbeDefaults() // after envoy: the front door is its listener
	c.Fleet.applyDefaults(&c.Breaker)
	c.Affinity.applyDefaults()
}

var metadataNamespaceRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate reports every problem with its field path; errors.Is(err, ErrInvalid) holds.
// Each section has its own validate function; the order here is the order
// of the reported problems.
func (c *Config) Validate() error {
	var p problems
	c.validateChannel(&p)
	c.Server.validate(&p)
	if !metadataNamespaceRE.MatchString(c.MetadataNamespace) {
		p.bad("metadata_namespace", "%q must be letters, digits, '_', '.', '-'", c.MetadataNamespace)
	}
	c.validateProviders(&p)
	c.validateChains(&p)
	c.Breaker.validate(&p)
	c.Routing.validate(&p)
	c.Limits.validate(&p)
	c.Trace.validate(&p)
	c.validateEnvoy(&p)
	c.validateClients(&p)
	c.validateRegionRefs(&p)
	c.Admin.validate(&p)
	c.Telemetry.validate(&p)
	c.Audit.validate(&p)
	c.validateProbes(&p)
	c.Fleet.validate(&p)
	c.validateFleetAffinity(&p)
	c.validateAffinity(&p)
	c.validateControlChars(&p) // last: a field already reported is not reported again
	return errors.Join(p.errs...)
}

// Provider returns the provider named name, or nil.
func (c *Config) Provider(name string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}

// ProviderByCluster returns the provider whose Envoy cluster is cluster, or nil.
func (c *Config) ProviderByCluster(cluster string) *Provider {
	for i := range c.Providers {
		if c.Providers[i].Cluster == cluster {
			return &c.Providers[i]
		}
	}
	return nil
}

// Chain returns the chain named name, or nil.
func (c *Config) Chain(name string) *Chain {
	for i := range c.Chains {
		if c.Chains[i].Name == name {
			return &c.Chains[i]
		}
	}
	return nil
}

// AttemptTimeoutFor is the attempt timeout of a request on ch: the chain's
// own (attempt_timeout) or routing.attempt_timeout, for a streamed request
// or not. ch may be nil.
func (c *Config) AttemptTimeoutFor(ch *Chain, streamed bool) time.Duration {
	t := c.Routing.AttemptTimeout
	if ch != nil && ch.AttemptTimeout != nil {
		t = *ch.AttemptTimeout
	}
	if streamed {
		return t.Streamed.D()
	}
	return t.NonStreamed.D()
}

// LongestAttemptTimeout is the longest attempt timeout any streamed (or
// non-streamed) request of c gets.
func (c *Config) LongestAttemptTimeout(streamed bool) time.Duration {
	d := c.AttemptTimeoutFor(nil, streamed)
	for i := range c.Chains {
		d = max(d, c.AttemptTimeoutFor(&c.Chains[i], streamed))
	}
	return d
}

// MaxAttempts is the most attempts a request of c may make: the most of a
// chain's targets plus its same-target retries (chains[].retry, else
// routing.same_target_retries).
func (c *Config) MaxAttempts() int {
	n := 0
	for i := range c.Chains {
		n = max(n, len(c.Chains[i].Targets)+c.SameTargetRetries(&c.Chains[i]))
	}
	return max(n, 1)
}

// RequestLifetime bounds how long a request's attempts can go on after it
// was planned: every attempt running out its attempt timeout, plus a minute
// for backoff and scheduling.
func (c *Config) RequestLifetime() time.Duration {
	longest := max(c.LongestAttemptTimeout(true), c.LongestAttemptTimeout(false))
	return time.Duration(c.MaxAttempts())*longest + time.Minute
}

// PlanNamespace is the metadata namespace of the plan details
// (contract.PlanNamespace of MetadataNamespace).
func (c *Config) PlanNamespace() string { return contract.PlanNamespace(c.MetadataNamespace) }
