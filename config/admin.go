package config

import "fmt"

// Admin configures the admin API (gRPC llmfailover.admin.v1.AdminService)
// and the dashboard, both served on server.admin_address (docs/admin.md).
// Reading is open to whoever reaches the listener (loopback by default);
// TripBreaker and ResetBreaker are refused unless the caller presents the
// admin token or, over admin.tls with a client CA, a client certificate
// with one of Identities.
type Admin struct {
	// TokenFile is a file holding the admin token (surrounding white space
	// trimmed, at least 16 bytes). Read at start. Default none.
	TokenFile string `json:"token_file,omitempty"`
	// TokenEnv is the environment variable holding the admin token (at least
	// 16 bytes), used when TokenFile is unset. Read at start. Default
	// "LLM_FAILOVER_ADMIN_TOKEN"; unset or empty variable: no token, so only
	// an mTLS identity can trip or reset a breaker.
	TokenEnv string `json:"token_env,omitempty"`
	// Identities are the client certificate identities (a URI or DNS
	// subject alternative name, such as a SPIFFE ID, or the subject common
	// name) allowed to trip and reset breakers. Needs tls.client_ca_file.
	// Default none.
	Identities []string `json:"identities,omitempty"`
	// TLS serves the admin listener (dashboard, admin API, /metrics,
	// health) over TLS, or mutual TLS with a client CA: then every client,
	// Prometheus and the browser included, needs a certificate that CA
	// signed. Same fields as server.tls. Unset: plain HTTP.
	TLS *ServerTLS `json:"tls,omitempty"`
	// MaxWatchers bounds the event streams open at once (WatchEvents calls
	// and dashboard timelines); one more is refused (RESOURCE_EXHAUSTED,
	// 503). Default 16, 1..1000.
	MaxWatchers int `json:"max_watchers,omitempty"`
	// WatchBuffer is each watcher's event buffer: a watcher that falls
	// this far behind loses events (the stream's seq shows the gap).
	// Default 256, 1..100000.
	WatchBuffer int `json:"watch_buffer,omitempty"`
	// TTFBSamples is how many recent time-to-first-byte samples each
	// target keeps for the status's p50 and p95 (8 bytes each). Read at
	// start. Default 512, 16..100000.
	TTFBSamples int `json:"ttfb_samples,omitempty"`
}

// Defaults of Admin.
const (
	DefaultAdminTokenEnv    = "LLM_FAILOVER_ADMIN_TOKEN"
	DefaultAdminMaxWatchers = 16
	DefaultAdminWatchBuffer = 256
	DefaultAdminTTFBSamples = 512
	// MinAdminTokenLen is the shortest admin token accepted, in bytes.
	MinAdminTokenLen = 16
)

func (a *Admin) applyDefaults() {
	setStr(&a.TokenEnv, DefaultAdminTokenEnv)
	setInt(&a.MaxWatchers, DefaultAdminMaxWatchers)
	setInt(&a.WatchBuffer, DefaultAdminWatchBuffer)
	setInt(&a.TTFBSamples, DefaultAdminTTFBSamples)
}

func (a *Admin) validate(p *problems) {
	p.intIn("admin.max_watchers", a.MaxWatchers, 1, 1000)
	p.intIn("admin.watch_buffer", a.WatchBuffer, 1, 100000)
	p.intIn("admin.ttfb_samples", a.TTFBSamples, 16, 100000)
	if t := a.TLS; t != nil {
		if t.CertFile == "" {
			p.bad("admin.tls.cert_file", "required")
		}
		if t.KeyFile == "" {
			p.bad("admin.tls.key_file", "required")
		}
		if len(t.ClientSANs) > 0 && t.ClientCAFile == "" {
			p.bad("admin.tls.client_sans", "needs admin.tls.client_ca_file (no client certificate is asked without it)")
		}
	}
	if len(a.Identities) > 0 && (a.TLS == nil || a.TLS.ClientCAFile == "") {
		p.bad("admin.identities", "needs admin.tls.client_ca_file: without mutual TLS no identity is verified")
	}
	for i, id := range a.Identities {
		if id == "" {
			p.bad(fmt.Sprintf("admin.identities[%d]", i), "empty")
		}
	}
}
