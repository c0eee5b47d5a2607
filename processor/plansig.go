package processor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// Plans are signed (docs/envoy-contract.md, "Route phase"; docs/security.md):
// the route phase publishes an HMAC-SHA256 over the plan's fields that an
// attempt acts on, and an expiry; the attempt phase refuses a plan it cannot
// verify with its key. Anyone who can open an attempt-phase stream can put
// any metadata in it: only a signed plan names targets the attempt may use.

// planClockSlack is added to a plan's lifetime for clock differences between
// replicas sharing server.plan_key_file.
const planClockSlack = time.Minute

// Why an attempt stream was refused: the fixed labels of
// llm_failover_attempts_refused_total (never a value from the stream).
type refusal uint8

const (
	refusedNoPlan refusal = iota
	refusedBadSignature
	refusedExpired
	refusedProviderNotInPlan
	refusalCount
)

func (r refusal) String() string {
	switch r {
	case refusedNoPlan:
		return "no_plan"
	case refusedBadSignature:
		return "bad_signature"
	case refusedExpired:
		return "expired"
	case refusedProviderNotInPlan:
		return "provider_not_in_plan"
	}
	return "unknown"
}

// Errors of verifyPlan.
var (
	errPlanSignature = errors.New("the plan's signature does not verify")
	errPlanExpired   = errors.New("the plan has expired")
)

// planKeys holds the key plans are signed with and the one before the last
// change (plans signed with it may still be running).
type planKeys struct {
	mu     sync.Mutex // serializes set
	keys   atomic.Pointer[keyPair]
	random []byte // used when server.plan_key_file is unset; made once
}

type keyPair struct{ current, previous *macKey }

// newPlanKeys makes the random key a server without plan_key_file uses.
func newPlanKeys() (*planKeys, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	pk := &planKeys{random: k}
	pk.keys.Store(&keyPair{})
	return pk, nil
}

// keyFor reads the key cfg asks for: server.plan_key_file, or the random key.
func (k *planKeys) keyFor(cfg *config.Config) ([]byte, error) {
	key, err := cfg.Server.ReadPlanKey()
	if err != nil || key == nil {
		return k.random, err
	}
	return key, nil
}

// set makes key the signing key; a different key before it is kept for
// verifying.
func (k *planKeys) set(key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.keys.Load().current
	if cur != nil && hmac.Equal(key, cur.key) {
		return
	}
	k.keys.Store(&keyPair{current: newMACKey(key), previous: cur})
}

// sign sets p's expiry (exp, unix ms) and signature.
func (k *planKeys) sign(p *contract.Plan, exp time.Time) {
	p.Exp = exp.UnixMilli()
	sum := k.keys.Load().current.mac(p)
	p.Sig = base64.RawURLEncoding.EncodeToString(sum[:])
}

// verify checks p's signature with the current or the previous key, then
// its expiry at now.
func (k *planKeys) verify(p *contract.Plan, now time.Time) error {
	var sig [sha256.Size]byte
	if base64.RawURLEncoding.EncodedLen(len(sig)) != len(p.Sig) {
		return errPlanSignature
	}
	if n, err := base64.RawURLEncoding.Decode(sig[:], []byte(p.Sig)); err != nil || n != len(sig) {
		return errPlanSignature
	}
	keys := k.keys.Load()
	if !keys.current.matches(p, sig) && !keys.previous.matches(p, sig) {
		return errPlanSignature
	}
	if now.UnixMilli() > p.Exp {
		return errPlanExpired
	}
	return nil
}

// macKey is a plan key with a pool of HMAC states, so signing and
// verifying allocate nothing in the steady state.
type macKey struct {
	key  []byte
	pool sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newMACKey(key []byte) *macKey {
	m := &macKey{key: key}
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	return m
}

// mac is the HMAC-SHA256 of p's canonical encoding (contract.Plan.AppendCanonical).
func (m *macKey) mac(p *contract.Plan) [sha256.Size]byte {
	st := m.pool.Get().(*macState)
	st.buf = p.AppendCanonical(st.buf[:0])
	st.h.Reset()
	st.h.Write(st.buf)
	st.h.Sum(st.sum[:0])
	sum := st.sum
	m.pool.Put(st)
	return sum
}

// matches reports whether sig is p's signature under m (false for no key).
func (m *macKey) matches(p *contract.Plan, sig [sha256.Size]byte) bool {
	if m == nil {
		return false
	}
	sum := m.mac(p)
	return hmac.Equal(sum[:], sig[:])
}

// planExpiry is when a plan made at now on cfg expires: the request's
// lifetime bound (config.RequestLifetime) plus planClockSlack.
func planExpiry(cfg *config.Config, now time.Time) time.Time {
	return now.Add(cfg.RequestLifetime() + planClockSlack)
}
