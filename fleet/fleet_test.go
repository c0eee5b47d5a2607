package fleet_test

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/affinity"
	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/budget"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fleet"
	"github.com/llm-failover/llm-failover/fleet/redistest"
	"github.com/llm-failover/llm-failover/routing"
)

// fleetYAML is one chain of two targets; breaker settings come from extra.
const fleetYAML = `
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: claude, api: anthropic, host: api.anthropic.com}
chains:
  - name: main
    match: {models: [gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: claude, model: claude-sonnet}
`

// target is the first target's breaker name.
const target = "openai/gpt-4o"

// bound is how long a transition may take to reach every replica before a
// test fails: generous for a loaded machine. The delay measured is logged.
const bound = 10 * time.Second

// replica is one llm-failover replica's routing state and fleet member.
type replica struct {
	name  string
	reg   *routing.Registry
	table *routing.Table
	fleet *fleet.Fleet
	// changes receives every transition of this replica's breakers.
	changes chan breaker.Transition
}

// newReplica builds a replica of fleetYAML+breakerYAML joined to the Redis
// at addr (through dial when set).
func newReplica(t *testing.T, name, addr, breakerYAML string, shared bool) *replica {
	t.Helper()
	cfg, err := config.Parse([]byte(fleetYAML + breakerYAML))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	r := &replica{name: name, changes: make(chan breaker.Transition, 1024)}
	r.reg = routing.NewRegistry(nil, func(tr breaker.Transition) {
		select {
		case r.changes <- tr:
		default:
		}
	})
	r.table = routing.NewTable(cfg, r.reg, rand.Float64)
	fc := cfg.Fleet
	fc.Redis.Address = addr
	fc.Redis.KeyPrefix = "test-" + t.Name() + ":"
	fc.Replica = name
	fc.SharedCounting = shared
	fc.Timeout = config.Duration(time.Second)
	r.fleet, err = fleet.New(fleet.Options{Config: fc, Registry: r.reg})
	if err != nil {
		t.Fatalf("fleet.New: %v", err)
	}
	r.fleet.Start()
	t.Cleanup(func() { _ = r.fleet.Close() })
	return r
}

func (r *replica) breaker() *breaker.Breaker { return r.reg.Lookup(target) }

// waitState waits until the replica's target breaker is in state, and
// returns when it saw it.
func (r *replica) waitState(t *testing.T, want breaker.State) time.Time {
	t.Helper()
	if r.breaker().Snapshot(time.Time{}).State == want {
		return time.Now()
	}
	deadline := time.After(bound)
	for {
		select {
		case tr := <-r.changes:
			if tr.Name == target && tr.To == want {
				return time.Now()
			}
		case <-deadline:
			t.Fatalf("%s: %s is %s after %v, want %s", r.name, target, r.breaker().Snapshot(time.Time{}).State, bound, want)
		}
	}
}

// waitConnected waits until every replica has reached Redis.
func waitConnected(t *testing.T, rs ...*replica) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for _, r := range rs {
		for !r.fleet.Status().Connected {
			if time.Now().After(deadline) {
				t.Fatalf("%s never connected to redis", r.name)
			}
			time.Sleep(5 * time.Millisecond) // polls a state, not a stand-in for an event we could wait on
		}
	}
}

const breakerYAML = `
breaker:
  consecutive_failures: 3
  open_for: 60s
  jitter: 0
`

// An outage one replica sees opens the target on every replica, within
// the bound, with the opening's reason and a cooldown of the same length.
func TestFleet_OpeningOnOneReplicaOpensAll(t *testing.T) {
	rd := redistest.Start(t)
	a := newReplica(t, "a", rd.Addr(), breakerYAML, false)
	b := newReplica(t, "b", rd.Addr(), breakerYAML, false)
	c := newReplica(t, "c", rd.Addr(), breakerYAML, false)
	waitConnected(t, a, b, c)

	for i := 0; i < 3; i++ {
		a.breaker().Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure, Status: 503})
	}
	opened := a.waitState(t, breaker.Open)
	for _, r := range []*replica{b, c} {
		at := r.waitState(t, breaker.Open)
		t.Logf("%s adopted the opening %v after replica a opened", r.name, at.Sub(opened))
		sn := r.breaker().Snapshot(time.Time{})
		if !strings.HasPrefix(sn.Opened.Reason, breaker.ReasonFleetPrefix+breaker.ReasonConsecutiveFailures) {
			t.Errorf("%s: opening reason %q, want the fleet prefix and a's reason", r.name, sn.Opened.Reason)
		}
		if left := time.Until(sn.OpenUntil); left < 50*time.Second || left > 61*time.Second {
			t.Errorf("%s: cooldown left %v, want about a's 60s", r.name, left)
		}
		if sn.Opened.Last.Status != 503 {
			t.Errorf("%s: opening status %d, want 503", r.name, sn.Opened.Last.Status)
		}
	}
	// The second target was never touched: it stays closed everywhere.
	for _, r := range []*replica{a, b, c} {
		if st := r.reg.Lookup("claude/claude-sonnet").Snapshot(time.Time{}).State; st != breaker.Closed {
			t.Errorf("%s: claude is %s, want closed", r.name, st)
		}
	}
	// A reset (the admin API's) on one replica closes it everywhere.
	b.breaker().Reset(time.Time{}, "admin reset")
	a.waitState(t, breaker.Closed)
	c.waitState(t, breaker.Closed)
}

// Exactly one replica probes a target whose cooldown ended, however much
// traffic the others have; its success starts recovery on all of them.
func TestFleet_OneProbeFleetWide(t *testing.T) {
	rd := redistest.Start(t)
	const cfg = `
breaker:
  consecutive_failures: 1
  open_for: 2s
  max_open_for: 2s
  jitter: 0
  probe_timeout: 30s
  recovery_stages: [0.5, 1.0]
  recovery_stage_duration: 1h
`
	rs := []*replica{
		newReplica(t, "a", rd.Addr(), cfg, false),
		newReplica(t, "b", rd.Addr(), cfg, false),
		newReplica(t, "c", rd.Addr(), cfg, false),
	}
	waitConnected(t, rs...)
	rs[1].breaker().Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure, Status: 500})
	for _, r := range rs {
		r.waitState(t, breaker.Open)
	}
	// Every replica sends requests until the lease has surely been taken
	// and the cooldown is over; count the probes admitted.
	var mu sync.Mutex
	probes := map[string]int{}
	var admitted []breaker.Admission
	var winner *replica
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		for _, r := range rs {
			if a := r.breaker().Admit(time.Time{}, 0); a.Decision == breaker.Probe {
				mu.Lock()
				probes[r.name]++
				admitted = append(admitted, a)
				winner = r
				mu.Unlock()
			} else if a.Decision == breaker.Allow {
				t.Fatalf("%s admitted a request while the target is %s", r.name, a.State)
			}
		}
		if winner != nil && time.Since(deadline.Add(-bound)) > 4*time.Second {
			break // well past the 2s cooldown: every replica had its chance
		}
		time.Sleep(2 * time.Millisecond) // traffic, not a wait for an event
	}
	if len(admitted) != 1 {
		t.Fatalf("probes admitted per replica: %v, want exactly one in the fleet", probes)
	}
	t.Logf("replica %s probed; probes: %v", winner.name, probes)
	winner.breaker().Record(time.Time{}, breaker.Outcome{Kind: breaker.Success, Latency: time.Millisecond})
	for _, r := range rs {
		r.waitState(t, breaker.Recovering)
		if st := r.breaker().Snapshot(time.Time{}).Stage; st != 0 {
			t.Errorf("%s: recovery stage %d, want 0", r.name, st)
		}
	}
	var won, lost int64
	for _, r := range rs {
		s := r.fleet.Status()
		won += s.LeasesWon
		lost += s.LeasesLost
	}
	if won < 1 || lost < 2 {
		t.Errorf("leases won %d, lost %d: want at least 1 won and the 2 other replicas to have lost", won, lost)
	}
}

// With shared counting, one failure on each of three replicas opens a
// breaker whose consecutive_failures is 3, on all of them.
func TestFleet_SharedCountingOpensOnFleetFailures(t *testing.T) {
	rd := redistest.Start(t)
	rs := []*replica{
		newReplica(t, "a", rd.Addr(), breakerYAML, true),
		newReplica(t, "b", rd.Addr(), breakerYAML, true),
		newReplica(t, "c", rd.Addr(), breakerYAML, true),
	}
	waitConnected(t, rs...)
	for _, r := range rs {
		r.breaker().Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure, Status: 502})
	}
	for _, r := range rs {
		r.waitState(t, breaker.Open)
	}
	// The opener counts its opening after the transition went out, so the
	// others may adopt it first: wait for the count, then check it stays 1.
	opens := func() (n int64) {
		for _, r := range rs {
			n += r.fleet.Status().SharedOpens
		}
		return n
	}
	deadline := time.Now().Add(bound)
	for opens() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := opens(); n != 1 {
		t.Errorf("breakers opened by the shared count: %d, want 1 (the others adopt it)", n)
	}
}

// Without shared counting, each replica counts alone: one failure each on
// three replicas opens nothing.
func TestFleet_LocalCountingKeepsCountsLocal(t *testing.T) {
	rd := redistest.Start(t)
	rs := []*replica{
		newReplica(t, "a", rd.Addr(), breakerYAML, false),
		newReplica(t, "b", rd.Addr(), breakerYAML, false),
		newReplica(t, "c", rd.Addr(), breakerYAML, false),
	}
	waitConnected(t, rs...)
	for _, r := range rs {
		r.breaker().Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure, Status: 502})
	}
	// A trip on a marker target proves the messages flow: once it arrives,
	// an opening of the first target would have too.
	rs[0].reg.Lookup("claude/claude-sonnet").Trip(time.Time{}, time.Minute, "marker")
	for _, r := range rs[1:] {
		deadline := time.After(bound)
	wait:
		for {
			select {
			case tr := <-r.changes:
				if tr.Name == "claude/claude-sonnet" && tr.To == breaker.Open {
					break wait
				}
			case <-deadline:
				t.Fatalf("%s never saw the marker trip", r.name)
			}
		}
	}
	for _, r := range rs {
		if st := r.breaker().Snapshot(time.Time{}).State; st != breaker.Closed {
			t.Errorf("%s: %s is %s, want closed (1 local failure of 3)", r.name, target, st)
		}
	}
}

// Redis killed mid-run: plans keep being made from local state, a replica
// that opens a target meanwhile publishes it once Redis is back, and the
// fleet converges.
func TestFleet_RedisRestartConverges(t *testing.T) {
	rd := redistest.Start(t)
	a := newReplica(t, "a", rd.Addr(), breakerYAML, false)
	b := newReplica(t, "b", rd.Addr(), breakerYAML, false)
	waitConnected(t, a, b)
	rd.Stop()

	for i := 0; i < 3; i++ {
		a.breaker().Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure, Status: 503})
	}
	a.waitState(t, breaker.Open)
	for i := 0; i < 100; i++ { // requests during the outage are planned locally
		for _, r := range []*replica{a, b} {
			p, err := r.table.Plan(r.table.Config().Chain("main"), time.Now())
			if err != nil || len(p.Steps) == 0 {
				t.Fatalf("%s: plan during the Redis outage: %v, %v", r.name, p, err)
			}
		}
	}
	if p, _ := a.table.Plan(a.table.Config().Chain("main"), time.Now()); p.Steps[0].Provider != "claude" {
		t.Errorf("a's plan leads with %s, want claude (openai is open on a)", p.Steps[0].Provider)
	}
	if st := b.breaker().Snapshot(time.Time{}).State; st != breaker.Closed {
		t.Fatalf("b is %s with Redis down, want closed (it cannot have heard)", st)
	}
	deadline := time.Now().Add(bound)
	for a.fleet.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("a still reports connected with Redis down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a.fleet.Status().DegradedSince.IsZero() {
		t.Error("a's status has no DegradedSince while Redis is down")
	}

	rd.Restart()
	b.waitState(t, breaker.Open)
	waitConnected(t, a, b)
}

// A Redis that stops answering (its connections held open, every byte
// held back) does not delay plans: they are made from local state.
func TestFleet_StalledRedisDoesNotDelayPlans(t *testing.T) {
	rd := redistest.Start(t)
	proxy := redistest.NewStallProxy(t, rd.Addr())
	a := newReplica(t, "a", proxy.Addr(), breakerYAML, true)
	waitConnected(t, a)
	proxy.Stall(true)
	ch := a.table.Config().Chain("main")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			p, err := a.table.Plan(ch, time.Now())
			if err != nil {
				t.Errorf("plan: %v", err)
				return
			}
			if len(p.Steps) > 0 {
				a.reg.Lookup(p.Steps[0].Provider+"/"+p.Steps[0].Model).Record(time.Time{}, breaker.Outcome{Kind: breaker.Failure})
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatal("plans blocked while Redis was stalled")
	}
	proxy.Stall(false)
}

// With client_limits shared, a client's rate limit counts the requests of
// every replica: once the fleet's count reaches it, every replica refuses.
func TestFleet_ClientLimitsCountTheFleet(t *testing.T) {
	rd := redistest.Start(t)
	const clients = `
clients:
  list:
    - {name: app, sources: [127.0.0.1], rate: {limit: 10, window: 1h}}
`
	var limiters []*access.Limiter
	var policy *access.Policy
	for _, name := range []string{"a", "b"} {
		cfg, err := config.Parse([]byte(fleetYAML + breakerYAML + clients))
		if err != nil {
			t.Fatal(err)
		}
		if policy, err = access.Compile(&cfg.Clients); err != nil {
			t.Fatal(err)
		}
		lim := access.NewLimiter()
		lim.Retain(policy)
		limiters = append(limiters, lim)
		fc := cfg.Fleet
		fc.Redis.Address, fc.Redis.KeyPrefix, fc.Replica = rd.Addr(), "test-"+t.Name()+":", name
		fc.LimitsSyncEvery = config.Duration(10 * time.Millisecond)
		f, err := fleet.New(fleet.Options{Config: fc, Registry: routing.NewRegistry(nil, nil), Limiter: lim})
		if err != nil {
			t.Fatal(err)
		}
		f.Start()
		t.Cleanup(func() { _ = f.Close() })
	}
	app := policy.Client("app")
	now := time.Now()
	for i := 0; i < 6; i++ {
		if d := limiters[0].Admit(app, 0, now); d.Reason != access.Allowed {
			t.Fatalf("a's request %d: %s", i, d.Reason)
		}
	}
	// b learns a's 6 within a few syncs: it then admits exactly 4 more.
	deadline := time.Now().Add(bound)
	for {
		ws := limiters[1].Windows(now)
		if len(ws) == 0 { // b has not seen the client yet: one request makes its entry
			if d := limiters[1].Admit(app, 0, now); d.Reason != access.Allowed {
				t.Fatalf("b's first request: %s", d.Reason)
			}
			continue
		}
		if ws[0].Local+limiters[1].Remote("app", access.KindRate, now) >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never learnt a's requests")
		}
		time.Sleep(5 * time.Millisecond) // polls the sync's effect
	}
	admitted := 0
	for i := 0; i < 10; i++ {
		if limiters[1].Admit(app, 0, now).Reason == access.Allowed {
			admitted++
		}
	}
	if admitted != 3 {
		t.Errorf("b admitted %d more, want 3 (10 for the fleet: a's 6 and b's first)", admitted)
	}
}

// Active probes (probes:) are claimed per target fleet-wide: one replica
// holds a target's claim for the interval and renews it; the others do
// not probe it meanwhile; a replica that cannot reach Redis probes alone.
func TestFleet_ActiveProbeClaim(t *testing.T) {
	rd := redistest.Start(t)
	a := newReplica(t, "a", rd.Addr(), breakerYAML, false)
	b := newReplica(t, "b", rd.Addr(), breakerYAML, false)
	waitConnected(t, a, b)
	now := time.Now()
	if !a.fleet.Claim(target, now, time.Minute) {
		t.Fatal("a's first claim refused")
	}
	if b.fleet.Claim(target, now, time.Minute) {
		t.Fatal("b claimed a target a holds")
	}
	if !a.fleet.Claim(target, now, time.Minute) {
		t.Fatal("a could not renew its own claim")
	}
	if !b.fleet.Claim("claude/claude-sonnet", now, time.Minute) {
		t.Fatal("b could not claim another target")
	}
	rd.Stop()
	if !b.fleet.Claim(target, now, time.Minute) {
		t.Fatal("with Redis down, b did not probe alone")
	}
}

// In fleet mode a conversation's target, remembered by the replica that
// served its turn, is found by the replica its next turn reaches.
func TestFleet_AffinityFollowsTheConversation(t *testing.T) {
	rd := redistest.Start(t)
	stores := map[string]*fleet.AffinityStore{}
	var fleets []*fleet.Fleet
	for _, name := range []string{"a", "b"} {
		cfg, err := config.Parse([]byte(fleetYAML + breakerYAML))
		if err != nil {
			t.Fatal(err)
		}
		stores[name] = fleet.NewAffinityStore(affinity.NewLocal(100, nil))
		fc := cfg.Fleet
		fc.Redis.Address, fc.Redis.KeyPrefix, fc.Replica = rd.Addr(), "test-"+t.Name()+":", name
		f, err := fleet.New(fleet.Options{Config: fc, Registry: routing.NewRegistry(nil, nil), Affinity: stores[name]})
		if err != nil {
			t.Fatal(err)
		}
		f.Start()
		t.Cleanup(func() { _ = f.Close() })
		fleets = append(fleets, f)
	}
	deadline := time.Now().Add(bound)
	for !fleets[0].Status().Connected || !fleets[1].Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("never connected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	key := affinity.Key{1, 2, 3}
	want := affinity.Target{Provider: "claude", Model: "claude-sonnet"}
	// b subscribes in the background: publish until it hears, as turns
	// keep coming in a conversation.
	for {
		stores["a"].Put(key, want, time.Hour)
		if got, ok := stores["b"].Get(key); ok {
			if got != want {
				t.Fatalf("b remembers %v, want %v", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never learnt the conversation a served")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := stores["b"].Get(affinity.Key{9}); ok {
		t.Error("b remembers a conversation nobody served")
	}
}

// In fleet mode a budget counts every replica's charges: what one replica
// charged reaches the others' decisions within a few syncs, and a window
// that has ended is not revived by a late sync.
func TestFleet_BudgetsCountTheFleet(t *testing.T) {
	rd := redistest.Start(t)
	stores := map[string]*fleet.BudgetStore{}
	for _, name := range []string{"a", "b"} {
		cfg, err := config.Parse([]byte(fleetYAML + breakerYAML))
		if err != nil {
			t.Fatal(err)
		}
		stores[name] = fleet.NewBudgetStore(budget.NewLocal())
		fc := cfg.Fleet
		fc.Redis.Address, fc.Redis.KeyPrefix, fc.Replica = rd.Addr(), "test-"+t.Name()+":", name
		fc.LimitsSyncEvery = config.Duration(10 * time.Millisecond)
		f, err := fleet.New(fleet.Options{Config: fc, Registry: routing.NewRegistry(nil, nil), Budgets: stores[name]})
		if err != nil {
			t.Fatal(err)
		}
		f.Start()
		t.Cleanup(func() { _ = f.Close() })
	}
	start := time.Now().UTC().Truncate(time.Hour)
	const key = "daily|day|usd"
	if got := stores["a"].Add(key, start, 700); got != 700 {
		t.Fatalf("a's first charge returned %d, want 700", got)
	}
	stores["b"].Add(key, start, 200)
	deadline := time.Now().Add(bound)
	for stores["a"].Get(key, start) != 900 || stores["b"].Get(key, start) != 900 {
		if time.Now().After(deadline) {
			t.Fatalf("after syncs a sees %d, b sees %d; want 900 on both", stores["a"].Get(key, start), stores["b"].Get(key, start))
		}
		time.Sleep(5 * time.Millisecond) // polls the sync's effect
	}
	if got := stores["b"].Add(key, start, 50); got != 950 {
		t.Errorf("b's next charge returned %d, want the fleet's 950", got)
	}
	if got := stores["b"].LocalStore().Get(key, start); got != 250 {
		t.Errorf("b's own counter (what its state file keeps) is %d, want 250", got)
	}
	next := start.Add(time.Hour)
	if got := stores["a"].Get(key, next); got != 0 {
		t.Errorf("the next window starts at %d, want 0", got)
	}
}
