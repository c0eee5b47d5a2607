package routing_test

import (
	"reflect"
	"testing"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/routing"
)

// TestPlanFor_StayPutsTheConversationsTargetFirst verifies Needs.Stay: an
// admitted target moves to the front with the rest in chain order behind
// it; an open target, one not in the chain and none leave the plan as it is.
func TestPlanFor_StayPutsTheConversationsTargetFirst(t *testing.T) {
	claude := routing.StayTarget{Provider: "claude", Model: "claude-sonnet"}
	tests := []struct {
		name   string
		stay   routing.StayTarget
		openAt []int // targets whose breakers are open
		want   []step
	}{
		{"no conversation target", routing.StayTarget{}, nil, []step{openaiClosed, groqClosed, claudeClosed}},
		{"the first target stays first", routing.StayTarget{Provider: "openai", Model: "gpt-4o"}, nil, []step{openaiClosed, groqClosed, claudeClosed}},
		{"the last target moves to the front", claude, nil, []step{claudeClosed, openaiClosed, groqClosed}},
		{"the middle target moves, the rest keep their order", routing.StayTarget{Provider: "groq", Model: "llama-3.3-70b-versatile"}, []int{0}, []step{groqClosed, claudeClosed}},
		{"an open target is not planned: the plan goes on without it", claude, []int{2}, []step{openaiClosed, groqClosed}},
		{"a target of another chain changes nothing", routing.StayTarget{Provider: "openai", Model: "gpt-4o-mini"}, nil, []step{openaiClosed, groqClosed, claudeClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, ch := newTable(t, "", 0.5)
			for _, i := range tt.openAt {
				open(tbl.Breaker(ch, i), t0)
			}
			p, err := tbl.PlanFor(ch, t0, routing.Needs{Stay: tt.stay})
			if err != nil {
				t.Fatalf("PlanFor error = %v, want nil", err)
			}
			if got := steps(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPlanFor_StayDoesNotLeadWithALastResort: a target planned only as the
// soonest-open last resort is not put before admitted targets (it is
// alone then), and a deferred recovering target is not moved.
func TestPlanFor_StayDoesNotLeadWithALastResort(t *testing.T) {
	tbl, ch := newTable(t, "", 0.99) // a recovering target's 10% share does not admit 0.99
	open(tbl.Breaker(ch, 0), t0)
	later := t0.Add(openFor)
	// The probe succeeds: openai enters its first recovery stage (10%).
	if adm := tbl.Breaker(ch, 0).Admit(later, 0); adm.Decision != breaker.Probe {
		t.Fatalf("openai admission after the cooldown = %v, want a probe", adm.Decision)
	}
	tbl.Breaker(ch, 0).Record(later, breaker.Outcome{Kind: breaker.Success})
	p, err := tbl.PlanFor(ch, later, routing.Needs{Stay: routing.StayTarget{Provider: "openai", Model: "gpt-4o"}})
	if err != nil {
		t.Fatalf("PlanFor error = %v", err)
	}
	want := []step{groqClosed, claudeClosed, {"openai", "gpt-4o", "recovering-deferred", false}}
	if got := steps(p); !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %+v, want %+v", got, want)
	}
}
