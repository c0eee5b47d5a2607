package processor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
	"time"

	"github.com/llm-failover/llm-failover/config"
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
	mu       sync.Mutex
	current  []byte
	previous []byte
	random   []byte // used when server.plan_key_file is unset; made once
}

// newPlanKeys makes the random key a server without plan_key_file uses.
func newPlanKeys() (*planKeys, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return &planKeys{random: k}, nil
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
	if !hmac.Equal(key, k.current) {
		k.previous, k.current = k.current, key
	}
}

func (k *planKeys) get() (current, previous []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current, k.previous
}

// sign sets p's expiry (exp, unix ms) and signature.
func (k *planKeys) sign(p *planInfo, exp time.Time) {
	cur, _ := k.get()
	p.Exp = exp.UnixMilli()
	p.Sig = base64.RawURLEncoding.EncodeToString(planMAC(cur, p))
}

// verify checks p's signature with the current or the previous key, then
// its expiry at now.
func (k *planKeys) verify(p *planInfo, now time.Time) error {
	sig, err := base64.RawURLEncoding.DecodeString(p.Sig)
	if err != nil || len(sig) != sha256.Size {
		return errPlanSignature
	}
	cur, prev := k.get()
	if !hmac.Equal(sig, planMAC(cur, p)) && (prev == nil || !hmac.Equal(sig, planMAC(prev, p))) {
		return errPlanSignature
	}
	if now.UnixMilli() > p.Exp {
		return errPlanExpired
	}
	return nil
}

// planMAC is the HMAC-SHA256 under key of p's canonical encoding: a version
// tag, then every field an attempt acts on in a fixed order, strings length
// prefixed, numbers as 8 bytes big-endian, so no two plans encode alike.
func planMAC(key []byte, p *planInfo) []byte {
	m := hmac.New(sha256.New, key)
	w := planWriter{h: m}
	w.str("llm-failover plan v1")
	w.str(p.ID)
	w.u64(p.Gen)
	w.str(p.Chain)
	w.bool(p.Stream)
	w.bool(p.IncludeUsage)
	w.u64(uint64(int64(p.Extra)))
	w.u64(uint64(p.PerTry.Milliseconds()))
	w.u64(uint64(len(p.Targets)))
	for _, t := range p.Targets {
		w.str(t.Provider)
		w.str(t.Model)
		w.str(t.Cluster)
		w.u64(uint64(int64(t.ContextWindow)))
	}
	w.u64(uint64(p.Exp))
	return m.Sum(nil)
}

type planWriter struct {
	h   hash.Hash
	buf [8]byte
}

func (w *planWriter) u64(v uint64) {
	binary.BigEndian.PutUint64(w.buf[:], v)
	w.h.Write(w.buf[:])
}

func (w *planWriter) str(s string) {
	w.u64(uint64(len(s)))
	w.h.Write([]byte(s))
}

func (w *planWriter) bool(b bool) {
	v := uint64(0)
	if b {
		v = 1
	}
	w.u64(v)
}

// planExpiry is when a plan made at now on cfg expires: the request's
// lifetime bound (config.RequestLifetime) plus planClockSlack.
func planExpiry(cfg *config.Config, now time.Time) time.Time {
	return now.Add(cfg.RequestLifetime() + planClockSlack)
}
