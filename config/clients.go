package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Clients is the client access policy: how a caller is identified, which
// chains and models it may use, and how much. With nothing set every caller
// is allowed everything, as before the section existed.
type Clients struct {
	// Default is the policy for callers that match no listed client.
	Default DefaultClient `json:"default"`
	// KeyHeaders are the request headers that may carry a client's API key:
	// "authorization" (read as "Bearer <key>") and "x-api-key". Default both.
	KeyHeaders []string `json:"key_headers,omitempty"`
	// SourceHeader names a request header a trusted proxy in front of Envoy
	// sets to the caller's IP; its last comma-separated value is used instead
	// of Envoy's source.address attribute (for x-forwarded-for the one
	// before the last, which Envoy appends itself). Default empty: only
	// source.address, which no request header can change. Set it only when
	// that proxy overwrites the header on every request.
	SourceHeader string `json:"source_header,omitempty"`
	// JWT says where Envoy's jwt_authn filter leaves a verified token's
	// payload. Unset: no client is identified by a JWT.
	JWT *ClientJWT `json:"jwt,omitempty"`
	// List are the known clients, matched in order. Default none.
	List []Client `json:"list,omitempty"`
}

// ClientJWT locates a verified JWT claim in Envoy's dynamic metadata.
type ClientJWT struct {
	// PayloadKey is jwt_authn's payload_in_metadata: the key of the
	// payload in the "envoy.filters.http.jwt_authn" metadata namespace.
	// Required.
	PayloadKey string `json:"payload_key"`
	// Claim is the top-level string claim that names the client. Default "sub".
	Claim string `json:"claim,omitempty"`
}

// ClientAction is what the default policy does with an unknown caller.
type ClientAction string

// The default actions.
const (
	ClientAllow ClientAction = "allow"
	ClientDeny  ClientAction = "deny"
)

// ClientPolicy is what a client may do.
type ClientPolicy struct {
	// Chains the client may use. Empty: every chain.
	Chains []string `json:"chains,omitempty"`
	// Models are the request "model" values the client may send. Empty: every model.
	Models []string `json:"models,omitempty"`
	// ChainHeader lets the client pick a chain with x-llm-failover-chain.
	// Default false for a listed client; for clients.default, true when
	// clients.list is empty (configs without clients keep working), else false.
	ChainHeader *bool `json:"chain_header,omitempty"`
	// Rate limits the requests admitted per window. Unset: no limit.
	Rate *ClientWindow `json:"rate,omitempty"`
	// Tokens is the token budget per window: each admitted request's prompt
	// estimate (body bytes / 4) and the usage.completion_tokens of its answer
	// (a streamed answer's usage chunk, sent with
	// stream_options.include_usage; without it the streamed text's bytes /
	// 4). Unset: no budget.
	Tokens *ClientWindow `json:"tokens,omitempty"`
	// Region is the region the client's requests prefer (ahead of the
	// x-llm-failover-region header and the chain's region). Default none;
	// a region some target is in.
	Region string `json:"region,omitempty"`
}

// ClientWindow is a limit per fixed window (windows start at multiples of
// Window since the Unix epoch, so replicas agree on them).
type ClientWindow struct {
	// Limit is the most requests (or tokens) per window; a request reaching
	// it exactly is admitted. Required, 1..1000000000000.
	Limit int64 `json:"limit"`
	// Window is the window length. Default 1m, 1s..744h (31 days).
	Window Duration `json:"window,omitempty"`
}

// DefaultClient is the policy of callers that match no listed client.
type DefaultClient struct {
	// Action: allow or deny. Default allow when clients.list is empty, deny otherwise.
	Action ClientAction `json:"action,omitempty"`
	// ClientPolicy applies to every unknown caller together: they share one
	// rate window and one token budget.
	ClientPolicy
}

// Client is one known caller. It is identified by its API key, its mTLS
// URI SAN or its JWT claim when it has any of them; a client with none is
// identified by its source addresses.
type Client struct {
	// Name identifies the client in logs and metrics. Required; [a-z0-9_.-],
	// at most 60 characters.
	Name string `json:"name"`
	// APIKeys are the SHA-256 hashes of the client's keys, "sha256:<64 hex>"
	// (`llm-failover hash-key` prints one). Default none.
	APIKeys []string `json:"api_keys,omitempty"`
	// URISANs are the URI SANs of the client's certificate, as Envoy
	// verified them (connection.uri_san_peer_certificate: the first URI
	// SAN). Default none.
	URISANs []string `json:"uri_sans,omitempty"`
	// JWTClaims are the values of clients.jwt.claim that name this client.
	// Default none.
	JWTClaims []string `json:"jwt_claims,omitempty"`
	// Sources are the IPs and CIDRs the client may call from. A client with
	// a key, SAN or JWT claim must also call from one of them when set; a
	// client with none of those is identified by them. Default: anywhere.
	Sources []string `json:"sources,omitempty"`
	// ClientPolicy is what the client may do.
	ClientPolicy
}

// Active reports whether any access policy is configured: without one the
// route phase does not identify callers.
func (c *Clients) Active() bool {
	d := &c.Default
	return len(c.List) > 0 || d.Action == ClientDeny || len(d.Chains) > 0 || len(d.Models) > 0 ||
		d.Rate != nil || d.Tokens != nil || d.ChainHeader != nil && !*d.ChainHeader
}

// HasKeys reports whether any client has an API key.
func (c *Clients) HasKeys() bool {
	for i := range c.List {
		if len(c.List[i].APIKeys) > 0 {
			return true
		}
	}
	return false
}

// The headers a client's API key may come in.
const (
	KeyHeaderAuthorization = "authorization"
	KeyHeaderAPIKey        = "x-api-key"
)

// applyDefaults fills the clients section's defaults (called by ApplyDefaults).
func (c *Clients) applyDefaults() {
	if len(c.KeyHeaders) == 0 {
		c.KeyHeaders = []string{KeyHeaderAuthorization, KeyHeaderAPIKey}
	}
	for i, h := range c.KeyHeaders {
		c.KeyHeaders[i] = strings.ToLower(h)
	}
	c.SourceHeader = strings.ToLower(c.SourceHeader)
	if c.JWT != nil {
		setStr(&c.JWT.Claim, "sub")
	}
	d := &c.Default
	if d.Action == "" {
		d.Action = ClientAllow
		if len(c.List) > 0 {
			d.Action = ClientDeny
		}
	}
	if d.ChainHeader == nil {
		v := len(c.List) == 0
		d.ChainHeader = &v
	}
	d.ClientPolicy.applyDefaults()
	for i := range c.List {
		p := &c.List[i].ClientPolicy
		if p.ChainHeader == nil {
			v := false
			p.ChainHeader = &v
		}
		p.applyDefaults()
	}
}

func (p *ClientPolicy) applyDefaults() {
	for _, w := range []*ClientWindow{p.Rate, p.Tokens} {
		if w != nil {
			setDur(&w.Window, time.Minute)
		}
	}
}

var headerNameRE = nameRE // lower-case token characters

// validateClients reports the clients section's problems.
func (c *Config) validateClients(p *problems) {
	cl := &c.Clients
	chains := map[string]bool{}
	for _, ch := range c.Chains {
		chains[ch.Name] = true
	}
	for i, h := range cl.KeyHeaders {
		if h != KeyHeaderAuthorization && h != KeyHeaderAPIKey {
			p.bad(fmt.Sprintf("clients.key_headers[%d]", i), "%q is not authorization or x-api-key", h)
		}
	}
	if h := cl.SourceHeader; h != "" && (!headerNameRE.MatchString(h) || h == KeyHeaderAuthorization || h == KeyHeaderAPIKey) {
		p.bad("clients.source_header", "%q is not a usable header name", h)
	}
	if j := cl.JWT; j != nil && j.PayloadKey == "" {
		p.bad("clients.jwt.payload_key", "required")
	}
	if a := cl.Default.Action; a != ClientAllow && a != ClientDeny {
		p.bad("clients.default.action", "%q is not allow or deny", a)
	}
	validateClientPolicy("clients.default", &cl.Default.ClientPolicy, chains, p)
	ids := clientIDs{names: map[string]bool{}, keys: map[string]string{}, sans: map[string]string{}, claims: map[string]string{}}
	for i := range cl.List {
		c.validateClient(fmt.Sprintf("clients.list[%d]", i), &cl.List[i], &ids, chains, p)
	}
}

// clientIDs remembers, across clients.list, the names and the client each
// credential identifies, to report a value used twice.
type clientIDs struct {
	names              map[string]bool
	keys, sans, claims map[string]string
}

// validateClient reports the problems of one entry of clients.list at path.
func (c *Config) validateClient(path string, k *Client, ids *clientIDs, chains map[string]bool, p *problems) {
	if !nameRE.MatchString(k.Name) {
		p.bad(path+".name", "%q must match [a-z0-9][a-z0-9_.-]{0,59}", k.Name)
	} else if ids.names[k.Name] {
		p.bad(path+".name", "%q is listed twice", k.Name)
	}
	ids.names[k.Name] = true
	// unique checks one identification list: problem says what is wrong with
	// a value ("" when nothing), and a good value may identify one client only.
	unique := func(field string, vals []string, seen map[string]string, problem func(string) string) {
		for j, v := range vals {
			at := fmt.Sprintf("%s.%s[%d]", path, field, j)
			if why := problem(v); why != "" {
				p.bad(at, "%s", why)
				continue
			}
			if other, dup := seen[v]; dup {
				p.bad(at, "also identifies client %q", other)
			}
			seen[v] = k.Name
		}
	}
	nonEmpty := func(v string) string {
		if v == "" {
			return "empty"
		}
		return ""
	}
	unique("api_keys", k.APIKeys, ids.keys, func(h string) string {
		if !ValidKeyHash(h) {
			return "want \"sha256:\" and 64 lower-case hex digits (llm-failover hash-key prints one), not the key itself"
		}
		return ""
	})
	unique("uri_sans", k.URISANs, ids.sans, nonEmpty)
	if len(k.JWTClaims) > 0 && c.Clients.JWT == nil {
		p.bad(path+".jwt_claims", "needs clients.jwt")
	}
	unique("jwt_claims", k.JWTClaims, ids.claims, nonEmpty)
	for j, s := range k.Sources {
		if _, err := ParseSource(s); err != nil {
			p.bad(fmt.Sprintf("%s.sources[%d]", path, j), "%v", err)
		}
	}
	if len(k.APIKeys)+len(k.URISANs)+len(k.JWTClaims)+len(k.Sources) == 0 {
		p.bad(path, "needs a way to be identified: api_keys, uri_sans, jwt_claims or sources")
	}
	validateClientPolicy(path, &k.ClientPolicy, chains, p)
}

func validateClientPolicy(path string, cp *ClientPolicy, chains map[string]bool, p *problems) {
	for i, ch := range cp.Chains {
		if !chains[ch] {
			p.bad(fmt.Sprintf("%s.chains[%d]", path, i), "%q is not a configured chain", ch)
		}
	}
	for i, m := range cp.Models {
		if m == "" {
			p.bad(fmt.Sprintf("%s.models[%d]", path, i), "empty")
		}
	}
	for _, w := range []struct {
		name string
		w    *ClientWindow
	}{{"rate", cp.Rate}, {"tokens", cp.Tokens}} {
		if w.w == nil {
			continue
		}
		if w.w.Limit < 1 || w.w.Limit > 1e12 {
			p.bad(path+"."+w.name+".limit", "%d is outside 1..1000000000000", w.w.Limit)
		}
		if d := w.w.Window.D(); d < time.Second || d > 744*time.Hour {
			p.bad(path+"."+w.name+".window", "%s is outside 1s..744h", w.w.Window)
		}
	}
}

// KeyHashPrefix starts every stored API key hash.
const KeyHashPrefix = "sha256:"

// ValidKeyHash reports whether h is "sha256:" and 64 lower-case hex digits.
func ValidKeyHash(h string) bool {
	hx, ok := strings.CutPrefix(h, KeyHashPrefix)
	if !ok || len(hx) != 64 || strings.ToLower(hx) != hx {
		return false
	}
	_, err := hex.DecodeString(hx)
	return err == nil
}

// ParseSource parses a client source: a CIDR ("10.0.0.0/8") or one IP.
// IPv4-mapped IPv6 forms are unmapped.
func ParseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP or a CIDR", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP or a CIDR", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
