package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
)

// Sentinel errors of chain resolution and planning; the processor maps them
// to HTTP statuses once.
var (
	// ErrModelNotFound: no chain matches the model and there is no default chain (404).
	ErrModelNotFound = errors.New("model not found")
	// ErrUnknownChain: the x-llm-failover-chain header names no configured chain (400).
	ErrUnknownChain = errors.New("unknown chain")
	// ErrAllOpen: every target's breaker is open and routing.all_open is reject (503).
	ErrAllOpen = errors.New("all targets open")
	// ErrNoCapableTarget: no target of the chain supports a feature the request needs (400).
	ErrNoCapableTarget = errors.New("no target supports the request")
)

// IncapableError says what no target of a chain supports; it wraps ErrNoCapableTarget.
type IncapableError struct {
	Chain string
	Need  string // e.g. "vision", or what Needs.Unserved names
}

func (e *IncapableError) Error() string {
	return fmt.Sprintf("routing: chain %q: the request needs %s: %v", e.Chain, e.Need, ErrNoCapableTarget)
}

// Unwrap lets errors.Is(err, ErrNoCapableTarget) match.
func (e *IncapableError) Unwrap() error { return ErrNoCapableTarget }

// Needs are what a request requires of a target.
type Needs struct {
	Tools  bool // the request has tools
	JSON   bool // response_format json_object or json_schema
	Vision bool // image parts
	// PromptTokens is an estimate of the prompt's size; 0 means unknown.
	PromptTokens int
	// Unserved names what a target of an API lacks to serve the request
	// (e.g. "n" > 1, which only OpenAI-format targets serve), or ""; nil
	// when nothing is lacking (provider.Inspection.Unserved).
	Unserved func(api config.API) string
	// Stay is the target the request's conversation stays on while its
	// breaker admits traffic (conversation affinity, affinity.go); zero: none.
	Stay StayTarget
	// Region is the region the request prefers (its client's, or the
	// x-llm-failover-region header's); "" takes the chain's (region.go).
	Region string
}

// missing names the first capability tg lacks for n, or "".
func (n Needs) missing(tg config.Target) config.Capability {
	switch {
	case n.Tools && !tg.Has(config.CapTools):
		return config.CapTools
	case n.JSON && !tg.Has(config.CapJSON):
		return config.CapJSON
	case n.Vision && !tg.Has(config.CapVision):
		return config.CapVision
	}
	return ""
}

// tooLong reports whether the prompt estimate exceeds tg's known window.
func (n Needs) tooLong(tg config.Target) bool {
	return tg.ContextWindow > 0 && n.PromptTokens > tg.ContextWindow
}

// Step is one planned attempt.
type Step struct {
	Provider      string
	Cluster       string
	Model         string
	ContextWindow int
	// probe is the breaker and admission of a half-open probe step (nil for
	// other steps), for Probe and Release.
	probe *probeSlot
	// Reason says why the step is where it is: "closed", "probe", "recovering",
	// "recovering-deferred", "soonest-open".
	Reason string
	// Placement says where its tier and region put it, for the trace:
	// "tier=1;weight=3/4", "region=eu:preferred" (tiers.go, region.go);
	// "" for a plain chain's target.
	Placement string
}

// Plan is the ordered list of attempts for one request.
type Plan struct {
	Chain string
	Steps []Step
	// SameTargetRetries are extra attempts Envoy makes on the last step.
	SameTargetRetries int
}

// Table is an immutable snapshot of a configuration and its targets' breakers.
type Table struct {
	cfg      *config.Config
	byModel  map[string]*config.Chain
	byName   map[string]*config.Chain
	breakers map[*config.Chain][]*breaker.Breaker
	rand     func() float64
	info     map[*config.Chain]*chainInfo // tiers and regions (tiers.go)
	known    map[string]bool              // the configured regions
	regions  OutageView
}

// NewTable builds the table of cfg with breakers from reg. rnd draws the
// recovery-share admissions; nil means math/rand/v2.
func NewTable(cfg *config.Config, reg *Registry, rnd func() float64) *Table {
	if rnd == nil {
		rnd = rand.Float64
	}
	t := &Table{cfg: cfg, byModel: map[string]*config.Chain{}, byName: map[string]*config.Chain{},
		breakers: map[*config.Chain][]*breaker.Breaker{}, rand: rnd, info: map[*config.Chain]*chainInfo{}, known: map[string]bool{}, regions: reg.regions}
	for i := range cfg.Chains {
		ch := &cfg.Chains[i]
		t.byName[ch.Name] = ch
		for _, m := range ch.Match.Models {
			t.byModel[m] = ch
		}
		s := Settings(cfg, ch)
		for _, tg := range ch.Targets {
			t.breakers[ch] = append(t.breakers[ch], reg.get(tg.Key(), s))
		}
		t.info[ch] = t.prepare(ch)
	}
	t.watchRegions(reg)
	return t
}

// Config returns the configuration of the table.
func (t *Table) Config() *config.Config { return t.cfg }

// Resolve picks the chain of a request: the chain named by the
// x-llm-failover-chain header when set, else the chain matching model, else
// the default chain.
func (t *Table) Resolve(model, chainHeader string) (*config.Chain, error) {
	if chainHeader != "" {
		if ch := t.byName[chainHeader]; ch != nil {
			return ch, nil
		}
		return nil, fmt.Errorf("routing: chain %q: %w", chainHeader, ErrUnknownChain)
	}
	if ch := t.byModel[model]; ch != nil {
		return ch, nil
	}
	if t.cfg.DefaultChain != "" {
		return t.byName[t.cfg.DefaultChain], nil
	}
	return nil, fmt.Errorf("routing: model %q: %w", model, ErrModelNotFound)
}

// Breaker returns the breaker of the target of ch at index i.
func (t *Table) Breaker(ch *config.Chain, i int) *breaker.Breaker { return t.breakers[ch][i] }

// BreakerFor returns the breaker of a provider/model target in any chain, or nil.
func (t *Table) BreakerFor(provider, model string) *breaker.Breaker {
	for ch, bs := range t.breakers {
		for i, tg := range ch.Targets {
			if tg.Provider == provider && tg.Model == model {
				return bs[i]
			}
		}
	}
	return nil
}

// Plan orders ch's targets from their breakers at now: targets that admit
// the request (closed, half-open probes, recovering targets admitted by their
// stage share) in chain order, where a half-open target is probed only when
// no target precedes it in the plan; then recovering targets not admitted this time,
// as a last resort; open targets are left out. When nothing is left, the
// target whose cooldown ends first is tried (routing.all_open: try-soonest),
// or ErrAllOpen is returned (reject).
func (t *Table) Plan(ch *config.Chain, now time.Time) (Plan, error) {
	return t.PlanFor(ch, now, Needs{})
}

// PlanFor is Plan for a request with needs: targets lacking a capability the
// request needs are left out (ErrNoCapableTarget when none is left), and so
// are targets whose known context window is below the prompt estimate, unless
// that would leave none: then the largest window is kept and the provider
// judges.
func (t *Table) PlanFor(ch *config.Chain, now time.Time, needs Needs) (Plan, error) {
	p := Plan{Chain: ch.Name, Steps: make([]Step, 0, len(ch.Targets)), SameTargetRetries: t.cfg.SameTargetRetries(ch)}
	candidates := make([]int, 0, len(ch.Targets))
	var lacking config.Capability
	largest := -1
	for i, tg := range ch.Targets {
		if c := needs.missing(tg); c != "" {
			lacking = c
			continue
		}
		if needs.Unserved != nil {
			if p := t.cfg.Provider(tg.Provider); p != nil {
				if u := needs.Unserved(p.API); u != "" {
					lacking = config.Capability(u)
					continue
				}
			}
		}
		if largest < 0 || tg.ContextWindow == 0 || ch.Targets[largest].ContextWindow != 0 && tg.ContextWindow > ch.Targets[largest].ContextWindow {
			largest = i
		}
		if needs.tooLong(tg) {
			continue
		}
		candidates = append(candidates, i)
	}
	if largest < 0 {
		return p, &IncapableError{Chain: ch.Name, Need: string(lacking)}
	}
	if len(candidates) == 0 {
		candidates = append(candidates, largest)
	}
	pl, err := t.arrange(ch, candidates, now, needs.Region, t.rand)
	if err != nil {
		return p, err
	}
	var deferred []Step
	soonest, soonestAt := -1, time.Time{}
	for k, i := range pl.order {
		tg := ch.Targets[i]
		b := t.breakers[ch][i]
		step := t.step(tg)
		step.Placement = t.placement(ch, pl, k)
		// A probe behind a healthy target would rarely be sent but would
		// hold the probe slot until it times out: probe it when it leads.
		var adm breaker.Admission
		// A target probed synthetically keeps its half-open slot for the
		// prober (probe.go); with nothing planned yet it may still be the
		// soonest-open last resort.
		if len(p.Steps) == 0 && !t.probedSynthetically(ch, tg) {
			adm = b.Admit(now, t.rand())
		} else if adm = b.AdmitBehind(now, t.rand()); adm.State == breaker.HalfOpen && adm.Decision == breaker.Reject && len(p.Steps) > 0 {
			continue
		}
		switch adm.Decision {
		case breaker.Allow:
			step.Reason = "closed"
			if adm.State == breaker.Recovering {
				step.Reason = "recovering"
			}
			p.Steps = append(p.Steps, step)
			continue
		case breaker.Probe:
			step.Reason, step.probe = "probe", &probeSlot{b: b, adm: adm}
			p.Steps = append(p.Steps, step)
			continue
		}
		if adm.State == breaker.Recovering {
			step.Reason = "recovering-deferred"
			deferred = append(deferred, step)
			continue
		}
		if soonest < 0 || adm.OpenUntil.Before(soonestAt) {
			soonest, soonestAt = i, adm.OpenUntil
		}
	}
	p.Steps = append(p.Steps, deferred...)
	if len(p.Steps) == 0 {
		if t.cfg.Routing.AllOpen == config.AllOpenReject {
			return p, allOpen(ch, needs.Region)
		}
		step := t.step(ch.Targets[soonest])
		step.Reason = "soonest-open"
		p.Steps = append(p.Steps, step)
	}
	return p.stay(needs.Stay), nil
}

// probeSlot is the half-open probe slot a step took.
type probeSlot struct {
	b   *breaker.Breaker
	adm breaker.Admission
}

// Probe reports whether the step is a half-open probe.
func (s Step) Probe() bool { return s.probe != nil }

// Release gives back the half-open probe slot of a step the request will
// not attempt (dropped from the plan after planning, e.g. because the
// target's adapter cannot express the request), so the target is probed by
// the next request instead of after breaker.probe_timeout. It does nothing
// for other steps.
func (s Step) Release(now time.Time) {
	if s.probe != nil {
		s.probe.b.Release(now, s.probe.adm)
	}
}

func (t *Table) step(tg config.Target) Step {
	cluster := tg.Provider
	if p := t.cfg.Provider(tg.Provider); p != nil {
		cluster = p.Cluster
	}
	return Step{Provider: tg.Provider, Cluster: cluster, Model: tg.Model, ContextWindow: tg.ContextWindow}
}
