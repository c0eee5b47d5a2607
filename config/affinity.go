package config

import (
	"fmt"
	"time"

	"github.com/llm-failover/llm-failover/affinity"
)

// Affinity keeps a conversation on the target that last served it, on the
// chains that turn it on (chains[].affinity): the plan puts that target
// first while its breaker admits traffic, so the provider's prompt cache
// stays warm, and a conversation that failed over stays on its new target
// instead of flapping back (docs/design.md, "Conversation affinity").
type Affinity struct {
	// Keys are where a conversation's identifier is looked for, in order;
	// the first found names it: header (the Header below), prompt_cache_key,
	// user (the request's fields of those names), messages (a hash of the
	// opening: the system and developer messages before the first user
	// message, and that message). Default all four in that order; each at
	// most once, at least one.
	Keys []affinity.Source `json:"keys,omitempty"`
	// Header is the request header that names a conversation. Default
	// "x-llm-failover-session"; a lower-case header name.
	Header string `json:"header,omitempty"`
	// TTL is how long a conversation is remembered after its last answer.
	// Default 1h, 1s..168h.
	TTL Duration `json:"ttl,omitempty"`
	// MaxConversations bounds the conversations remembered by each replica;
	// the least recently used is forgotten first. Default 100000, 1..10000000.
	MaxConversations int `json:"max_conversations,omitempty"`
	// SecretFile holds the secret (at least 16 bytes once surrounding white
	// space is trimmed) under which identifiers are hashed into
	// conversation keys. Default empty: a random secret per process, so
	// keys cannot be guessed, and are not shared with other replicas (set
	// the same file on every replica that shares a fleet store).
	SecretFile string `json:"secret_file,omitempty"`
}

// DefaultAffinityHeader is the default affinity.header.
const DefaultAffinityHeader = "x-llm-failover-session"

func (a *Affinity) applyDefaults() {
	if len(a.Keys) == 0 {
		a.Keys = append([]affinity.Source(nil), affinity.Sources...)
	}
	setStr(&a.Header, DefaultAffinityHeader)
	setDur(&a.TTL, time.Hour)
	setInt(&a.MaxConversations, 100_000)
}

func (c *Config) validateAffinity(p *problems) {
	a := &c.Affinity
	seen := map[affinity.Source]bool{}
	for i, k := range a.Keys {
		path := fmt.Sprintf("affinity.keys[%d]", i)
		switch {
		case !k.Valid():
			p.bad(path, "%q is not header, prompt_cache_key, user or messages", k)
		case seen[k]:
			p.bad(path, "%q is listed twice", k)
		}
		seen[k] = true
	}
	if !headerNameRE.MatchString(a.Header) {
		p.bad("affinity.header", "%q is not a lower-case header name", a.Header)
	}
	p.durIn("affinity.ttl", a.TTL, time.Second, 168*time.Hour)
	p.intIn("affinity.max_conversations", a.MaxConversations, 1, 10_000_000)
	for i, ch := range c.Chains {
		if ch.Affinity && ch.Kind == KindEmbeddings {
			p.bad(fmt.Sprintf("chains[%d].affinity", i), "an embeddings chain has no conversations")
		}
	}
}

// ReadSecret returns the affinity secret from SecretFile with surrounding
// white space trimmed, or nil when no file is set (the caller makes a
// random one). An unreadable or short file is an error naming the file;
// the secret is never part of an error.
func (a Affinity) ReadSecret() ([]byte, error) {
	return readSecretFile("affinity.secret_file", a.SecretFile, 16)
}

// stayOrders are the orders a plan of a chain with affinity may take
// besides the chain's own (seq, its provider clusters in order): each
// later cluster moved first, the others in chain order behind it. Shapes
// generates them, and their in-order subsequences, after every chain's own,
// so that on Envoy 1.38 a conversation kept on a later target still fails
// over to the others.
func stayOrders(seq []string) [][]string {
	var out [][]string
	for i := 1; i < len(seq); i++ {
		o := make([]string, 0, len(seq))
		o = append(o, seq[i])
		o = append(o, seq[:i]...)
		out = append(out, append(o, seq[i+1:]...))
	}
	return out
}
