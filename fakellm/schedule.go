package fakellm

import "math/rand/v2"

// scheduler is the lock-free state of an installed Schedule; Server
// guards it with its mutex.
type scheduler struct {
	pending     []Fault // head first; Times counts down, -1 never does
	probability float64
	seed        uint64
	fault       *Fault
	rng         *rand.Rand
	draws       int
}

func newScheduler(s Schedule) *scheduler {
	return &scheduler{
		pending:     append([]Fault(nil), s.Faults...),
		probability: s.Probability,
		seed:        s.Seed,
		fault:       s.Fault,
		rng:         rand.New(rand.NewPCG(s.Seed, 0x66616b656c6c6d)), // "fakellm"
	}
}

// next returns the fault for the next provider request, if any.
func (s *scheduler) next() (Fault, bool) {
	if s == nil {
		return Fault{}, false
	}
	if len(s.pending) > 0 {
		f := s.pending[0]
		if f.Times > 0 {
			s.pending[0].Times--
			if s.pending[0].Times == 0 {
				s.pending = s.pending[1:]
			}
		}
		f.Times = 0
		return f, true
	}
	if s.fault == nil || s.probability <= 0 {
		return Fault{}, false
	}
	s.draws++
	if s.rng.Float64() < s.probability {
		f := *s.fault
		f.Times = 0
		return f, true
	}
	return Fault{}, false
}

// state returns what is left of the schedule, as GET /_fake/faults shows it.
func (s *scheduler) state() ScheduleState {
	if s == nil {
		return ScheduleState{Pending: []Fault{}}
	}
	st := ScheduleState{
		Pending:     append([]Fault{}, s.pending...),
		Probability: s.probability,
		Seed:        s.seed,
		Draws:       s.draws,
	}
	if s.fault != nil {
		f := *s.fault
		st.Fault = &f
	}
	return st
}

// ScheduleState is what is left of the installed Schedule.
type ScheduleState struct {
	// Pending are the listed faults not yet used up; Times is what remains.
	Pending     []Fault `json:"pending"`
	Probability float64 `json:"probability,omitempty"`
	Seed        uint64  `json:"seed,omitempty"`
	Fault       *Fault  `json:"fault,omitempty"`
	// Draws counts the random draws made so far.
	Draws int `json:"draws"`
}
