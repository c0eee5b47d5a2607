package fleet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/routing"
)

// stateTTL is how long a target's stored transition outlives its last
// change in Redis: long enough for any cooldown, short enough that targets
// a configuration dropped do not stay forever.
const stateTTL = 30 * 24 * time.Hour

// Options configure a Fleet.
type Options struct {
	// Config is the fleet section (fleet.redis.address must be set).
	Config config.Fleet
	// Registry holds this replica's breakers.
	Registry *routing.Registry
	// Clock tells the time; nil is the wall clock. Timers use the wall
	// clock: Redis's expiries run on it too.
	Clock clock.Clock
	// Log receives the fleet's state changes (connected, degraded); nil
	// discards them.
	Log *slog.Logger
	// Password is fleet.redis's password, already read (config.FleetRedis.Password).
	Password string
	// Limiter holds the clients' windows; with fleet.client_limits: shared
	// they are counted fleet-wide (limits.go). nil: not shared.
	Limiter *access.Limiter
	// Affinity is the server's conversation-affinity store, shared with
	// the fleet (affinity.go); nil: not shared.
	Affinity *AffinityStore
	// Budgets is the server's budget store, shared with the fleet
	// (budget.go); nil: not shared.
	Budgets *BudgetStore
}

// Fleet keeps one replica's breakers in step with the fleet's. Its methods
// are safe for concurrent use.
type Fleet struct {
	cfg        config.Fleet
	reg        *routing.Registry
	limiter    *access.Limiter // nil: client windows not shared
	affinity   *AffinityStore  // nil: conversations not shared
	budgets    *BudgetStore    // nil: budgets not shared
	affChannel string
	affQueue   chan affinityMessage
	rdb        *redis.Client
	clock      clock.Clock
	log        *slog.Logger
	replica    string
	prefix     string
	channel    string

	mu      sync.Mutex
	dirty   map[string]string // target -> reason of its newest local transition to publish
	lastGen map[string]uint64 // newest fleet generation seen per target
	watch   map[string]time.Time
	held    map[string]bool // targets whose probe lease this replica holds

	wakeSend  chan struct{} // cap 1
	wakeLease chan struct{} // cap 1
	outcomes  chan outcome

	connected atomic.Bool
	stats     stats

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// outcome is one recorded outcome waiting to be counted fleet-wide.
type outcome struct {
	target string
	o      breaker.Outcome
	at     time.Time
}

// stats are the fleet's counters (Status).
type stats struct {
	published, applied, stale, dropped, errors, malformed, leasesWon, leasesLost, sharedOpens atomic.Int64
	degradedSince                                                                             atomic.Int64 // unix ns; 0 = connected
}

// Status is what the fleet has done, for metrics and the logs.
type Status struct {
	// Replica is this replica's name in the fleet.
	Replica string
	// Connected is whether the last Redis command succeeded.
	Connected bool
	// DegradedSince is when Redis stopped answering (zero when connected).
	DegradedSince time.Time
	// Published counts local transitions published; Applied other
	// replicas' transitions that changed a breaker here; Stale messages
	// older than what this replica had; Malformed messages refused.
	Published, Applied, Stale, Malformed int64
	// Dropped counts outcomes not counted fleet-wide because the queue was
	// full; Errors failed Redis commands.
	Dropped, Errors int64
	// LeasesWon and LeasesLost count probe lease claims.
	LeasesWon, LeasesLost int64
	// SharedOpens counts breakers opened here by the fleet's shared counts.
	SharedOpens int64
}

// New builds a fleet member. It does not connect: Start does, in the
// background.
func New(opts Options) (*Fleet, error) {
	c := opts.Config
	if c.Redis.Address == "" {
		return nil, errors.New("fleet: fleet.redis.address is not set")
	}
	if opts.Registry == nil {
		return nil, errors.New("fleet: Options.Registry is required")
	}
	ro := &redis.Options{
		Addr: c.Redis.Address, Username: c.Redis.Username, Password: opts.Password, DB: c.Redis.DB,
		DialTimeout: c.Timeout.D(), ReadTimeout: c.Timeout.D(), WriteTimeout: c.Timeout.D(),
		PoolSize: 4, MaxRetries: -1, // the fleet retries itself, in the background
		Protocol: 2, // RESP2: every Redis 6 and Valkey speaks it; Pub/Sub needs nothing newer
	}
	if t := c.Redis.TLS; t != nil {
		tc, err := tlsConfig(t, c.Redis.Address)
		if err != nil {
			return nil, err
		}
		ro.TLSConfig = tc
	}
	replica := c.Replica
	if replica == "" {
		replica = defaultReplica()
	}
	f := &Fleet{
		cfg: c, reg: opts.Registry, limiter: opts.Limiter, affinity: opts.Affinity, budgets: opts.Budgets, affChannel: c.Redis.KeyPrefix + "affinity",
		affQueue: make(chan affinityMessage, c.QueueSize), rdb: redis.NewClient(ro), clock: opts.Clock, log: opts.Log,
		replica: replica, prefix: c.Redis.KeyPrefix, channel: c.Redis.KeyPrefix + "breakers",
		dirty: map[string]string{}, lastGen: map[string]uint64{}, watch: map[string]time.Time{}, held: map[string]bool{},
		wakeSend: make(chan struct{}, 1), wakeLease: make(chan struct{}, 1),
		outcomes: make(chan outcome, c.QueueSize),
	}
	if f.clock == nil {
		f.clock = clock.Wall{}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.stats.degradedSince.Store(f.clock.Now().UnixNano()) // until the first command succeeds
	return f, nil
}

func tlsConfig(t *config.FleetTLS, addr string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.ServerName != "" {
		tc.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("fleet.redis.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("fleet.redis.tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("fleet.redis.tls: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// defaultReplica is the host name and 4 random bytes, so two processes on
// one host differ.
func defaultReplica() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "replica"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := host + "-" + hex.EncodeToString(b[:])
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	return name
}

// Replica returns this replica's name in the fleet.
func (f *Fleet) Replica() string { return f.replica }

// Start connects and runs the fleet in the background until Close. It
// returns at once; a Redis that is down is retried, and the replica
// carries on alone meanwhile.
func (f *Fleet) Start() {
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.reg.Observe(f)
	f.wg.Add(4)
	go f.subscribeLoop()
	go f.sendLoop()
	go f.leaseLoop()
	go f.countLoop()
	if f.affinity != nil {
		f.wg.Add(1)
		go f.affinityLoop()
		f.affinity.fleet.Store(f)
	}
	if f.limiter != nil && f.cfg.ClientLimits == config.ClientLimitsShared || f.budgets != nil {
		f.wg.Add(1)
		go f.limitsLoop()
	}
}

// Close stops the fleet: it stops observing the breakers, gives back the
// probe leases it holds, and closes the connections. The breakers keep
// their state.
func (f *Fleet) Close() error {
	if f.cancel == nil {
		return f.rdb.Close()
	}
	f.reg.Observe(nil)
	if f.affinity != nil {
		f.affinity.fleet.Store(nil)
	}
	f.cancel()
	f.wg.Wait()
	f.mu.Lock()
	held := make([]string, 0, len(f.held))
	for t := range f.held {
		held = append(held, t)
	}
	f.mu.Unlock()
	for _, t := range held {
		ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout.D())
		_ = releaseScript.Run(ctx, f.rdb, []string{f.key(t, "probe")}, f.replica).Err()
		cancel()
	}
	return f.rdb.Close()
}

// Status returns the fleet's counters and connection state.
func (f *Fleet) Status() Status {
	s := Status{
		Replica: f.replica, Connected: f.connected.Load(),
		Published: f.stats.published.Load(), Applied: f.stats.applied.Load(), Stale: f.stats.stale.Load(),
		Malformed: f.stats.malformed.Load(), Dropped: f.stats.dropped.Load(), Errors: f.stats.errors.Load(),
		LeasesWon: f.stats.leasesWon.Load(), LeasesLost: f.stats.leasesLost.Load(), SharedOpens: f.stats.sharedOpens.Load(),
	}
	if ns := f.stats.degradedSince.Load(); ns != 0 && !s.Connected {
		s.DegradedSince = time.Unix(0, ns)
	}
	return s
}

// key is the Redis key of one of target's records. The target is the hash
// tag, so all of a target's keys live in one Redis Cluster slot.
func (f *Fleet) key(target, what string) string {
	return f.prefix + "{" + target + "}:" + what
}

// ok and fail track whether Redis answers; the state change is logged once.
func (f *Fleet) ok() {
	if !f.connected.Swap(true) {
		f.stats.degradedSince.Store(0)
		f.log.Info("fleet: connected to redis", "address", f.cfg.Redis.Address, "replica", f.replica)
	}
}

func (f *Fleet) fail(op string, err error) {
	f.stats.errors.Add(1)
	if f.connected.Swap(false) {
		f.stats.degradedSince.Store(f.clock.Now().UnixNano())
		f.log.Warn("fleet: redis unreachable, this replica carries on alone", "op", op, "error", events.CleanText(err.Error(), 200))
	}
}

// Transition is the registry's observer hook: a local transition marks its
// target for publishing, and an opening is watched for the probe lease. It
// never blocks.
func (f *Fleet) Transition(t breaker.Transition) {
	f.mu.Lock()
	if !t.Fleet {
		f.dirty[t.Name] = t.Reason
	}
	switch t.To {
	case breaker.Open:
		f.watch[t.Name] = f.claimAt(t.At, t.Until)
	case breaker.Closed, breaker.Recovering:
		if _, ok := f.watch[t.Name]; ok || f.held[t.Name] {
			f.watch[t.Name] = t.At // to release the lease at once
		}
	}
	f.mu.Unlock()
	if !t.Fleet {
		signal(f.wakeSend)
	}
	if t.To != breaker.HalfOpen {
		signal(f.wakeLease)
	}
}

// Outcome is the registry's observer hook: with shared counting, the
// outcome is queued for the fleet's count, or dropped (counted) when the
// queue is full. It never blocks.
func (f *Fleet) Outcome(target string, now time.Time, o breaker.Outcome) {
	if !f.cfg.SharedCounting || countKind(o) == "" {
		return
	}
	select {
	case f.outcomes <- outcome{target: target, o: o, at: now}:
	default:
		f.stats.dropped.Add(1)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// sendLoop publishes the newest local state of every marked target,
// coalescing the transitions that came since the last round. A failed
// publish is retried with a growing, jittered pause; the target stays
// marked, so only its newest state is sent when Redis comes back.
func (f *Fleet) sendLoop() {
	defer f.wg.Done()
	pause := retryPause{}
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.wakeSend:
		}
		for {
			f.mu.Lock()
			batch := f.dirty
			f.dirty = make(map[string]string, len(batch))
			f.mu.Unlock()
			failed := false
			for target, reason := range batch {
				if failed || !f.publish(target, reason) {
					failed = true
					f.mu.Lock()
					if _, newer := f.dirty[target]; !newer {
						f.dirty[target] = reason
					}
					f.mu.Unlock()
				}
			}
			if !failed {
				pause.reset()
				break
			}
			if !pause.wait(f.ctx) {
				return
			}
		}
	}
}

// publish sends target's current local state; it reports success.
func (f *Fleet) publish(target, reason string) bool {
	b := f.reg.Lookup(target)
	if b == nil {
		return true
	}
	now := f.clock.Now()
	sn := b.Snapshot(now)
	m := message{Target: target, Replica: f.replica, State: sn.State.String(), Reason: events.CleanText(reason, maxReasonBytes)}
	switch sn.State {
	case breaker.Open:
		m.OpenMS = max(sn.OpenUntil.Sub(now).Milliseconds(), 1)
		m.Status = sn.Opened.Last.Status
	case breaker.Recovering:
		m.Stage = sn.Stage
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
	defer cancel()
	gen, err := publishScript.Run(ctx, f.rdb, []string{f.key(target, "state"), f.key(target, "count")},
		f.replica, m.State, m.OpenMS, m.Stage, m.Reason, m.Status, f.channel, m.payload(), stateTTL.Milliseconds()).Int64()
	if err != nil {
		if f.ctx.Err() == nil {
			f.fail("publish", err)
		}
		return false
	}
	f.ok()
	f.stats.published.Add(1)
	f.mu.Lock()
	if uint64(gen) > f.lastGen[target] {
		f.lastGen[target] = uint64(gen)
	}
	f.mu.Unlock()
	return true
}

// subscribeLoop applies the other replicas' messages, and resynchronises
// from the stored states on every (re)subscription and every
// fleet.resync_every.
func (f *Fleet) subscribeLoop() {
	defer f.wg.Done()
	ps := f.rdb.Subscribe(f.ctx, f.channel, f.affChannel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(f.cfg.QueueSize), redis.WithChannelHealthCheckInterval(f.cfg.ResyncEvery.D()))
	tick := time.NewTicker(f.cfg.ResyncEvery.D())
	defer tick.Stop()
	f.resync() // do not wait for the first subscription to learn what exists
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-tick.C:
			f.resync()
		case msg, ok := <-ch:
			if !ok {
				return
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" && m.Channel == f.channel {
					f.ok()
					f.resync() // messages sent while we were away are lost: read the stored states
					signal(f.wakeSend)
				}
			case *redis.Message:
				if m.Channel == f.affChannel {
					f.applyAffinity(m.Payload)
				} else {
					f.apply(m.Payload)
				}
			}
		}
	}
}

// apply adopts one message from another replica when it is newer than what
// this replica has seen of its target.
func (f *Fleet) apply(payload string) {
	m, err := parseMessage(payload)
	if err != nil {
		f.stats.malformed.Add(1)
		return
	}
	if m.Replica == f.replica {
		return
	}
	f.adopt(m)
}

func (f *Fleet) adopt(m message) {
	f.mu.Lock()
	if m.Gen <= f.lastGen[m.Target] {
		f.mu.Unlock()
		f.stats.stale.Add(1)
		return
	}
	f.lastGen[m.Target] = m.Gen
	f.mu.Unlock()
	b := f.reg.Lookup(m.Target)
	if b == nil {
		return // a target this replica does not route to
	}
	m.Reason = events.CleanText(m.Reason, maxReasonBytes)
	if b.Adopt(f.clock.Now(), m.remote()) {
		f.stats.applied.Add(1)
	}
}

// resync reads the stored state of every target this replica has and
// adopts those newer than what it saw.
func (f *Fleet) resync() {
	var targets []string
	f.reg.Each(func(b *breaker.Breaker) { targets = append(targets, b.Name()) })
	for _, t := range targets {
		if f.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout.D())
		v, err := readScript.Run(ctx, f.rdb, []string{f.key(t, "state")}).StringSlice()
		cancel()
		if err != nil {
			if f.ctx.Err() == nil {
				f.fail("resync", err)
			}
			return
		}
		f.ok()
		m, ok := storedMessage(t, v)
		if !ok || m.Replica == f.replica {
			if ok {
				f.mu.Lock()
				if m.Gen > f.lastGen[t] {
					f.lastGen[t] = m.Gen
				}
				f.mu.Unlock()
			}
			continue
		}
		f.adopt(m)
	}
}

// storedMessage turns readScript's answer into the message it stands for,
// with the cooldown left now by the server's clock.
func storedMessage(target string, v []string) (message, bool) {
	if len(v) != 9 {
		return message{}, false
	}
	n := func(s string) int64 { x, _ := strconv.ParseInt(s, 10, 64); return x }
	gen := n(v[0])
	if gen <= 0 {
		return message{}, false
	}
	m := message{Gen: uint64(gen), Target: target, Replica: v[1], State: v[2], Stage: int(n(v[4])), Reason: v[5], Status: int(n(v[6]))}
	if _, ok := stateOf(m.State); !ok || m.Replica == "" || m.Stage < 0 || m.Status < 0 || m.Status > 999 {
		return message{}, false
	}
	if m.State == breaker.Open.String() {
		m.OpenMS = n(v[7]) + n(v[3]) - n(v[8])
		if m.OpenMS <= 0 {
			return message{}, false // the cooldown has ended: nothing to adopt
		}
	}
	return m, true
}

// retryPause is the growing, jittered pause between retries of a failed
// Redis command: 100ms doubling to 5s.
type retryPause struct{ d time.Duration }

func (p *retryPause) reset() { p.d = 0 }

func (p *retryPause) wait(ctx context.Context) bool {
	if p.d == 0 {
		p.d = 100 * time.Millisecond
	} else {
		p.d = min(2*p.d, 5*time.Second)
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	d := p.d/2 + time.Duration(int64(b[0])*int64(p.d/2)/255)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
