package routing

import (
	"errors"
	"fmt"

	"github.com/llm-failover/llm-failover/config"
)

// ErrNotProbed: a probe names a target that is not probed in the table's
// configuration (removed by a reload, or never configured).
var ErrNotProbed = errors.New("target not probed")

// probedSynthetically reports whether plans of ch leave tg's half-open slot to
// the active prober (probes.synthetic_half_open): then a half-open tg is
// left out of user plans, except as the soonest-open last resort.
func (t *Table) probedSynthetically(ch *config.Chain, tg config.Target) bool {
	return t.cfg.Probes.SyntheticHalfOpenFor(ch, tg.Provider, tg.Model)
}

// ProbePlan is the plan of an active probe of the target key
// ("provider/model"): that one target, on the first chain that lists it,
// whatever its breaker says (the prober decided to probe it) and with no
// same-target retry. The probe's outcome is recorded by the attempt phase
// like any other (as a probe's). ErrNotProbed when the configuration does
// not probe key.
func (t *Table) ProbePlan(key string) (Plan, error) {
	for _, ps := range t.cfg.ProbedTargets() {
		if ps.Target.Key() != key {
			continue
		}
		ch := t.byName[ps.Chain]
		for _, tg := range ch.Targets {
			if tg.Key() == key {
				s := t.step(tg)
				s.Reason = "active-probe"
				return Plan{Chain: ch.Name, Steps: []Step{s}}, nil
			}
		}
	}
	return Plan{}, fmt.Errorf("routing: %q: %w", key, ErrNotProbed)
}
