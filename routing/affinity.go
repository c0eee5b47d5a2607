package routing

// Conversation affinity in the plan: a conversation stays on the target
// that last served it while that target's breaker admits traffic
// (package affinity names conversations and remembers their targets; the
// processor looks the target up and passes it as Needs.Stay).

// StayTarget is the target a conversation should stay on.
type StayTarget struct {
	Provider string
	Model    string
}

// IsZero reports whether s names no target.
func (s StayTarget) IsZero() bool { return s == StayTarget{} }

// admitted reports whether a planned step is one the target's breaker
// admits now (closed, a half-open probe, a recovering target admitted by
// its stage share), as opposed to a last resort.
func (s Step) admitted() bool {
	return s.Reason == "closed" || s.Reason == "recovering" || s.Reason == "probe"
}

// stay moves the step of target s to the front of p when the plan holds it
// as admitted: the conversation stays where its provider's prompt cache is
// warm, and the rest of the plan keeps its order behind it. A target the
// plan left out or holds only as a last resort is not moved: the
// conversation then goes where the plan sends it, and the processor
// remembers its new target.
func (p Plan) stay(s StayTarget) Plan {
	if s.IsZero() {
		return p
	}
	for i, st := range p.Steps {
		if st.Provider != s.Provider || st.Model != s.Model {
			continue
		}
		if i == 0 || !st.admitted() || st.probe != nil {
			// A half-open probe is planned only when it leads (PlanFor):
			// one found behind another step is left where it is.
			return p
		}
		copy(p.Steps[1:i+1], p.Steps[:i])
		p.Steps[0] = st
		return p
	}
	return p
}
