package replay

import (
	"cmp"
	"container/heap"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
)

// Options shape a simulation.
type Options struct {
	// Seed seeds the recovery-share admissions and the cooldown jitter, so
	// a replay is repeatable. Default 1.
	Seed uint64
	// KeepPlans keeps every request's plan in Run.Plans (memory grows with
	// the recording).
	KeepPlans bool
	// Rand, when set, draws the recovery-share admissions instead of the
	// seeded source (a test passes the live server's source to reproduce
	// its run).
	Rand func() float64
}

// virtualClock is the simulation's clock: the time of the event being
// replayed.
type virtualClock struct{ now time.Time }

func (c *virtualClock) Now() time.Time { return c.now }

// Simulate replays rec under cfg (validated, defaults applied) with the
// real routing and breaker code on a virtual clock: each request is
// planned at the time its first attempt was sent by cfg's routing.Table,
// its plan walked as Envoy would (one attempt per step, then the
// same-target retries, while the outcome fails over), each attempt's
// outcome taken from the recording and recorded on the target's breaker at
// the virtual time it was recorded live. name names the Run.
func Simulate(name string, cfg *config.Config, rec *Recording, o Options) *Run {
	from, to := rec.Bounds()
	s := &sim{rec: rec, o: o, clock: &virtualClock{now: from}, tally: newTally(name, from, to)}
	seed := cmp.Or(o.Seed, 1)
	admit := rand.New(rand.NewPCG(seed, 1)).Float64
	if o.Rand != nil {
		admit = o.Rand
	}
	s.reg = routing.NewRegistry(s.clock, s.onTransition)
	s.reg.SetRand(rand.New(rand.NewPCG(seed, 2)).Float64)
	s.table = routing.NewTable(cfg, s.reg, admit)
	s.run()
	return s.tally.done()
}

// Bounds are the times of the recording's first attempt sent and last
// outcome recorded.
func (rec *Recording) Bounds() (from, to time.Time) {
	for _, r := range rec.Requests {
		for _, a := range r.Attempts {
			from, to = earliest(from, a.SentAt), latest(to, a.At)
		}
	}
	for _, a := range rec.Standalone {
		from, to = earliest(from, a.SentAt), latest(to, a.At)
	}
	return from, to
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

type sim struct {
	rec     *Recording
	o       Options
	clock   *virtualClock
	reg     *routing.Registry
	table   *routing.Table
	tally   *tally
	queue   pending
	seq     uint64
	free    []*event  // events handled, for reuse
	flights []*flight // flights ended, for reuse
}

// flight is a request being replayed.
type flight struct {
	req   *Request
	plan  routing.Plan
	limit int    // attempts allowed: steps + same-target retries
	n     int    // attempts made
	used  uint64 // recorded attempts already replayed (bit i: Attempts[i]; beyond 64 never marked)
	start time.Time
	tried []string
	in    int64
	out   int64
}

// event is an attempt's outcome due on its breaker at at.
type event struct {
	at    time.Time
	seq   uint64 // the request's order among those starting at the same time
	sub   int    // the attempt's number within the request
	f     *flight
	sent  time.Time
	a     Attempt
	step  routing.Step
	order uint64
}

type pending []*event

func (p pending) Len() int { return len(p) }
func (p pending) Less(i, j int) bool {
	return cmp.Or(p[i].at.Compare(p[j].at), cmp.Compare(p[i].seq, p[j].seq), cmp.Compare(p[i].sub, p[j].sub),
		cmp.Compare(p[i].order, p[j].order)) < 0
}
func (p pending) Swap(i, j int) { p[i], p[j] = p[j], p[i] }
func (p *pending) Push(x any)   { *p = append(*p, x.(*event)) }
func (p *pending) Pop() any {
	old := *p
	e := old[len(old)-1]
	*p = old[:len(old)-1]
	return e
}

// before reports whether the event e is due before time t and order seq.
func (e *event) before(t time.Time, seq uint64) bool {
	return cmp.Or(e.at.Compare(t), cmp.Compare(e.seq, seq)) < 0
}

// run merges the requests (by start) and the standalone outcomes (by time)
// with the outcomes due of requests in flight.
func (s *sim) run() {
	reqs, alone := s.rec.Requests, s.rec.Standalone
	for len(reqs) > 0 || len(alone) > 0 {
		var t time.Time
		var seq uint64
		useReq := len(alone) == 0
		if !useReq && len(reqs) > 0 {
			r, a := &reqs[0], alone[0]
			useReq = cmp.Or(r.Start().Compare(a.At), cmp.Compare(r.Attempts[0].Seq, a.Seq)) <= 0
		}
		if useReq {
			t, seq = reqs[0].Start(), reqs[0].Attempts[0].Seq
		} else {
			t, seq = alone[0].At, alone[0].Seq
		}
		s.drain(func(e *event) bool { return e.before(t, seq) })
		s.clock.now = t
		if useReq {
			s.begin(&reqs[0])
			reqs = reqs[1:]
		} else {
			s.standalone(alone[0])
			alone = alone[1:]
		}
	}
	s.drain(func(*event) bool { return true })
}

// drain handles the due outcomes while due says so.
func (s *sim) drain(due func(*event) bool) {
	for s.queue.Len() > 0 && due(s.queue[0]) {
		e := heap.Pop(&s.queue).(*event)
		s.clock.now = e.at
		s.outcome(e)
		*e = event{}
		s.free = append(s.free, e)
	}
}

// standalone records an outcome of no known request on its breaker.
func (s *sim) standalone(a Attempt) {
	if b := s.reg.Lookup(a.Target); b != nil {
		b.Record(a.At, a.Outcome)
	}
}

// begin plans a request and sends its first attempt.
func (s *sim) begin(r *Request) {
	now := s.clock.now
	f := s.newFlight()
	*f = flight{req: r, start: now}
	ch, err := s.table.Resolve(r.Model, "")
	if err != nil && r.Chain != "" {
		ch, err = s.table.Resolve("", r.Chain)
	}
	if err != nil {
		s.end(f, "no_chain")
		return
	}
	plan, err := s.table.PlanFor(ch, now, routing.Needs{})
	switch {
	case errors.Is(err, routing.ErrAllOpen):
		s.end(f, "all_targets_open")
		return
	case err != nil:
		s.end(f, "no_target")
		return
	}
	f.plan, f.limit = plan, len(plan.Steps)+plan.SameTargetRetries
	s.send(f, now)
}

// send makes the flight's next attempt at now.
func (s *sim) send(f *flight, now time.Time) {
	step := f.plan.Steps[min(f.n, len(f.plan.Steps)-1)]
	target := config.Target{Provider: step.Provider, Model: step.Model}.Key()
	a := s.lookup(f, target, now)
	f.n++
	if s.o.KeepPlans {
		f.tried = append(f.tried, target)
	}
	s.seq++
	e := &event{}
	if n := len(s.free); n > 0 {
		e, s.free = s.free[n-1], s.free[:n-1]
	}
	*e = event{at: now.Add(a.At.Sub(a.SentAt)), seq: f.req.Attempts[0].Seq, sub: f.n, f: f, sent: now, a: a, step: step, order: s.seq}
	heap.Push(&s.queue, e)
}

// lookup is the outcome of the flight's attempt on target: the one
// recorded for this request, else the target's recorded nearest in time,
// else a success with the median time to first byte.
func (s *sim) lookup(f *flight, target string, now time.Time) Attempt {
	for i := range f.req.Attempts {
		a := &f.req.Attempts[i]
		if bit := uint64(1) << min(i, 63); a.Target == target && (i >= 64 || f.used&bit == 0) {
			f.used |= bit
			return *a
		}
	}
	if a, ok := s.rec.nearest(target, now); ok {
		s.tally.assumed(target, true)
		return a
	}
	s.tally.assumed(target, false)
	med := s.rec.median
	return Attempt{Target: target, SentAt: now, At: now.Add(med), Class: provider.ClassSuccess, TTFB: med,
		Outcome: breaker.Outcome{Kind: breaker.Success, Latency: med, Status: 200}}
}

// outcome records an attempt's outcome on its breaker, then sends the
// next attempt or ends the request.
func (s *sim) outcome(e *event) {
	f := e.f
	if b := s.reg.Lookup(e.a.Target); b != nil {
		b.Record(e.at, e.a.Outcome)
	}
	s.tally.attempt(e.a.Target, e.sent, e.at, e.a.Class, e.a.Outcome)
	switch {
	case e.a.Class == provider.ClassSuccess:
		f.in, f.out = e.a.InputTokens, e.a.OutputTokens
		s.tally.request(f.start, resultAnswered, e.sent.Sub(f.start), f.in, f.out)
		s.keep(f, resultAnswered)
		s.done(f)
	case !s.failsOver(f, e):
		s.end(f, resultReturned)
	case f.n >= f.limit:
		s.end(f, e.a.Class.String())
	default:
		s.send(f, e.at)
	}
}

// failsOver reports whether Envoy retries after e: a class that fails
// over, or a context-length error with a larger window next.
func (s *sim) failsOver(f *flight, e *event) bool {
	if e.a.Class != provider.ClassContextLength {
		return e.a.Class.FailsOver()
	}
	return f.n < len(f.plan.Steps) && e.step.ContextWindow > 0 && f.plan.Steps[f.n].ContextWindow > e.step.ContextWindow
}

// end counts a request that was not answered.
func (s *sim) end(f *flight, result string) {
	s.tally.request(f.start, result, 0, 0, 0)
	s.keep(f, result)
	s.done(f)
}

// newFlight is a flight to fill, reused when one is free.
func (s *sim) newFlight() *flight {
	if n := len(s.flights); n > 0 {
		f := s.flights[n-1]
		s.flights = s.flights[:n-1]
		return f
	}
	return &flight{}
}

// done frees a flight whose request ended.
func (s *sim) done(f *flight) {
	*f = flight{}
	s.flights = append(s.flights, f)
}

// keep notes the flight's plan (Options.KeepPlans).
func (s *sim) keep(f *flight, result string) {
	if !s.o.KeepPlans {
		return
	}
	p := Plan{RequestID: f.req.ID, Attempted: f.tried, Result: result}
	for _, st := range f.plan.Steps {
		p.Planned = append(p.Planned, config.Target{Provider: st.Provider, Model: st.Model}.Key())
	}
	s.tally.run.Plans = append(s.tally.run.Plans, p)
}

// onTransition counts a breaker transition.
func (s *sim) onTransition(t breaker.Transition) {
	s.tally.transition(Transition{At: t.At, Target: t.Name, From: t.From.String(), To: t.To.String(), Reason: t.Reason})
}
