package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// Host is what the prober needs of the ext_proc server
// (processor.Server implements it).
type Host interface {
	// Config is the running configuration.
	Config() *config.Config
	// Breaker is the breaker of target key ("provider/model"), or nil.
	Breaker(key string) *breaker.Breaker
	// SignProbe is the contract.HeaderProbe value of a probe of key with
	// body, valid until exp.
	SignProbe(key string, body []byte, exp time.Time) string
	// ObserveProbe counts a probe sent and publishes its audit event.
	ObserveProbe(Result)
	// ObserveSkipped counts a probe due and not sent, for reason (one of
	// the Skipped* constants).
	ObserveSkipped(key, reason string)
}

// Claimer decides which replica probes a target. Local says "this one"
// for every target; a fleet-wide implementation (issue 18) takes a lease
// with expiry in the shared store, so one replica probes a target at a time.
type Claimer interface {
	// Claim reports whether this replica probes key now; the claim should
	// hold for ttl (the target's probe interval), after which another may
	// take it, so the fleet probes a target once per interval.
	Claim(key string, now time.Time, ttl time.Duration) bool
}

// Local is the Claimer of a process probing its own targets: it claims
// every probe.
type Local struct{}

// Claim returns true.
func (Local) Claim(string, time.Time, time.Duration) bool { return true }

var _ Claimer = Local{}

// Why a due probe was not sent.
const (
	SkippedRateLimited = "rate_limited"
	SkippedNotClaimed  = "not_claimed"
)

// Outcomes of a Result.
const (
	OutcomeOK      = "ok"      // 2xx
	OutcomeFailed  = "failed"  // 5xx, 429, 401/403: the target failed it
	OutcomeNeutral = "neutral" // another 4xx: says nothing of the target's health
	OutcomeError   = "error"   // no answer from the front door (transport error)
)

// Result is one probe sent.
type Result struct {
	Target config.Target // provider and model
	Chain  string        // the chain the probe was planned on
	At     time.Time     // when it was sent (the prober's clock)
	// HalfOpen: the probe was the half-open target's synthetic probe.
	HalfOpen bool
	Status   int    // the front door's answer; 0 when none
	Outcome  string // one of the Outcome* constants
	// Duration is the time to the whole answer, on the wall clock.
	Duration time.Duration
	// InputTokens and OutputTokens are the answer's usage (0 when it
	// reported none): the probe's cost.
	InputTokens, OutputTokens int64
	// Err is the transport error (OutcomeError), bounded; never a key.
	Err string
}

// Options configure a Prober. Host is required.
type Options struct {
	Host Host
	// Clock tells the time of the schedule and the breakers; nil: wall.
	Clock clock.Clock
	// Client sends the probes; nil: a client that uses no proxy.
	Client *http.Client
	// FrontDoor overrides probes.front_door (e.g. a test's Envoy model).
	FrontDoor string
	// Claimer; nil: Local.
	Claimer Claimer
	// Rand draws the jitter; nil: math/rand/v2.
	Rand func() float64
	// Logger; nil discards.
	Logger *slog.Logger
}

// Prober schedules and sends the probes. Its methods are safe for
// concurrent use; Round calls do not overlap (each waits for the last).
type Prober struct {
	o Options
	// round is held by a Round from start to end: one round at a time,
	// and it owns the schedule below while it runs. Nothing else takes
	// it, so the Host and Claimer calls a round makes cannot deadlock on
	// it.
	round sync.Mutex

	next     map[string]time.Time // when a closed or recovering target is due
	last     map[string]time.Time // when a target was last probed
	tokens   float64              // the rate limit's bucket
	refilled time.Time
}

// New returns a prober; it starts nothing (see Run).
func New(o Options) *Prober {
	if o.Clock == nil {
		o.Clock = clock.Wall{}
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}
	}
	if o.Claimer == nil {
		o.Claimer = Local{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Prober{o: o, next: map[string]time.Time{}, last: map[string]time.Time{}, tokens: -1}
}

// Tick is how often Run looks for due probes.
const Tick = time.Second

// Run calls Round every Tick until ctx ends.
func (p *Prober) Run(ctx context.Context) {
	for {
		t := clock.NewTimer(p.o.Clock, Tick)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		p.Round(ctx, p.o.Clock.Now())
	}
}

// due is a probe Round decided to send.
type due struct {
	ps       config.ProbeSettings
	key      string
	b        *breaker.Breaker
	adm      breaker.Admission // a half-open probe's slot
	halfOpen bool
}

// Round sends every probe due at now (probes off: none), waits for their
// answers and returns them in configuration order.
//
// A target is due when it is Closed or Recovering and its interval
// (jittered, never under min_interval) has passed since its last probe
// (a target never probed is due at once); or when it is HalfOpen, probed
// synthetically, min_interval has passed, and its half-open slot is free
// (the probe takes it). An Open target is not probed. A due probe waits
// for the next round when the rate limit's bucket is empty.
func (p *Prober) Round(ctx context.Context, now time.Time) []Result {
	p.round.Lock()
	defer p.round.Unlock()
	cfg := p.o.Host.Config()
	var todo []due
	for _, ps := range cfg.ProbedTargets() {
		if d, ok := p.dueAt(cfg, ps, now); ok {
			todo = append(todo, d)
		}
	}
	results := make([]Result, len(todo))
	var wg sync.WaitGroup
	for i, d := range todo {
		wg.Go(func() {
			results[i] = p.send(ctx, cfg, d, now)
			d.b.Release(p.o.Clock.Now(), d.adm) // a slot the attempt phase never freed (refused, unsent)
			p.o.Host.ObserveProbe(results[i])
		})
	}
	wg.Wait()
	return results
}

// dueAt decides whether ps's target is probed at now, and schedules it
// (p.round is held).
func (p *Prober) dueAt(cfg *config.Config, ps config.ProbeSettings, now time.Time) (due, bool) {
	key := ps.Target.Key()
	b := p.o.Host.Breaker(key)
	if b == nil {
		return due{}, false
	}
	pc := &cfg.Probes
	d := due{ps: ps, key: key, b: b}
	last, probed := p.last[key]
	if probed && now.Sub(last) < pc.MinInterval.D() {
		return d, false
	}
	switch b.Snapshot(now).State {
	case breaker.Open:
		return d, false
	case breaker.HalfOpen:
		if !pc.SyntheticHalfOpenFor(cfg.Chain(ps.Chain), ps.Target.Provider, ps.Target.Model) {
			return d, false // a user's request probes it
		}
		d.halfOpen = true
	default:
		if next, ok := p.next[key]; ok && now.Before(next) {
			return d, false
		}
	}
	if d.halfOpen {
		if d.adm = b.Admit(now, 0); d.adm.Decision != breaker.Probe {
			return d, false // its slot is taken (or it moved on)
		}
	}
	skipped := ""
	switch {
	case !p.takeToken(pc.MaxPerSecond, now):
		skipped = SkippedRateLimited
	case !p.o.Claimer.Claim(key, now, max(ps.Interval, ps.Timeout)):
		skipped = SkippedNotClaimed
		p.schedule(pc, ps, key, now) // another replica probes it
	default:
		p.schedule(pc, ps, key, now)
		return d, true
	}
	b.Release(now, d.adm) // the half-open slot taken above, if any
	p.o.Host.ObserveSkipped(key, skipped)
	return d, false
}

// schedule sets key's last probe to now and its next to now plus the
// jittered interval, never under min_interval.
func (p *Prober) schedule(pc *config.Probes, ps config.ProbeSettings, key string, now time.Time) {
	p.last[key] = now
	iv := float64(ps.Interval)
	if j := *pc.Jitter; j > 0 {
		iv *= 1 + j*(2*p.o.Rand()-1)
	}
	p.next[key] = now.Add(max(time.Duration(iv), pc.MinInterval.D()))
}

// takeToken takes one probe from the bucket (rate per second, burst
// max(1, rate)), refilled for the time since the last take.
func (p *Prober) takeToken(rate float64, now time.Time) bool {
	burst := max(1, rate)
	if p.tokens < 0 { // first use: a full bucket
		p.tokens, p.refilled = burst, now
	}
	if el := now.Sub(p.refilled); el > 0 {
		p.tokens = min(burst, p.tokens+el.Seconds()*rate)
		p.refilled = now
	}
	if p.tokens < 1 {
		return false
	}
	p.tokens--
	return true
}

// request is the probe's chat completion.
type request struct {
	Model     string    `json:"model"`
	Messages  []message `json:"messages"`
	MaxTokens int       `json:"max_tokens"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// signSlack is added to a probe's signed lifetime for clock differences
// between the replica that signs and the one whose route phase verifies.
const signSlack = 30 * time.Second

// maxAnswer bounds what is read of a probe's answer.
const maxAnswer = 1 << 20

// send sends one probe through the front door and judges its answer.
func (p *Prober) send(ctx context.Context, cfg *config.Config, d due, now time.Time) Result {
	r := Result{Target: d.ps.Target, Chain: d.ps.Chain, At: now, HalfOpen: d.halfOpen, Outcome: OutcomeError}
	body, err := json.Marshal(request{Model: d.ps.Target.Model, Messages: []message{{Role: "user", Content: d.ps.Prompt}}, MaxTokens: d.ps.MaxTokens})
	if err != nil {
		r.Err = err.Error()
		return r
	}
	front := p.o.FrontDoor
	if front == "" {
		front = cfg.Probes.FrontDoor
	}
	// Envoy's per-try timeout (the probe's timeout) ends a stalled attempt
	// first, so the attempt phase records it; this bounds the rest.
	ctx, cancel := context.WithTimeout(ctx, d.ps.Timeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(front, "/")+cfg.Probes.Path, bytes.NewReader(body))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set(contract.HeaderProbe, p.o.Host.SignProbe(d.key, body, now.Add(d.ps.Timeout+signSlack)))
	start := time.Now()
	resp, err := p.o.Client.Do(req)
	if err != nil {
		r.Duration = time.Since(start)
		r.Err = truncate(err.Error(), 200)
		p.o.Logger.Warn("probe not answered", "target", d.key, "error", r.Err)
		return r
	}
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	r.Duration = time.Since(start)
	r.Status = resp.StatusCode
	r.Outcome = outcomeOf(resp.StatusCode)
	var u struct {
		Usage struct {
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal(ans, &u) == nil {
		r.InputTokens, r.OutputTokens = max(u.Usage.PromptTokens, 0), max(u.Usage.CompletionTokens, 0)
	}
	if r.Outcome != OutcomeOK {
		p.o.Logger.Info("probe failed", "target", d.key, "status", r.Status)
	}
	return r
}

// outcomeOf judges a probe by the front door's status, as the attempt
// phase's classes fall: the breaker itself was fed by the attempt phase.
func outcomeOf(status int) string {
	switch {
	case status >= 200 && status < 300:
		return OutcomeOK
	case status == 401, status == 403, status == 429, status >= 500:
		return OutcomeFailed
	}
	return OutcomeNeutral
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
