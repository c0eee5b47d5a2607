package routing

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
)

// Registry holds one breaker per target key ("provider/model"), for the
// life of the process: a configuration reload keeps every breaker and its
// state, including those of targets it removed (which come back with their
// state if a later reload restores them). A breaker keeps the settings it
// was created with: those of the first chain, in configuration order, that
// lists its target when a table first needs it (NewTable); a reload's
// changed breaker settings or triggers reach only targets new to the
// registry.
type Registry struct {
	mu sync.Mutex
	m  map[string]*breaker.Breaker
	// onChange receives every breaker transition (for logs and metrics).
	onChange func(breaker.Transition)
	clock    breaker.Clock
	// rand draws the breakers' cooldown jitter (SetRand); nil: theirs.
	rand func() float64
	// observer also sees every transition and outcome (Observe); nil: none.
	observer atomic.Pointer[Observer]
	// regions follows the regions' outages from the transitions (regionwatch.go).
	regions *regionWatch
}

// NewRegistry returns an empty registry. clock may be nil (wall clock);
// onChange may be nil.
func NewRegistry(clock breaker.Clock, onChange func(breaker.Transition)) *Registry {
	return &Registry{m: map[string]*breaker.Breaker{}, onChange: onChange, clock: clock, regions: newRegionWatch()}
}

// SetRand makes the breakers created from now on draw their cooldown
// jitter from rnd (a seeded source makes a replay repeatable); nil: the
// breaker's default. Call it before the first table is built.
func (r *Registry) SetRand(rnd func() float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rand = rnd
}

// get returns the breaker of key, creating it with s when new.
func (r *Registry) get(key string, s breaker.Settings) *breaker.Breaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.m[key]; ok {
		return b
	}
	s.Clock = r.clock
	if r.rand != nil {
		s.Rand = r.rand
	}
	s.OnStateChange = r.changed
	s.OnOutcome = func(key string, now time.Time, out breaker.Outcome) {
		if o := r.observer.Load(); o != nil {
			(*o).Outcome(key, now, out)
		}
	}
	b := breaker.New(key, s)
	r.m[key] = b
	return b
}

// changed delivers a transition to onChange and the observer, then lets
// the region watch re-evaluate the target's region.
func (r *Registry) changed(t breaker.Transition) {
	if r.onChange != nil {
		r.onChange(t)
	}
	if o := r.observer.Load(); o != nil {
		(*o).Transition(t)
	}
	r.regions.observe(t.Name, t.At)
}

// OnRegionChange makes fn receive every region outage start and end, in
// order, after the watch's lock; call it before the first table is built.
func (r *Registry) OnRegionChange(fn func(RegionChange)) { r.regions.onChange.Store(&fn) }

// Regions is every configured region's state at now, by name.
func (r *Registry) Regions(now time.Time) []RegionStatus { return r.regions.status(now) }

// Each calls fn for every breaker, in no particular order.
func (r *Registry) Each(fn func(*breaker.Breaker)) {
	r.mu.Lock()
	bs := make([]*breaker.Breaker, 0, len(r.m))
	for _, b := range r.m {
		bs = append(bs, b)
	}
	r.mu.Unlock()
	for _, b := range bs {
		fn(b)
	}
}

// Settings maps the configuration's breaker section, with a chain's trigger
// overrides, to breaker settings.
func Settings(c *config.Config, ch *config.Chain) breaker.Settings {
	b := c.Breaker
	s := breaker.Settings{
		ConsecutiveFailures:   b.ConsecutiveFailures,
		OpenFor:               b.OpenFor.D(),
		MaxOpenFor:            b.MaxOpenFor.D(),
		AuthOpenFor:           b.AuthOpenFor.D(),
		QuotaOpenFor:          b.QuotaOpenFor.D(),
		HalfOpenProbes:        b.HalfOpenProbes,
		ProbeTimeout:          b.ProbeTimeout.D(),
		RecoveryStages:        append([]float64(nil), b.RecoveryStages...),
		RecoveryStageDuration: b.RecoveryStageDuration.D(),
		ProbeFailures:         c.Probes.FailuresToOpen,
	}
	if b.Jitter != nil {
		s.Jitter = *b.Jitter
	}
	t := b.Triggers
	if ch != nil && ch.Triggers != nil {
		if ch.Triggers.Latency != nil {
			t.Latency = ch.Triggers.Latency
		}
		if ch.Triggers.Quality != nil {
			t.Quality = ch.Triggers.Quality
		}
		if ch.Triggers.ErrorRate != nil {
			t.ErrorRate = ch.Triggers.ErrorRate
		}
	}
	if l := t.Latency; l != nil && l.Threshold > 0 {
		s.Latency = breaker.Latency{Threshold: l.Threshold.D(), MinRequests: l.MinRequests}
	}
	if e := t.ErrorRate; e != nil && e.Threshold > 0 {
		s.ErrorRate = breaker.ErrorRate{Threshold: e.Threshold, Window: e.Window.D(), MinRequests: e.MinRequests}
	}
	s.Quality = t.Quality.Breaker()
	return s
}

// Lookup returns the breaker of key ("provider/model"), or nil.
func (r *Registry) Lookup(key string) *breaker.Breaker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// Observer sees every breaker's transitions and recorded outcomes, after
// the breaker's own observer (package fleet shares them with other
// replicas). Its methods must not block.
type Observer interface {
	Transition(breaker.Transition)
	Outcome(key string, now time.Time, o breaker.Outcome)
}

// Observe makes o see every breaker of the registry, those already made and
// those to come; nil stops it.
func (r *Registry) Observe(o Observer) {
	if o == nil {
		r.observer.Store(nil)
		return
	}
	r.observer.Store(&o)
}
