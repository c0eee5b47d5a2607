package routing_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/routing"
)

// openTarget opens the breaker of the premium chain's target i at t0.
func openTarget(tbl *routing.Table, i int) {
	b := tbl.Breaker(tbl.Config().Chain("premium"), i)
	for range 3 {
		b.Record(t0, breaker.Outcome{Kind: breaker.Failure})
	}
}

// stepNames lists a plan's providers and reasons.
func stepNames(p routing.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Provider+":"+s.Reason)
	}
	return out
}

// TestPlan_SyntheticHalfOpenKeepsTheSlotFromUsers verifies that with
// probes.synthetic_half_open a half-open target is left out of a user's
// plan and its probe slot stays free for the prober; without it, the user's
// request takes the slot as before; with every target half-open or open,
// the half-open one is still the soonest-open last resort.
func TestPlan_SyntheticHalfOpenKeepsTheSlotFromUsers(t *testing.T) {
	tests := []struct {
		name      string
		probes    string
		openAll   bool
		want      string
		wantSlots int // probes in flight on openai after planning
	}{
		{"synthetic: the half-open target is skipped", "probes: {enabled: true}\n", false, "[groq:closed claude:closed]", 0},
		{"probes off: a user probes it", "", false, "[openai:probe groq:closed claude:closed]", 1},
		{"synthetic off: a user probes it", "probes: {enabled: true, synthetic_half_open: false}\n", false, "[openai:probe groq:closed claude:closed]", 1},
		{"target not probed: a user probes it", "probes: {enabled: true, targets: [{target: openai/gpt-4o, enabled: false}]}\n", false, "[openai:probe groq:closed claude:closed]", 1},
		{"everything unavailable: soonest-open", "probes: {enabled: true}\n", true, "[openai:soonest-open]", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, ch := newTable(t, tt.probes, 0)
			openTarget(tbl, 0)
			if tt.openAll {
				openTarget(tbl, 1)
				openTarget(tbl, 2)
			}
			now := t0.Add(openFor + 1) // openai is half-open (the others opened at the same time)
			if tt.openAll {
				// openai's cooldown is over; the others' are extended.
				for i := 1; i <= 2; i++ {
					tbl.Breaker(ch, i).Record(now, breaker.Outcome{Kind: breaker.AuthFailure})
				}
			}
			p, err := tbl.Plan(ch, now)
			if err != nil {
				t.Fatalf("Plan error = %v, want nil", err)
			}
			if got := stepNames(p); fmt.Sprint(got) != tt.want {
				t.Errorf("plan = %v, want %s", got, tt.want)
			}
			if got := tbl.Breaker(ch, 0).Snapshot(now).ProbesInFlight; got != tt.wantSlots {
				t.Errorf("probes in flight = %d, want %d", got, tt.wantSlots)
			}
		})
	}
}

// TestProbePlan_IsTheOneTargetWhateverItsBreaker verifies that a probe's
// plan is exactly the probed target on its first chain, with no
// same-target retry, also when its breaker is open, and that a target not
// probed has no probe plan.
func TestProbePlan_IsTheOneTargetWhateverItsBreaker(t *testing.T) {
	tbl, _ := newTable(t, "routing: {same_target_retries: 2}\nprobes: {enabled: true, targets: [{target: openai/gpt-4o-mini, enabled: false}]}\n", 0)
	openTarget(tbl, 1)
	p, err := tbl.ProbePlan("groq/llama-3.3-70b-versatile")
	if err != nil {
		t.Fatalf("ProbePlan error = %v, want nil", err)
	}
	if len(p.Steps) != 1 || p.Chain != "premium" || p.Steps[0].Cluster != "groq_cluster" || p.SameTargetRetries != 0 || p.Steps[0].Probe() {
		t.Errorf("plan = %+v, want one step on groq_cluster in chain premium, no retries, no half-open slot", p)
	}
	for _, key := range []string{"openai/gpt-4o-mini", "nobody/none"} {
		if _, err := tbl.ProbePlan(key); !errors.Is(err, routing.ErrNotProbed) {
			t.Errorf("ProbePlan(%q) error = %v, want ErrNotProbed", key, err)
		}
	}
}

// BenchmarkPlan_Probes measures planning a three-target chain with every
// breaker closed, with probes off (the baseline) and on with a per-target
// override (the synthetic half-open check on the leading target).
func BenchmarkPlan_Probes(b *testing.B) {
	for _, bc := range []struct{ name, probes string }{
		{"off", ""},
		{"on", "probes: {enabled: true, targets: [{target: claude/claude-sonnet, enabled: false}]}\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tbl, ch := newTable(b, bc.probes, 0.5)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tbl.Plan(ch, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
