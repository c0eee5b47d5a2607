package affinity

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Source is where a conversation's identifier was found.
type Source string

// The sources, in the default order of config.Affinity.Keys.
const (
	// SourceHeader: the request header config.Affinity.Header
	// (x-llm-failover-session by default), any non-empty value.
	SourceHeader Source = "header"
	// SourcePromptCacheKey: the request's top-level "prompt_cache_key"
	// string (chat completions and responses).
	SourcePromptCacheKey Source = "prompt_cache_key"
	// SourceUser: the request's top-level "user" string.
	SourceUser Source = "user"
	// SourceMessages: the conversation's opening, which every later turn
	// repeats: for chat completions, every system or developer message
	// before the first user message, and that first user message; for
	// responses, "instructions" and the first item of "input" (or "input"
	// itself when it is a string). Each part is hashed as its role and its
	// content (a string's text, or the compact JSON of a content array), so
	// a later turn that appends messages keeps the key.
	SourceMessages Source = "messages"
)

// Sources are every source, in the default order.
var Sources = []Source{SourceHeader, SourcePromptCacheKey, SourceUser, SourceMessages}

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	for _, k := range Sources {
		if s == k {
			return true
		}
	}
	return false
}

// Key names one conversation on one chain: a keyed hash, never the
// identifier it was made from. The zero Key means "no conversation".
type Key [16]byte

// IsZero reports whether k names no conversation.
func (k Key) IsZero() bool { return k == Key{} }

// String is the key in hex (32 characters).
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Short is the first 8 hex characters, for logs and audit events.
func (k Key) Short() string { return hex.EncodeToString(k[:4]) }

// SecretBytes is the size of a generated secret.
const SecretBytes = 32

// NewSecret returns SecretBytes random bytes: the per-process secret when
// none is configured.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("affinity: secret: %w", err)
	}
	return b, nil
}

// Keyer turns a request into its conversation key. It is immutable and
// safe for concurrent use.
type Keyer struct {
	secret  []byte
	sources []Source
}

// NewKeyer returns a Keyer hashing under secret (at least 16 bytes, else
// an error) that looks for an identifier in sources, in order.
func NewKeyer(secret []byte, sources []Source) (*Keyer, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("affinity: the secret has %d bytes, fewer than 16", len(secret))
	}
	for _, s := range sources {
		if !s.Valid() {
			return nil, fmt.Errorf("affinity: unknown key source %q", s)
		}
	}
	return &Keyer{secret: bytes.Clone(secret), sources: append([]Source(nil), sources...)}, nil
}

// Request is what a key is made from.
type Request struct {
	// Chain is the request's chain: the same conversation on two chains has
	// two keys.
	Chain string
	// Header is the value of the configured session header, or "".
	Header string
	// Body is the request body (chat completions or responses JSON).
	Body []byte
}

// Key returns the conversation key of req and the source it came from, or
// the zero Key and "" when no configured source identifies it. It never
// fails: a body that is not JSON, or fields of the wrong type, simply
// yield no identifier from the body.
func (k *Keyer) Key(req Request) (Key, Source) {
	body := view(req.Body) // read only while Key runs: no copy of a large body
	for _, s := range k.sources {
		var mac hash.Hash
		switch s {
		case SourceHeader:
			if req.Header == "" {
				continue
			}
			mac = k.mac(s, req.Chain)
			mac.Write(bytesOf(req.Header))
		case SourcePromptCacheKey, SourceUser:
			v := gjson.Get(body, string(s))
			if v.Type != gjson.String || v.Str == "" {
				continue
			}
			mac = k.mac(s, req.Chain)
			mac.Write(bytesOf(v.Str))
		case SourceMessages:
			mac = k.mac(s, req.Chain)
			if !writeOpening(mac, body) {
				continue
			}
		}
		var key Key
		copy(key[:], mac.Sum(nil))
		return key, s
	}
	return Key{}, ""
}

// mac starts the hash of an identifier from source s on chain: the source
// and the chain are hashed first, each ended by a zero byte, so equal
// values from two sources or two chains never share a key.
func (k *Keyer) mac(s Source, chain string) hash.Hash {
	m := hmac.New(sha256.New, k.secret)
	m.Write(bytesOf(string(s)))
	m.Write([]byte{0})
	m.Write(bytesOf(chain))
	m.Write([]byte{0})
	return m
}

// writeOpening hashes the conversation's opening (SourceMessages) into w
// and reports whether there was one: a chat completions "messages" array
// with a user message, or a responses "input".
func writeOpening(w hash.Hash, body string) bool {
	r := gjson.GetMany(body, "messages", "instructions", "input")
	if msgs := r[0]; msgs.IsArray() {
		found := false
		msgs.ForEach(func(_, m gjson.Result) bool {
			role := m.Get("role").String()
			switch role {
			case "system", "developer":
				writePart(w, role, m.Get("content"))
				return true
			case "user":
				writePart(w, role, m.Get("content"))
				found = true
			}
			return false
		})
		return found
	}
	instr, input := r[1], r[2]
	switch {
	case input.Type == gjson.String:
		writePart(w, "instructions", instr)
		writePart(w, "user", input)
		return true
	case input.IsArray():
		first := input.Get("0")
		if !first.Exists() {
			return false
		}
		writePart(w, "instructions", instr)
		writePart(w, first.Get("role").String(), first.Get("content"))
		return true
	}
	return false
}

// writePart hashes one part of an opening: its role and its content, each
// with its length first so parts cannot run into each other.
func writePart(w hash.Hash, role string, content gjson.Result) {
	var text []byte
	switch {
	case content.Type == gjson.String:
		text = bytesOf(content.Str)
	case content.Exists():
		var b bytes.Buffer
		if json.Compact(&b, []byte(content.Raw)) == nil {
			text = b.Bytes()
		} else {
			text = bytesOf(content.Raw)
		}
	}
	var n [8]byte
	putLen(n[:], len(role))
	w.Write(n[:])
	w.Write(bytesOf(role))
	putLen(n[:], len(text))
	w.Write(n[:])
	w.Write(text)
}

func putLen(b []byte, n int) {
	for i := range b {
		b[i] = byte(uint64(n) >> (8 * i))
	}
}

// view is b as a string without a copy, for lookups done before b changes.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// bytesOf is s as bytes without a copy, for hash writes (which neither
// keep nor change what they are given).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
