package routing

import (
	"fmt"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
)

// Verdict is one target of a chain in an Explanation: whether the plan
// would include it, where, and why.
type Verdict struct {
	Provider string
	Model    string
	Included bool
	// Position is the step's place in the plan (from 1); 0 when left out.
	Position int
	// Reason says why: the step's reason ("closed", "probe", "recovering",
	// "recovering-deferred", "soonest-open") when included, else what left
	// it out ("open until ...", "lacks tools", ...).
	Reason string
	// Breaker is the target's breaker at the explained instant.
	Breaker breaker.Snapshot
	// Placement says where the target's tier and region put it (as in the
	// trace: "tier=1;weight=3/4", "region=eu:outage"); "" for a plain
	// chain's target or one left out before placement.
	Placement string
	// Tier, Weight and Region are the target's configuration (0, 0, ""
	// when unset); Lead is the share of plans it would lead among its
	// tier's admitting targets (1 outside a tier; 0 when it admits none).
	Tier, Weight int
	Region       string
	Lead         float64
}

// Explanation is the plan a request would get at one instant, with a
// Verdict for every target of the chain in configuration order.
type Explanation struct {
	Plan    Plan
	Targets []Verdict
	// Err is PlanFor's error for such a request (ErrAllOpen,
	// ErrNoCapableTarget), nil when it would be planned.
	Err error
}

// Explain returns the plan PlanFor would make for needs on ch at now, with
// why each target is in or out, without changing any breaker: it reads
// breaker snapshots instead of admitting, takes no probe slot, and counts a
// recovering target admitted (its stage share decides per request; when not
// admitted it is tried after the admitted targets). A tier's targets are
// shown heaviest first, the most likely of PlanFor's weighted draws, each
// with the share of plans it leads (Verdict.Lead). Its steps are those of
// PlanFor whenever PlanFor's draws admit every recovering target and put
// each tier heaviest first.
func (t *Table) Explain(ch *config.Chain, now time.Time, needs Needs) Explanation {
	ex := Explanation{
		Plan:    Plan{Chain: ch.Name, SameTargetRetries: t.cfg.SameTargetRetries(ch)},
		Targets: make([]Verdict, len(ch.Targets)),
	}
	candidates := make([]int, 0, len(ch.Targets))
	var lacking config.Capability
	largest := -1
	for i, tg := range ch.Targets {
		v := &ex.Targets[i]
		v.Provider, v.Model = tg.Provider, tg.Model
		v.Breaker = t.breakers[ch][i].Snapshot(now)
		if c := needs.missing(tg); c != "" {
			lacking, v.Reason = c, "lacks "+string(c)
			continue
		}
		if needs.Unserved != nil {
			if p := t.cfg.Provider(tg.Provider); p != nil {
				if u := needs.Unserved(p.API); u != "" {
					lacking, v.Reason = config.Capability(u), fmt.Sprintf("its API (%s) cannot serve %s", p.API, u)
					continue
				}
			}
		}
		if largest < 0 || tg.ContextWindow == 0 || ch.Targets[largest].ContextWindow != 0 && tg.ContextWindow > ch.Targets[largest].ContextWindow {
			largest = i
		}
		if needs.tooLong(tg) {
			v.Reason = fmt.Sprintf("context window %d below the prompt estimate %d", tg.ContextWindow, needs.PromptTokens)
			continue
		}
		candidates = append(candidates, i)
	}
	if largest < 0 {
		ex.Err = &IncapableError{Chain: ch.Name, Need: string(lacking)}
		return ex
	}
	if len(candidates) == 0 {
		candidates = append(candidates, largest)
	}
	pl, err := t.arrange(ch, candidates, now, needs.Region, nil)
	if err != nil {
		ex.Err = err
		return ex
	}
	t.explainTiers(ch, &ex, pl)
	soonest := -1
	for k, i := range pl.order {
		v := &ex.Targets[i]
		v.Placement = t.placement(ch, pl, k)
		sn := v.Breaker
		switch sn.State {
		case breaker.Closed:
			v.Reason = "closed"
		case breaker.Recovering:
			v.Reason = "recovering"
		case breaker.HalfOpen:
			switch {
			case len(ex.Plan.Steps) > 0:
				v.Reason = "half-open: probed only when no target precedes it"
				continue
			case t.probedSynthetically(ch, ch.Targets[i]):
				// Left to the active prober (probe.go); the soonest open
				// target when nothing else is left, as below.
				v.Reason = "half-open: left to the active prober"
				if soonest < 0 || sn.OpenUntil.Before(ex.Targets[soonest].Breaker.OpenUntil) {
					soonest = i
				}
				continue
			case sn.ProbesInFlight >= t.cfg.Breaker.HalfOpenProbes:
				// PlanFor takes it as the soonest open target (its
				// cooldown is over) when nothing else is left.
				v.Reason = "half-open: every probe slot is in use"
				if soonest < 0 || sn.OpenUntil.Before(ex.Targets[soonest].Breaker.OpenUntil) {
					soonest = i
				}
				continue
			}
			v.Reason = "probe"
		default: // Open
			v.Reason = "open until " + sn.OpenUntil.UTC().Format(time.RFC3339)
			if soonest < 0 || sn.OpenUntil.Before(ex.Targets[soonest].Breaker.OpenUntil) {
				soonest = i
			}
			continue
		}
		t.include(&ex, ch, i, v.Reason)
	}
	if len(ex.Plan.Steps) == 0 {
		if t.cfg.Routing.AllOpen == config.AllOpenReject {
			ex.Err = allOpen(ch, needs.Region)
			return ex
		}
		if soonest >= 0 {
			t.include(&ex, ch, soonest, "soonest-open")
		}
	}
	return ex
}

// include appends target i of ch to ex's plan with reason.
func (t *Table) include(ex *Explanation, ch *config.Chain, i int, reason string) {
	step := t.step(ch.Targets[i])
	step.Reason, step.Placement = reason, ex.Targets[i].Placement
	ex.Plan.Steps = append(ex.Plan.Steps, step)
	v := &ex.Targets[i]
	v.Included, v.Position, v.Reason = true, len(ex.Plan.Steps), reason
}

// Chains returns the chains of the table's configuration, in order.
func (t *Table) Chains() []config.Chain { return t.cfg.Chains }
