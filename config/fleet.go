package config

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Fleet shares breaker state (and the clients' rate windows) between the
// replicas of llm-failover through Redis or Valkey (docs/fleet.md). Unset
// (fleet.redis.address empty, the default): every replica keeps its own
// state. Redis is never on a request's path: plans are made from local
// state, and the fleet's messages are sent and applied in the background.
// It is read at start: a reload's changes apply at the next restart.
type Fleet struct {
	// Redis is the server every replica connects to.
	Redis FleetRedis `json:"redis"`
	// Replica names this replica in the fleet's messages and probe leases.
	// Default: the host name and a random suffix. Letters, digits, '.',
	// '_', '-', ':'; at most 64 bytes.
	Replica string `json:"replica,omitempty"`
	// SharedCounting counts failures across the fleet (consecutive
	// failures and, when on, the error-rate window, with atomic Lua
	// scripts): 3 failures on 3 replicas open a breaker whose
	// consecutive_failures is 3. false (default): each replica counts its
	// own and shares only the transitions.
	SharedCounting bool `json:"shared_counting,omitempty"`
	// ProbeLease is how long the replica that wins the fleet's half-open
	// probe holds it; the others stay open that long unless they hear its
	// outcome first. Default 2 × breaker.probe_timeout; 1s..1h.
	ProbeLease Duration `json:"probe_lease,omitempty"`
	// QueueSize bounds the messages waiting to be sent to Redis; past it
	// the oldest transition of the same target is replaced and outcomes
	// are dropped (counted). Default 4096; 16..1000000.
	QueueSize int `json:"queue_size,omitempty"`
	// Timeout bounds each Redis command. Default 500ms; 10ms..30s.
	Timeout Duration `json:"timeout,omitempty"`
	// ClientLimits is "shared" (default): the clients' request-rate and
	// token windows (clients:) count the whole fleet's requests, synced
	// every LimitsSyncEvery; or "local": each replica enforces them alone.
	ClientLimits string `json:"client_limits,omitempty"`
	// LimitsSyncEvery is how often client windows are synced. Default
	// 250ms; 10ms..1m.
	LimitsSyncEvery Duration `json:"limits_sync_every,omitempty"`
	// ResyncEvery reads every target's state from Redis at this interval,
	// besides the messages, so a replica that missed a message converges.
	// Default 30s; 1s..1h.
	ResyncEvery Duration `json:"resync_every,omitempty"`
}

// FleetRedis is how to reach Redis (or Valkey). One address: a single
// server, or a proxy in front of Sentinel or Cluster (docs/fleet.md).
type FleetRedis struct {
	// Address is host:port. Empty (default): fleet mode is off.
	Address string `json:"address,omitempty"`
	// Username is the ACL user (Redis 6+). Empty: the default user.
	Username string `json:"username,omitempty"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `json:"password_env,omitempty"`
	// PasswordFile is a file holding the password (surrounding white space
	// trimmed). At most one of PasswordEnv and PasswordFile.
	PasswordFile string `json:"password_file,omitempty"`
	// DB is the database number (Redis only; Cluster and Valkey cluster
	// have only 0). Default 0; 0..15.
	DB int `json:"db,omitempty"`
	// KeyPrefix starts every key and channel name, so fleets (or other
	// applications) can share one server. Default "llm-failover:". At most
	// 64 bytes, no space or control character.
	KeyPrefix string `json:"key_prefix,omitempty"`
	// TLS connects over TLS. Unset: plain TCP.
	TLS *FleetTLS `json:"tls,omitempty"`
}

// FleetTLS is the Redis connection's TLS.
type FleetTLS struct {
	// CAFile is the PEM bundle that verifies the server. Empty: the system
	// roots.
	CAFile string `json:"ca_file,omitempty"`
	// ServerName is the name the server's certificate must hold. Empty: the
	// host of fleet.redis.address.
	ServerName string `json:"server_name,omitempty"`
	// CertFile and KeyFile are this replica's client certificate (mutual
	// TLS). Both or neither.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// Fleet defaults.
const (
	DefaultFleetKeyPrefix   = "llm-failover:"
	DefaultFleetQueueSize   = 4096
	DefaultFleetTimeout     = 500 * time.Millisecond
	DefaultFleetResyncEvery = 30 * time.Second
	DefaultFleetLimitsSync  = 250 * time.Millisecond
)

// fleet.client_limits values.
const (
	ClientLimitsShared = "shared"
	ClientLimitsLocal  = "local"
)

// Enabled reports whether fleet mode is on.
func (f *Fleet) Enabled() bool { return f.Redis.Address != "" }

func (f *Fleet) applyDefaults(b *Breaker) {
	setStr(&f.Redis.KeyPrefix, DefaultFleetKeyPrefix)
	setInt(&f.QueueSize, DefaultFleetQueueSize)
	setDur(&f.Timeout, DefaultFleetTimeout)
	setDur(&f.ResyncEvery, DefaultFleetResyncEvery)
	setStr(&f.ClientLimits, ClientLimitsShared)
	setDur(&f.LimitsSyncEvery, DefaultFleetLimitsSync)
	setDur(&f.ProbeLease, 2*b.ProbeTimeout.D())
}

var fleetNameRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func (f *Fleet) validate(p *problems) {
	r := &f.Redis
	if r.Address != "" {
		if _, port, err := net.SplitHostPort(r.Address); err != nil || port == "" {
			p.bad("fleet.redis.address", "%q must be host:port", r.Address)
		}
	}
	if r.PasswordEnv != "" && r.PasswordFile != "" {
		p.bad("fleet.redis", "set at most one of password_env and password_file")
	}
	p.intIn("fleet.redis.db", r.DB, 0, 15)
	if len(r.KeyPrefix) > 64 || strings.ContainsFunc(r.KeyPrefix, func(c rune) bool { return c <= ' ' || c == 0x7f || c == '{' || c == '}' }) {
		p.bad("fleet.redis.key_prefix", "%q must be at most 64 bytes without spaces, control characters or braces (braces are Redis Cluster hash tags)", r.KeyPrefix)
	}
	if t := r.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		p.bad("fleet.redis.tls", "set both cert_file and key_file, or neither")
	}
	if f.Replica != "" && !fleetNameRE.MatchString(f.Replica) {
		p.bad("fleet.replica", "%q must be 1 to 64 letters, digits, '.', '_', '-', ':'", f.Replica)
	}
	p.durIn("fleet.probe_lease", f.ProbeLease, time.Second, time.Hour)
	p.intIn("fleet.queue_size", f.QueueSize, 16, 1000000)
	p.durIn("fleet.timeout", f.Timeout, 10*time.Millisecond, 30*time.Second)
	p.durIn("fleet.resync_every", f.ResyncEvery, time.Second, time.Hour)
	if f.ClientLimits != ClientLimitsShared && f.ClientLimits != ClientLimitsLocal {
		p.bad("fleet.client_limits", "%q must be shared or local", f.ClientLimits)
	}
	p.durIn("fleet.limits_sync_every", f.LimitsSyncEvery, 10*time.Millisecond, time.Minute)
}

// Password reads the Redis password from fleet.redis.password_env or
// password_file; "" when neither is set.
func (r *FleetRedis) Password() (string, error) {
	switch {
	case r.PasswordEnv != "":
		v, ok := os.LookupEnv(r.PasswordEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("fleet.redis.password_env: %s is not set", r.PasswordEnv)
		}
		return v, nil
	case r.PasswordFile != "":
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("fleet.redis.password_file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// validateFleetAffinity refuses fleet mode with conversation affinity but
// no shared secret: each replica would name conversations with its own
// random secret, and no replica could find another's.
func (c *Config) validateFleetAffinity(p *problems) {
	if !c.Fleet.Enabled() || c.Affinity.SecretFile != "" {
		return
	}
	for _, ch := range c.Chains {
		if ch.Affinity {
			p.bad("affinity.secret_file", "fleet mode shares conversation affinity (chain %q): set affinity.secret_file to the same secret on every replica", ch.Name)
			return
		}
	}
}
