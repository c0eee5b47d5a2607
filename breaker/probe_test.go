package breaker

import (
	"testing"
	"time"
)

// TestBreaker_ActiveProbeFailuresOpenWithReasonProbe verifies that failed
// active probes open a closed breaker after ProbeFailures in a row, with
// reason "probe", that any success in between resets their count, and that
// a user's failures are not counted as probes.
func TestBreaker_ActiveProbeFailuresOpenWithReasonProbe(t *testing.T) {
	fail := Outcome{Kind: Failure, Probe: true, Status: 503}
	ok := Outcome{Kind: Success}
	okProbe := Outcome{Kind: Success, Probe: true}
	user := Outcome{Kind: Failure}
	neutral := Outcome{Kind: Neutral, Probe: true}
	tests := []struct {
		name       string
		probes     int // Settings.ProbeFailures (0: default)
		outcomes   []Outcome
		wantState  State
		wantReason string
	}{
		{"two failed probes open by default", 0, []Outcome{fail, fail}, Open, ReasonProbe},
		{"one failed probe is not enough by default", 0, []Outcome{fail}, Closed, ""},
		{"one failed probe opens with ProbeFailures 1", 1, []Outcome{fail}, Open, ReasonProbe},
		{"a user's success resets the count", 0, []Outcome{fail, ok, fail}, Closed, ""},
		{"a probe's success resets the count", 0, []Outcome{fail, okProbe, fail}, Closed, ""},
		{"a neutral probe neither counts nor resets", 0, []Outcome{fail, neutral, fail}, Open, ReasonProbe},
		{"user failures open on their own trigger", 5, []Outcome{user, user, user}, Open, ReasonConsecutiveFailures},
		{"probe failures also count as consecutive failures", 5, []Outcome{user, user, fail}, Open, ReasonConsecutiveFailures},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("p/m", Settings{ProbeFailures: tt.probes, ConsecutiveFailures: 3})
			for i, o := range tt.outcomes {
				b.Record(at(time.Duration(i)*time.Second), o)
			}
			sn := b.Snapshot(at(time.Duration(len(tt.outcomes)) * time.Second))
			if sn.State != tt.wantState || sn.Opened.Reason != tt.wantReason {
				t.Errorf("got state %v reason %q, want %v %q", sn.State, sn.Opened.Reason, tt.wantState, tt.wantReason)
			}
		})
	}
}

// TestBreaker_ProbeLatencyFeedsTheLatencyTrigger verifies that a
// successful probe's latency is a sample of the latency trigger.
func TestBreaker_ProbeLatencyFeedsTheLatencyTrigger(t *testing.T) {
	b := New("p/m", Settings{Latency: Latency{Threshold: time.Second, MinRequests: 2}})
	b.Record(at(0), Outcome{Kind: Success, Probe: true, Latency: 3 * time.Second})
	b.Record(at(time.Second), Outcome{Kind: Success, Probe: true, Latency: 3 * time.Second})
	if sn := b.Snapshot(at(2 * time.Second)); sn.State != Open || sn.Opened.Reason != ReasonLatency {
		t.Errorf("got state %v reason %q, want open %q", sn.State, sn.Opened.Reason, ReasonLatency)
	}
}
