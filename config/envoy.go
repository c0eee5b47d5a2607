package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

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
	// Routes are the paths sent through failover; each serves the client
	// API its path ends with (/chat/completions, /embeddings, /models, and
	// any API provider.ClientAPIs registers). Default DefaultRoutes.
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
	// Version is the Envoy release the generated configuration and the
	// route phase are written for: "1.40" (priority_group cluster
	// specifier), "1.39" (matcher cluster specifier over per-attempt slot
	// headers, for Istio 1.31) or "1.38" (one aggregate cluster per plan
	// shape, for Istio 1.30). docs/compatibility.md says what each older
	// version loses. `envoy-config --envoy-version` overrides it. The server
	// and the Envoy it serves must agree. Default "1.40".
	Version string `json:"version,omitempty"`
	// MaxShapes bounds the aggregate clusters generated for Envoy 1.38, one
	// per plan shape (a sequence of two or more provider clusters): the full
	// chains first, then their in-order subsequences with fewer targets. A
	// plan whose shape was not generated uses its longest generated prefix
	// (at worst its first target alone), which is counted and logged.
	// Ignored for other versions. Default 64, 1..4096.
	MaxShapes int `json:"max_shapes,omitempty"`
}

// Envoy releases the generator and the route phase support (envoy.version).
const (
	EnvoyV138 = "1.38"
	EnvoyV139 = "1.39"
	EnvoyV140 = "1.40"
)

// EnvoyVersions are the supported envoy.version values, oldest first.
func EnvoyVersions() []string { return []string{EnvoyV138, EnvoyV139, EnvoyV140} }

// validateEnvoyVersion checks envoy.version and envoy.max_shapes.
func (e *Envoy) validateEnvoyVersion(p *problems) {
	if !slices.Contains(EnvoyVersions(), e.Version) {
		p.bad("envoy.version", "%q is not a supported Envoy version: want one of %s", e.Version, strings.Join(EnvoyVersions(), ", "))
	}
	p.intIn("envoy.max_shapes", e.MaxShapes, 1, 4096)
}

func (e *Envoy) applyDefaults() {
	setInt(&e.ListenPort, 10000)
	setInt(&e.AdminPort, 9901)
	setStr(&e.ExtProcAddress, DefaultGRPCAddress)
	setDur(&e.PerTryTimeout, DefaultNonStreamedTimeout)
	setDur(&e.RetryBaseInterval, 10*time.Millisecond)
	if len(e.Routes) == 0 {
		e.Routes = append([]string(nil), DefaultRoutes...)
	}
	setInt(&e.MaxActiveRequests, 10000)
	setInt(&e.UnavailablePort, 9902)
	setDur(&e.RouteMessageTimeout, 2*time.Second)
	setDur(&e.AttemptMessageSlack, 5*time.Second)
	setStr(&e.Version, EnvoyV140)
	setInt(&e.MaxShapes, 64)
}

// validateEnvoy checks the envoy section; per_try_idle_timeout is checked
// against the config's longest non-streamed attempt timeout.
func (c *Config) validateEnvoy(p *problems) {
	e := &c.Envoy
	p.intIn("envoy.listen_port", e.ListenPort, 1, 65535)
	p.intIn("envoy.admin_port", e.AdminPort, 1, 65535)
	if e.ExtProcAddress == "" {
		p.bad("envoy.ext_proc_address", "required")
	}
	p.durIn("envoy.per_try_timeout", e.PerTryTimeout, 100*time.Millisecond, time.Hour)
	p.durIn("envoy.per_try_idle_timeout", e.PerTryIdleTimeout, 0, time.Hour)
	if d, longest := e.PerTryIdleTimeout.D(), c.LongestAttemptTimeout(false); d != 0 && d < longest {
		p.bad("envoy.per_try_idle_timeout", "%s would cut a non-streamed answer before its attempt timeout (%s): set 0 or at least that", e.PerTryIdleTimeout, longest)
	}
	p.durIn("envoy.retry_base_interval", e.RetryBaseInterval, time.Millisecond, time.Second)
	p.intIn("envoy.max_active_requests", e.MaxActiveRequests, 1, 1_000_000)
	p.intIn("envoy.unavailable_port", e.UnavailablePort, 1, 65535)
	if e.UnavailablePort == e.ListenPort || e.UnavailablePort == e.AdminPort {
		p.bad("envoy.unavailable_port", "%d is already envoy.listen_port or envoy.admin_port", e.UnavailablePort)
	}
	p.durIn("envoy.route_message_timeout", e.RouteMessageTimeout, 200*time.Millisecond, 5*time.Minute)
	p.durIn("envoy.attempt_message_slack", e.AttemptMessageSlack, time.Second, 5*time.Minute)
	for i, r := range e.Routes {
		if !strings.HasPrefix(r, "/") {
			p.bad(fmt.Sprintf("envoy.routes[%d]", i), "%q must start with '/'", r)
		}
	}
	e.validateEnvoyVersion(p)
}
