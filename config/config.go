package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

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
}

// Server holds the process's listen addresses.
type Server struct {
	// GRPCAddress is where the ext_proc gRPC service listens. Default
	// "127.0.0.1:50051" (loopback). A "unix:/path" value listens on a unix
	// socket. An address beyond loopback needs TLS or InsecureGRPC.
	GRPCAddress string `json:"grpc_address,omitempty"`
	// InsecureGRPC allows a GRPCAddress beyond loopback without TLS: anyone
	// who reaches the port can then open ext_proc streams. Logged at warn
	// at start. Default false.
	InsecureGRPC bool `json:"insecure_grpc,omitempty"`
	// TLS serves the gRPC listener over TLS, or mutual TLS when it names a
	// client CA. Unset: plain gRPC. See ServerTLS.
	TLS *ServerTLS `json:"tls,omitempty"`
	// PlanKeyFile holds the key (at least 32 bytes, surrounding white space
	// trimmed) that signs the plans the route phase publishes; replicas
	// behind one Envoy share it so any of them verifies an attempt. Unset:
	// a random key made at start, so every attempt must reach the replica
	// that planned it. Read at start and on reload.
	PlanKeyFile string `json:"plan_key_file,omitempty"`
	// AdminAddress serves /healthz, /readyz and /metrics. Default "127.0.0.1:9464".
	AdminAddress string `json:"admin_address,omitempty"`
	// DrainTimeout bounds how long SIGTERM waits for in-flight streams. Default 20s, 0s..10m.
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
	// StreamFirstEventTimeout is how long the attempt phase holds a response's
	// headers before the client sees them: a streamed (SSE) 200 until its first
	// content-bearing event (no event at all by then: the attempt fails over as
	// a timeout; events but no content yet, such as a model thinking: the stream
	// is passed on unjudged), any other 200 until its whole body, an error
	// status until its body can be classified. Default 10s, 100ms..5m. Envoy's
	// ext_proc message_timeout is generated above it by envoy.attempt_message_slack.
	StreamFirstEventTimeout Duration `json:"stream_first_event_timeout,omitempty"`
	// MaxStreamHoldBytes bounds the bytes of a streamed 200 held while waiting
	// for its first content-bearing event (past it the stream is passed on
	// unjudged, logged), and of an error body held to classify it.
	// Default 64KiB, 1KiB..16MiB.
	MaxStreamHoldBytes ByteSize `json:"max_stream_hold_bytes,omitempty"`
}

// API is a provider's wire format.
type API string

// The provider APIs.
const (
	APIOpenAI           API = "openai"
	APIOpenAICompatible API = "openai-compatible"
	APIAnthropic        API = "anthropic"
	APIGemini           API = "gemini"
	APIAzureOpenAI      API = "azure-openai"
)

var knownAPIs = []API{APIOpenAI, APIOpenAICompatible, APIAnthropic, APIGemini, APIAzureOpenAI}

// OpenAIShaped reports whether the API speaks the clients' format (OpenAI
// Chat Completions) natively: openai, openai-compatible and azure-openai.
func (a API) OpenAIShaped() bool {
	return a == APIOpenAI || a == APIOpenAICompatible || a == APIAzureOpenAI
}

// Provider is one upstream API endpoint.
type Provider struct {
	// Name identifies the provider in chains, metrics and response headers.
	// Required; [a-z0-9_.-], at most 60 characters.
	Name string `json:"name"`
	// API is the wire format: openai, openai-compatible, anthropic, gemini, azure-openai. Required.
	API API `json:"api"`
	// Cluster is the Envoy cluster name. Default: Name.
	Cluster string `json:"cluster,omitempty"`
	// Host is the DNS name (or IP) Envoy connects to. Required.
	Host string `json:"host"`
	// Port defaults to 443 with TLS, 80 without.
	Port int `json:"port,omitempty"`
	// TLS toggles upstream TLS. Default true; set false for local models and tests.
	TLS *bool `json:"tls,omitempty"`
	// HTTP2 makes Envoy speak HTTP/2 to the provider. Default false (HTTP/1.1).
	HTTP2 bool `json:"http2,omitempty"`
	// BasePath is prefixed to the API's paths. Default per API: "/v1" for
	// openai, openai-compatible and anthropic, "/v1beta" for gemini, "/openai" for azure-openai.
	BasePath string `json:"base_path,omitempty"`
	// APIVersion is the Azure api-version query value (default "2024-10-21") or
	// the anthropic-version header (default "2023-06-01"). Ignored by other APIs.
	APIVersion string `json:"api_version,omitempty"`
	// Auth says where the provider's key comes from and how it is sent.
	Auth Auth `json:"auth"`
}

// Auth is a provider's credential.
type Auth struct {
	// Header carries the key. Default per API: authorization (openai,
	// openai-compatible), x-api-key (anthropic), x-goog-api-key (gemini),
	// api-key (azure-openai).
	Header string `json:"header,omitempty"`
	// Scheme prefixes the key, e.g. "Bearer". Default "Bearer" when Header is
	// authorization, empty otherwise.
	Scheme string `json:"scheme,omitempty"`
	// KeyEnv names the environment variable holding the key.
	KeyEnv string `json:"key_env,omitempty"`
	// KeyFile is a file holding the key (surrounding white space is trimmed).
	// Exactly one of KeyEnv and KeyFile, or neither for providers that need no key.
	KeyFile string `json:"key_file,omitempty"`
	// HeldBy is where the key is kept: "server" (the default: llm-failover
	// reads KeyEnv or KeyFile and the attempt phase sets Header) or "envoy"
	// (Envoy injects Header from SecretFile on the provider's cluster; the
	// key never crosses the gRPC channel; recommended for meshes). With
	// "envoy", KeyEnv and KeyFile must be unset.
	HeldBy KeyHolder `json:"held_by,omitempty"`
	// SecretFile is the SDS file Envoy reads the key from (a DiscoveryResponse
	// with one generic_secret; `llm-failover envoy-config --secret-template`
	// prints it). Required with HeldBy "envoy", not allowed otherwise; an
	// absolute path ending in .yaml, .yml or .json. Envoy re-reads it when a
	// new file is moved onto the path.
	SecretFile string `json:"secret_file,omitempty"`
}

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

// Triggers are the breaker's rate and latency triggers.
type Triggers struct {
	// Latency opens the breaker when time to first response headers is too slow.
	Latency *LatencyTrigger `json:"latency,omitempty"`
	// ErrorRate opens the breaker when too many requests in a window fail.
	ErrorRate *ErrorRateTrigger `json:"error_rate,omitempty"`
}

// LatencyTrigger opens a breaker when the EWMA of time to first response
// headers exceeds Threshold after MinRequests samples.
type LatencyTrigger struct {
	// Threshold; 0 disables the trigger. Default 0 (off), bounds 0..10m.
	Threshold Duration `json:"threshold,omitempty"`
	// MinRequests samples are needed before the trigger can fire. Default 5, 1..10000.
	MinRequests int `json:"min_requests,omitempty"`
}

// ErrorRateTrigger opens a breaker when failures/requests in Window reach Threshold.
type ErrorRateTrigger struct {
	// Threshold is a fraction in (0,1]; 0 disables. Default 0 (off).
	Threshold float64 `json:"threshold,omitempty"`
	// Window is the sliding window. Default 60s, 1s..1h.
	Window Duration `json:"window,omitempty"`
	// MinRequests in the window before the rate counts. Default 20, 1..1000000.
	MinRequests int `json:"min_requests,omitempty"`
}

// Breaker holds the circuit-breaker defaults.
type Breaker struct {
	// ConsecutiveFailures opens the breaker. Default 3, 1..1000.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// OpenFor is the first cooldown. Default 30s, 1ms..24h.
	OpenFor Duration `json:"open_for,omitempty"`
	// MaxOpenFor caps the cooldown growth on repeated failures. Default 5m, >= open_for.
	MaxOpenFor Duration `json:"max_open_for,omitempty"`
	// AuthOpenFor is the cooldown after a 401/403. Default 10m.
	AuthOpenFor Duration `json:"auth_open_for,omitempty"`
	// QuotaOpenFor is the cooldown after a quota-exhausted 429. Default 1h.
	QuotaOpenFor Duration `json:"quota_open_for,omitempty"`
	// Jitter spreads cooldowns by ±this fraction. Default 0.1, 0..0.5.
	Jitter *float64 `json:"jitter,omitempty"`
	// HalfOpenProbes is how many probe requests half-open admits at once. Default 1, 1..100.
	HalfOpenProbes int `json:"half_open_probes,omitempty"`
	// ProbeTimeout frees a half-open probe slot whose outcome was not
	// recorded by then (the request was cancelled, or never reached the
	// target), so the target is probed again. A slot the plan itself does
	// not use is freed at once. Default 60s, 1s..1h.
	ProbeTimeout Duration `json:"probe_timeout,omitempty"`
	// RecoveryStages are traffic shares in (0,1], increasing, ending with 1.0.
	// Default [0.1, 0.5, 1.0].
	RecoveryStages []float64 `json:"recovery_stages,omitempty"`
	// RecoveryStageDuration is the time a recovery stage lasts without failure before
	// the next. Default 10s, 1ms..1h.
	RecoveryStageDuration Duration `json:"recovery_stage_duration,omitempty"`
	// Triggers are the default error-rate and latency triggers (off unless set).
	Triggers Triggers `json:"triggers"`
}

// AllOpenPolicy says what happens when every target of a chain is open.
type AllOpenPolicy string

// The all-open policies.
const (
	// AllOpenTrySoonest tries the target whose cooldown ends first.
	AllOpenTrySoonest AllOpenPolicy = "try-soonest"
	// AllOpenReject answers 503 without an attempt.
	AllOpenReject AllOpenPolicy = "reject"
)

// Routing holds plan-building choices.
type Routing struct {
	// AllOpen: try-soonest (default) or reject.
	AllOpen AllOpenPolicy `json:"all_open,omitempty"`
	// SameTargetRetries adds attempts on the last target (Envoy repeats the last
	// priority group). Default 0, 0..5.
	SameTargetRetries *int `json:"same_target_retries,omitempty"`
	// AttemptTimeout bounds each attempt, for streamed and non-streamed
	// requests; chains may override it.
	AttemptTimeout AttemptTimeout `json:"attempt_timeout"`
}

// Limits bound what a request may be.
type Limits struct {
	// MaxBodyBytes is the largest request body; it also bounds a non-streamed
	// answer held whole to be judged (a larger one is passed on unjudged) and a
	// single stream event. Default 4MiB, 1KiB..256MiB.
	MaxBodyBytes ByteSize `json:"max_body_bytes,omitempty"`
	// MaxTargets is the longest chain. Default 8, 1..32.
	MaxTargets int `json:"max_targets,omitempty"`
}

// Trace bounds the per-request attempt record.
type Trace struct {
	// MaxEntries is how many requests are remembered. Default 10000, 16..10000000.
	MaxEntries int `json:"max_entries,omitempty"`
	// TTL is how long a request's record lives. Default 5m, 1s..24h.
	TTL Duration `json:"ttl,omitempty"`
}

// Envoy holds what `envoy-config` needs beyond the providers.
type Envoy struct {
	// ListenPort is the client-facing listener port. Default 10000.
	ListenPort int `json:"listen_port,omitempty"`
	// AdminPort is Envoy's admin port, on 127.0.0.1. Default 9901.
	AdminPort int `json:"admin_port,omitempty"`
	// ExtProcAddress is how Envoy reaches llm-failover: "host:port" or
	// "unix:/path". Default "127.0.0.1:50051".
	ExtProcAddress string `json:"ext_proc_address,omitempty"`
	// PerTryTimeout is the route's static per-try timeout: the fallback for
	// a request the route phase gave no attempt timeout (it sets one on every
	// request it plans, from routing.attempt_timeout). Default 10m, 100ms..1h.
	PerTryTimeout Duration `json:"per_try_timeout,omitempty"`
	// PerTryIdleTimeout bounds silence inside an attempt's response. Envoy
	// starts it with the attempt, so it also bounds the wait for a
	// non-streamed answer's headers: 0 (the default) means the longest
	// non_streamed attempt timeout of the config, and a set value must be at
	// least that. At most 1h.
	PerTryIdleTimeout Duration `json:"per_try_idle_timeout,omitempty"`
	// RetryBaseInterval is Envoy's retry backoff base. Default 10ms, 1ms..1s.
	RetryBaseInterval Duration `json:"retry_base_interval,omitempty"`
	// Routes are the paths sent through failover. Default ["/v1/chat/completions"].
	Routes []string `json:"routes,omitempty"`
	// MaxActiveRequests is the most LLM requests Envoy carries through
	// llm-failover at once. It sizes the llm_failover_ext_proc cluster's
	// circuit breakers: every request holds a route-phase ext_proc stream for
	// its whole duration and an attempt-phase stream while an attempt runs, so
	// max_requests, max_pending_requests and max_connections are twice this.
	// Above it Envoy answers new requests 500 at once (the route phase's
	// stream overflows). Default 10000, 1..1000000.
	MaxActiveRequests int `json:"max_active_requests,omitempty"`
	// UnavailablePort is the port of a loopback listener (127.0.0.1) in the
	// generated envoy.yaml that answers every request 503. Each provider
	// cluster has it as a priority-1 endpoint, which Envoy uses only when the
	// provider's own endpoints (priority 0) have no healthy host, e.g. its
	// DNS name does not resolve: the attempt then fails over like any 503
	// instead of Envoy's "no healthy upstream", which is never retried.
	// Default 9902, 1..65535, not listen_port or admin_port.
	UnavailablePort int `json:"unavailable_port,omitempty"`
	// RouteMessageTimeout is the route-phase ext_proc filter's
	// message_timeout: how long Envoy waits for llm-failover's answer to each
	// message of a request (its headers, its buffered body, its response
	// headers). Expiry is a 504 to the client, so on a loaded Envoy or
	// llm-failover raise it rather than lose requests. Default 2s, 200ms..5m.
	RouteMessageTimeout Duration `json:"route_message_timeout,omitempty"`
	// ExtProcTLS makes Envoy reach llm-failover over TLS, with a client
	// certificate for mutual TLS, from SDS secret files. Unset: plain gRPC.
	// See ExtProcTLS.
	ExtProcTLS *ExtProcTLS `json:"ext_proc_tls,omitempty"`
	// AttemptMessageSlack is how far the attempt-phase ext_proc filter's
	// message_timeout exceeds server.stream_first_event_timeout, which the
	// attempt phase may spend holding a response's headers before it
	// answers. Expiry is a local reply to the client, never retried, so
	// raise it on a loaded machine. Default 5s, 1s..5m.
	AttemptMessageSlack Duration `json:"attempt_message_slack,omitempty"`
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
// defaults and validates. The error lists every problem.
func Parse(b []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ErrInvalid marks every validation problem.
var ErrInvalid = errors.New("invalid config")

// FieldError is one validation problem at a field path.
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Defaults in one place.
const (
	DefaultGRPCAddress        = "127.0.0.1:50051"
	DefaultAdminAddress       = "127.0.0.1:9464"
	DefaultMetadataNamespace  = contract.DefaultNamespace
	DefaultMaxBodyBytes       = 4 << 20
	DefaultMaxTargets         = 8
	DefaultStreamedTimeout    = 60 * time.Second
	DefaultNonStreamedTimeout = 10 * time.Minute
)

// ApplyDefaults fills every unset field with its documented default. It is
// the only place defaults are applied.
func (c *Config) ApplyDefaults() {
	s := &c.Server
	setStr(&s.GRPCAddress, DefaultGRPCAddress)
	setStr(&s.AdminAddress, DefaultAdminAddress)
	setDur(&s.DrainTimeout, 20*time.Second)
	setDur(&s.StreamFirstEventTimeout, 10*time.Second)
	if s.MaxStreamHoldBytes == 0 {
		s.MaxStreamHoldBytes = 64 << 10
	}
	setStr(&c.MetadataNamespace, DefaultMetadataNamespace)
	for i := range c.Providers {
		p := &c.Providers[i]
		setStr(&p.Cluster, p.Name)
		if p.TLS == nil {
			t := true
			p.TLS = &t
		}
		if p.Port == 0 {
			p.Port = 443
			if !*p.TLS {
				p.Port = 80
			}
		}
		switch p.API {
		case APIOpenAI, APIOpenAICompatible, APIAnthropic:
			setStr(&p.BasePath, "/v1")
		case APIGemini:
			setStr(&p.BasePath, "/v1beta")
		case APIAzureOpenAI:
			setStr(&p.BasePath, "/openai")
		}
		p.BasePath = strings.TrimRight(p.BasePath, "/")
		switch p.API {
		case APIAnthropic:
			setStr(&p.Auth.Header, "x-api-key")
			setStr(&p.APIVersion, "2023-06-01")
		case APIGemini:
			setStr(&p.Auth.Header, "x-goog-api-key")
		case APIAzureOpenAI:
			setStr(&p.Auth.Header, "api-key")
			setStr(&p.APIVersion, "2024-10-21")
		default:
			setStr(&p.Auth.Header, "authorization")
		}
		p.Auth.Header = strings.ToLower(p.Auth.Header)
		if p.Auth.Header == "authorization" {
			setStr(&p.Auth.Scheme, "Bearer")
		}
		applyAuthDefaults(&p.Auth)
	}
	b := &c.Breaker
	setInt(&b.ConsecutiveFailures, 3)
	setDur(&b.OpenFor, 30*time.Second)
	setDur(&b.MaxOpenFor, 5*time.Minute)
	setDur(&b.AuthOpenFor, 10*time.Minute)
	setDur(&b.QuotaOpenFor, time.Hour)
	if b.Jitter == nil {
		j := 0.1
		b.Jitter = &j
	}
	setInt(&b.HalfOpenProbes, 1)
	setDur(&b.ProbeTimeout, 60*time.Second)
	if len(b.RecoveryStages) == 0 {
		b.RecoveryStages = []float64{0.1, 0.5, 1.0}
	}
	setDur(&b.RecoveryStageDuration, 10*time.Second)
	defaultTriggers(&b.Triggers)
	for i := range c.Chains {
		if t := c.Chains[i].Triggers; t != nil {
			defaultTriggers(t)
		}
	}
	if c.Routing.AllOpen == "" {
		c.Routing.AllOpen = AllOpenTrySoonest
	}
	if c.Routing.SameTargetRetries == nil {
		z := 0
		c.Routing.SameTargetRetries = &z
	}
	at := &c.Routing.AttemptTimeout
	setDur(&at.Streamed, DefaultStreamedTimeout)
	setDur(&at.NonStreamed, DefaultNonStreamedTimeout)
	for i := range c.Chains {
		if t := c.Chains[i].AttemptTimeout; t != nil {
			setDur(&t.Streamed, at.Streamed.D())
			setDur(&t.NonStreamed, at.NonStreamed.D())
		}
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	setInt(&c.Limits.MaxTargets, DefaultMaxTargets)
	setInt(&c.Trace.MaxEntries, 10000)
	setDur(&c.Trace.TTL, 5*time.Minute)
	e := &c.Envoy
	setInt(&e.ListenPort, 10000)
	setInt(&e.AdminPort, 9901)
	setStr(&e.ExtProcAddress, "127.0.0.1:50051")
	setDur(&e.PerTryTimeout, DefaultNonStreamedTimeout)
	setDur(&e.RetryBaseInterval, 10*time.Millisecond)
	if len(e.Routes) == 0 {
		e.Routes = []string{"/v1/chat/completions"}
	}
	setInt(&e.MaxActiveRequests, 10000)
	setInt(&e.UnavailablePort, 9902)
	setDur(&e.RouteMessageTimeout, 2*time.Second)
	setDur(&e.AttemptMessageSlack, 5*time.Second)
	c.Clients.applyDefaults()
}

func defaultTriggers(t *Triggers) {
	if l := t.Latency; l != nil {
		setInt(&l.MinRequests, 5)
	}
	if r := t.ErrorRate; r != nil {
		setDur(&r.Window, 60*time.Second)
		setInt(&r.MinRequests, 20)
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,59}$`)

// Validate reports every problem with its field path; errors.Is(err, ErrInvalid) holds.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, a ...any) {
		errs = append(errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, a...)})
	}
	durIn := func(path string, d Duration, lo, hi time.Duration) {
		if d.D() < lo || d.D() > hi {
			bad(path, "%s is outside %s..%s", d, lo, hi)
		}
	}
	intIn := func(path string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(path, "%d is outside %d..%d", v, lo, hi)
		}
	}
	errs = append(errs, c.validateChannel()...)
	durIn("server.drain_timeout", c.Server.DrainTimeout, 0, 10*time.Minute)
	durIn("server.stream_first_event_timeout", c.Server.StreamFirstEventTimeout, 100*time.Millisecond, 5*time.Minute)
	if h := c.Server.MaxStreamHoldBytes; h < 1<<10 || h > 16<<20 {
		bad("server.max_stream_hold_bytes", "%s is outside 1KiB..16MiB", h)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_.-]+$`).MatchString(c.MetadataNamespace) {
		bad("metadata_namespace", "%q must be letters, digits, '_', '.', '-'", c.MetadataNamespace)
	}
	if len(c.Providers) == 0 {
		bad("providers", "at least one provider is required")
	}
	providers := map[string]*Provider{}
	clusters := map[string]string{}
	for i := range c.Providers {
		p := &c.Providers[i]
		path := fmt.Sprintf("providers[%d]", i)
		if !nameRE.MatchString(p.Name) {
			bad(path+".name", "%q must match %s", p.Name, nameRE)
		} else if providers[p.Name] != nil {
			bad(path+".name", "%q is used twice", p.Name)
		}
		providers[p.Name] = p
		if prev, ok := clusters[p.Cluster]; ok {
			bad(path+".cluster", "%q is already the cluster of provider %q", p.Cluster, prev)
		}
		clusters[p.Cluster] = p.Name
		known := false
		for _, a := range knownAPIs {
			known = known || p.API == a
		}
		if !known {
			bad(path+".api", "%q is not one of %v", p.API, knownAPIs)
		}
		if p.Host == "" || strings.ContainsAny(p.Host, "/: ") && !strings.HasPrefix(p.Host, "[") {
			bad(path+".host", "%q must be a host name or IP address without scheme or port", p.Host)
		}
		intIn(path+".port", p.Port, 1, 65535)
		if p.BasePath != "" && !strings.HasPrefix(p.BasePath, "/") {
			bad(path+".base_path", "%q must start with '/'", p.BasePath)
		}
		if p.Auth.KeyEnv != "" && p.Auth.KeyFile != "" {
			bad(path+".auth", "set key_env or key_file, not both")
		}
		if !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(p.Auth.Header) {
			bad(path+".auth.header", "%q is not a valid header name", p.Auth.Header)
		}
		validateAuth(path+".auth", &p.Auth, bad)
	}
	if len(c.Chains) == 0 {
		bad("chains", "at least one chain is required")
	}
	chains := map[string]bool{}
	models := map[string]string{}
	for i := range c.Chains {
		ch := &c.Chains[i]
		path := fmt.Sprintf("chains[%d]", i)
		if !nameRE.MatchString(ch.Name) {
			bad(path+".name", "%q must match %s", ch.Name, nameRE)
		} else if chains[ch.Name] {
			bad(path+".name", "%q is used twice", ch.Name)
		}
		chains[ch.Name] = true
		for j, m := range ch.Match.Models {
			if m == "" {
				bad(fmt.Sprintf("%s.match.models[%d]", path, j), "empty model name")
			} else if prev, ok := models[m]; ok {
				bad(fmt.Sprintf("%s.match.models[%d]", path, j), "model %q already selects chain %q", m, prev)
			}
			models[m] = ch.Name
		}
		if len(ch.Targets) == 0 {
			bad(path+".targets", "at least one target is required")
		}
		if len(ch.Targets) > c.Limits.MaxTargets {
			bad(path+".targets", "%d targets exceed limits.max_targets (%d)", len(ch.Targets), c.Limits.MaxTargets)
		}
		for j, t := range ch.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", path, j)
			if providers[t.Provider] == nil {
				bad(tp+".provider", "%q is not a configured provider", t.Provider)
			}
			if t.Model == "" {
				bad(tp+".model", "required")
			}
			if t.ContextWindow < 0 {
				bad(tp+".context_window", "must not be negative")
			}
			for k, c := range t.Supports {
				if c != CapTools && c != CapJSON && c != CapVision {
					bad(fmt.Sprintf("%s.supports[%d]", tp, k), "%q is not one of tools, json, vision", c)
				}
			}
		}
		if ch.Triggers != nil {
			validateTriggers(path+".triggers", ch.Triggers, bad, durIn, intIn)
		}
		if t := ch.AttemptTimeout; t != nil {
			durIn(path+".attempt_timeout.streamed", t.Streamed, 100*time.Millisecond, time.Hour)
			durIn(path+".attempt_timeout.non_streamed", t.NonStreamed, 100*time.Millisecond, time.Hour)
		}
	}
	if c.DefaultChain != "" && !chains[c.DefaultChain] {
		bad("default_chain", "%q is not a configured chain", c.DefaultChain)
	}
	b := &c.Breaker
	intIn("breaker.consecutive_failures", b.ConsecutiveFailures, 1, 1000)
	durIn("breaker.open_for", b.OpenFor, time.Millisecond, 24*time.Hour)
	if b.MaxOpenFor < b.OpenFor {
		bad("breaker.max_open_for", "%s is below open_for (%s)", b.MaxOpenFor, b.OpenFor)
	}
	durIn("breaker.auth_open_for", b.AuthOpenFor, time.Millisecond, 24*time.Hour)
	durIn("breaker.quota_open_for", b.QuotaOpenFor, time.Millisecond, 7*24*time.Hour)
	if j := b.Jitter; j != nil && (*j < 0 || *j > 0.5) {
		bad("breaker.jitter", "%g is outside 0..0.5", *j)
	}
	intIn("breaker.half_open_probes", b.HalfOpenProbes, 1, 100)
	durIn("breaker.probe_timeout", b.ProbeTimeout, time.Second, time.Hour)
	prev := 0.0
	for i, s := range b.RecoveryStages {
		if s <= prev || s > 1 {
			bad(fmt.Sprintf("breaker.recovery_stages[%d]", i), "%g: stages must increase within (0,1]", s)
		}
		prev = s
	}
	if prev != 1 {
		bad("breaker.recovery_stages", "the last stage must be 1.0")
	}
	durIn("breaker.recovery_stage_duration", b.RecoveryStageDuration, time.Millisecond, time.Hour)
	validateTriggers("breaker.triggers", &b.Triggers, bad, durIn, intIn)
	if c.Routing.AllOpen != AllOpenTrySoonest && c.Routing.AllOpen != AllOpenReject {
		bad("routing.all_open", "%q is not try-soonest or reject", c.Routing.AllOpen)
	}
	if r := c.Routing.SameTargetRetries; r != nil {
		intIn("routing.same_target_retries", *r, 0, 5)
	}
	durIn("routing.attempt_timeout.streamed", c.Routing.AttemptTimeout.Streamed, 100*time.Millisecond, time.Hour)
	durIn("routing.attempt_timeout.non_streamed", c.Routing.AttemptTimeout.NonStreamed, 100*time.Millisecond, time.Hour)
	if m := c.Limits.MaxBodyBytes; m < 1<<10 || m > 256<<20 {
		bad("limits.max_body_bytes", "%s is outside 1KiB..256MiB", m)
	}
	intIn("limits.max_targets", c.Limits.MaxTargets, 1, 32)
	intIn("trace.max_entries", c.Trace.MaxEntries, 16, 10_000_000)
	durIn("trace.ttl", c.Trace.TTL, time.Second, 24*time.Hour)
	e := &c.Envoy
	intIn("envoy.listen_port", e.ListenPort, 1, 65535)
	intIn("envoy.admin_port", e.AdminPort, 1, 65535)
	if e.ExtProcAddress == "" {
		bad("envoy.ext_proc_address", "required")
	}
	durIn("envoy.per_try_timeout", e.PerTryTimeout, 100*time.Millisecond, time.Hour)
	durIn("envoy.per_try_idle_timeout", e.PerTryIdleTimeout, 0, time.Hour)
	if d, longest := e.PerTryIdleTimeout.D(), c.LongestAttemptTimeout(false); d != 0 && d < longest {
		bad("envoy.per_try_idle_timeout", "%s would cut a non-streamed answer before its attempt timeout (%s): set 0 or at least that", e.PerTryIdleTimeout, longest)
	}
	durIn("envoy.retry_base_interval", e.RetryBaseInterval, time.Millisecond, time.Second)
	intIn("envoy.max_active_requests", e.MaxActiveRequests, 1, 1_000_000)
	intIn("envoy.unavailable_port", e.UnavailablePort, 1, 65535)
	if e.UnavailablePort == e.ListenPort || e.UnavailablePort == e.AdminPort {
		bad("envoy.unavailable_port", "%d is already envoy.listen_port or envoy.admin_port", e.UnavailablePort)
	}
	durIn("envoy.route_message_timeout", e.RouteMessageTimeout, 200*time.Millisecond, 5*time.Minute)
	durIn("envoy.attempt_message_slack", e.AttemptMessageSlack, time.Second, 5*time.Minute)
	for i, r := range e.Routes {
		if !strings.HasPrefix(r, "/") {
			bad(fmt.Sprintf("envoy.routes[%d]", i), "%q must start with '/'", r)
		}
	}
	c.validateClients(bad)
	return errors.Join(errs...)
}

func validateTriggers(path string, t *Triggers, bad func(string, string, ...any),
	durIn func(string, Duration, time.Duration, time.Duration), intIn func(string, int, int, int)) {
	if l := t.Latency; l != nil {
		durIn(path+".latency.threshold", l.Threshold, 0, 10*time.Minute)
		intIn(path+".latency.min_requests", l.MinRequests, 1, 10000)
	}
	if r := t.ErrorRate; r != nil {
		if r.Threshold < 0 || r.Threshold > 1 {
			bad(path+".error_rate.threshold", "%g is outside 0..1", r.Threshold)
		}
		durIn(path+".error_rate.window", r.Window, time.Second, time.Hour)
		intIn(path+".error_rate.min_requests", r.MinRequests, 1, 1_000_000)
	}
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

// MaxAttempts is the most attempts a request of c may make: the longest
// chain plus routing.same_target_retries.
func (c *Config) MaxAttempts() int {
	n := 0
	for _, ch := range c.Chains {
		n = max(n, len(ch.Targets))
	}
	if c.Routing.SameTargetRetries != nil {
		n += *c.Routing.SameTargetRetries
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

// ReadKey returns the provider's key from its environment variable or file,
// with surrounding white space trimmed. No source returns "", nil. A source
// that is unset, unreadable, empty or only white space is an error naming the
// variable or file: a provider configured with a key must never be called
// without one. The key is never part of an error.
//
// A key held by Envoy (held_by: envoy) is never read here: "", nil.
func (a Auth) ReadKey() (string, error) {
	switch {
	case a.HeldByEnvoy():
		return "", nil
	case a.KeyEnv != "":
		v, ok := os.LookupEnv(a.KeyEnv)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", a.KeyEnv)
		}
		if v = strings.TrimSpace(v); v == "" {
			return "", fmt.Errorf("environment variable %s is empty (or only white space)", a.KeyEnv)
		}
		return v, nil
	case a.KeyFile != "":
		b, err := os.ReadFile(a.KeyFile)
		if err != nil {
			return "", fmt.Errorf("key file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("key file %s is empty (or only white space)", a.KeyFile)
		}
		return v, nil
	}
	return "", nil
}
