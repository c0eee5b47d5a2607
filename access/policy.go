package access

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/llm-failover/llm-failover/config"
)

// Unknown is the name logged for a caller that matches no listed client.
const Unknown = "(unknown)"

// Client is one compiled client: who it is and what it may do.
type Client struct {
	// Name is the configured name; Unknown for the default policy.
	Name string
	// known is false for the default policy's client.
	known       bool
	keys        [][sha256.Size]byte
	sans        []string
	claims      []string
	sources     []netip.Prefix
	chains      []string
	models      []string
	chainHeader bool
	rate        *config.ClientWindow
	tokens      *config.ClientWindow
}

// Known reports whether c is a listed client (not the default policy).
func (c *Client) Known() bool { return c.known }

// credentialed reports whether c is identified by a key, SAN or claim (its
// sources then only restrict it).
func (c *Client) credentialed() bool {
	return len(c.keys)+len(c.sans)+len(c.claims) > 0
}

// Policy is the compiled, immutable access policy of one configuration.
type Policy struct {
	active       bool
	allowUnknown bool
	keysInUse    bool
	keyHeaders   []string
	sourceHeader string
	clients      []*Client
	unknown      *Client
}

// Compile builds the policy of a validated clients section.
func Compile(cl *config.Clients) (*Policy, error) {
	p := &Policy{
		active:       cl.Active(),
		allowUnknown: cl.Default.Action != config.ClientDeny,
		keysInUse:    cl.HasKeys(),
		keyHeaders:   cl.KeyHeaders,
		sourceHeader: cl.SourceHeader,
	}
	p.unknown = compilePolicy(&Client{Name: Unknown}, &cl.Default.ClientPolicy)
	for i := range cl.List {
		k := &cl.List[i]
		c := compilePolicy(&Client{Name: k.Name, known: true, sans: k.URISANs, claims: k.JWTClaims}, &k.ClientPolicy)
		for _, h := range k.APIKeys {
			var d [sha256.Size]byte
			hx, _ := strings.CutPrefix(h, config.KeyHashPrefix)
			if n, err := hex.Decode(d[:], []byte(hx)); err != nil || n != len(d) {
				return nil, fmt.Errorf("access: client %q: api key hash %q is not sha256:<64 hex>", k.Name, h)
			}
			c.keys = append(c.keys, d)
		}
		for _, s := range k.Sources {
			pr, err := config.ParseSource(s)
			if err != nil {
				return nil, fmt.Errorf("access: client %q: %w", k.Name, err)
			}
			c.sources = append(c.sources, pr)
		}
		p.clients = append(p.clients, c)
	}
	return p, nil
}

func compilePolicy(c *Client, cp *config.ClientPolicy) *Client {
	c.chains, c.models = cp.Chains, cp.Models
	c.chainHeader = cp.ChainHeader == nil || *cp.ChainHeader
	c.rate, c.tokens = cp.Rate, cp.Tokens
	return c
}

// Active reports whether callers are identified at all; an inactive policy
// allows everything and Identify need not be called.
func (p *Policy) Active() bool { return p.active }

// Client returns the listed client called name, or nil.
func (p *Policy) Client(name string) *Client {
	return p.find(func(c *Client) bool { return c.Name == name })
}

// named is Client, with Unknown naming the default policy's client.
func (p *Policy) named(name string) *Client {
	if name == Unknown {
		return p.unknown
	}
	return p.Client(name)
}

// find returns the first listed client for which match is true, or nil.
func (p *Policy) find(match func(*Client) bool) *Client {
	for _, c := range p.clients {
		if match(c) {
			return c
		}
	}
	return nil
}

// Caller is what the route phase knows about who sends a request.
type Caller struct {
	// Header returns a request header's value ("" when absent); names are lower case.
	Header func(name string) string
	// Source is Envoy's source.address attribute: "ip:port", "[ipv6]:port"
	// or "" when Envoy did not send it.
	Source string
	// URISAN is Envoy's connection.uri_san_peer_certificate attribute: the
	// first URI SAN of the verified client certificate, or "".
	URISAN string
	// Claim is the configured claim of the JWT payload jwt_authn verified, or "".
	Claim string
}

// Reason says why a request is refused; the zero value means allowed.
type Reason uint8

// The reasons.
const (
	Allowed           Reason = iota
	InvalidKey               // a key that matches no client: 401 invalid_api_key
	UnknownDenied            // no client matched and the default is deny: 403
	SourceDenied             // the client's sources do not contain the caller's address: 403
	ChainHeaderDenied        // the client may not pick a chain with the header: 403
	ChainDenied              // the chain is not one of the client's: 403
	ModelDenied              // the model is not one of the client's: 403
	RateExceeded             // over the request rate: 429
	BudgetExceeded           // over the token budget: 429
)

var reasonNames = [...]string{"allowed", "invalid_api_key", "unknown_caller", "source_not_allowed",
	"chain_header_not_allowed", "chain_not_allowed", "model_not_allowed", "rate_limited", "token_budget_exceeded"}

// String names r as logged.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Status is the HTTP status the client gets for r (200 when allowed).
func (r Reason) Status() int {
	switch r {
	case Allowed:
		return 200
	case InvalidKey:
		return 401
	case RateExceeded, BudgetExceeded:
		return 429
	}
	return 403
}

// Identity is who a caller is, and how it was told.
type Identity struct {
	// Client is the matched client, or the default policy's; never nil
	// once identified.
	Client *Client
	// By is how: "api_key", "uri_san", "jwt", "source" or "default".
	By string
}

// Identify tells who the caller is and whether it may call at all (its
// key, its source, the default action). The client is set whenever one was
// matched, also when the reason is not Allowed, for the log line.
func (p *Policy) Identify(c Caller) (Identity, Reason) {
	addr, hasAddr := p.sourceAddr(c)
	if key := p.presentedKey(c.Header); key != "" {
		cl := p.matchKey(key)
		if cl == nil {
			return Identity{Client: p.unknown, By: "api_key"}, InvalidKey
		}
		return p.restrict(Identity{Client: cl, By: "api_key"}, addr, hasAddr)
	}
	if cl := p.find(func(cl *Client) bool { return c.URISAN != "" && slices.Contains(cl.sans, c.URISAN) }); cl != nil {
		return p.restrict(Identity{Client: cl, By: "uri_san"}, addr, hasAddr)
	}
	if cl := p.find(func(cl *Client) bool { return c.Claim != "" && slices.Contains(cl.claims, c.Claim) }); cl != nil {
		return p.restrict(Identity{Client: cl, By: "jwt"}, addr, hasAddr)
	}
	if cl := p.find(func(cl *Client) bool { return hasAddr && !cl.credentialed() && contains(cl.sources, addr) }); cl != nil {
		return Identity{Client: cl, By: "source"}, Allowed
	}
	id := Identity{Client: p.unknown, By: "default"}
	if !p.allowUnknown {
		return id, UnknownDenied
	}
	return id, Allowed
}

// restrict refuses a credentialed client calling from outside its sources.
func (p *Policy) restrict(id Identity, addr netip.Addr, hasAddr bool) (Identity, Reason) {
	if len(id.Client.sources) > 0 && (!hasAddr || !contains(id.Client.sources, addr)) {
		return id, SourceDenied
	}
	return id, Allowed
}

// presentedKey is the API key in the first configured key header that has
// one: "authorization: Bearer <key>" (the scheme in any case) or
// "x-api-key: <key>". It is "" when no client has a key: a key is then
// not looked for.
func (p *Policy) presentedKey(header func(string) string) string {
	if header == nil || !p.keysInUse {
		return ""
	}
	for _, h := range p.keyHeaders {
		v := strings.TrimSpace(header(h))
		if v == "" {
			continue
		}
		if h == config.KeyHeaderAuthorization {
			scheme, key, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "bearer") {
				continue
			}
			v = strings.TrimSpace(key)
		}
		if v != "" {
			return v
		}
	}
	return ""
}

// matchKey finds the client whose key hashes to the presented key's hash.
// Every configured hash is compared in constant time, and all of them are
// compared, so the time taken tells nothing about which one (or how much
// of one) matched.
func (p *Policy) matchKey(key string) *Client {
	sum := sha256.Sum256([]byte(key))
	var found *Client
	for _, c := range p.clients {
		for i := range c.keys {
			if subtle.ConstantTimeCompare(sum[:], c.keys[i][:]) == 1 && found == nil {
				found = c
			}
		}
	}
	return found
}

// sourceAddr is the caller's address: from the trusted proxy header when
// one is configured, else from Envoy's source.address.
func (p *Policy) sourceAddr(c Caller) (netip.Addr, bool) {
	s := c.Source
	if p.sourceHeader != "" {
		s = ""
		if c.Header != nil {
			s = proxyEntry(c.Header(p.sourceHeader), p.sourceHeader == headerXFF)
		}
	}
	return ParseAddress(s)
}

// headerXFF is the one source header Envoy itself writes to.
const headerXFF = "x-forwarded-for"

// proxyEntry is the address the trusted proxy wrote in a source header: its
// last comma-separated entry, or for x-forwarded-for the one before it:
// with use_remote_address (which envoy-config sets with a clients policy)
// Envoy appends its TCP peer, the proxy itself, to x-forwarded-for
// (conn_manager_utility.cc mutateRequestHeaders, appendXff). "" when there
// is no such entry.
func proxyEntry(v string, xff bool) string {
	if xff {
		i := strings.LastIndexByte(v, ',')
		if i < 0 {
			return "" // only Envoy's entry: the proxy wrote none
		}
		v = v[:i]
	}
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// ParseAddress reads an address as Envoy prints it ("ip:port",
// "[ipv6]:port") or a bare IP; IPv4-mapped IPv6 is unmapped. It reports
// false for anything else (a pipe address, garbage).
func ParseAddress(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func contains(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Route is what the request asks for, once its body is read.
type Route struct {
	// Chain is the resolved chain's name.
	Chain string
	// Model is the request's "model".
	Model string
	// ChainHeader is set when the caller picked the chain with x-llm-failover-chain.
	ChainHeader bool
}

// MayPickChain reports whether the client may send x-llm-failover-chain.
func (c *Client) MayPickChain() bool { return c.chainHeader }

// Authorize decides whether the client may use the chain and model.
func (c *Client) Authorize(r Route) Reason {
	if r.ChainHeader && !c.chainHeader {
		return ChainHeaderDenied
	}
	if len(c.chains) > 0 && !slices.Contains(c.chains, r.Chain) {
		return ChainDenied
	}
	if len(c.models) > 0 && !slices.Contains(c.models, r.Model) {
		return ModelDenied
	}
	return Allowed
}

// HashKey is the stored form of an API key: "sha256:" and the hex SHA-256
// of its bytes (what clients.list[].api_keys holds).
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return config.KeyHashPrefix + hex.EncodeToString(sum[:])
}
