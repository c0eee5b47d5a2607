package breaker

import (
	"strings"
	"testing"
	"time"
)

// qualitySettings opens on half of 4 answers failing quality in a minute.
func qualitySettings() Settings {
	return Settings{Quality: Quality{Threshold: 0.5, Window: time.Minute, MinRequests: 4}, OpenFor: 10 * time.Second}
}

// TestBreaker_QualityWindowOpens verifies that quality failures open a
// closed breaker once their share of answers in the window reaches the
// threshold, with reason "quality", and not before MinRequests answers.
func TestBreaker_QualityWindowOpens(t *testing.T) {
	b := New("t", qualitySettings())
	now := at(0)
	b.Record(now, Outcome{Kind: Success})
	b.Record(now, Outcome{Kind: QualityFailure})
	b.Record(now, Outcome{Kind: QualityFailure})
	if sn := b.Snapshot(now); sn.State != Closed || sn.Answers != 3 || sn.QualityFailures != 2 {
		t.Fatalf("after 3 answers: state %v, window %d/%d; want closed, 2/3", sn.State, sn.QualityFailures, sn.Answers)
	}
	b.Record(now, Outcome{Kind: QualityFailure})
	sn := b.Snapshot(now)
	if sn.State != Open || sn.Opened.Reason != ReasonQuality || sn.Opened.Failures != 3 {
		t.Fatalf("after 3 of 4 failing: state %v reason %q failures %d; want open, %q, 3", sn.State, sn.Opened.Reason, sn.Opened.Failures, ReasonQuality)
	}
}

// TestBreaker_QualityFailureIsNotAnError verifies that quality failures
// never count towards consecutive failures or the error rate, and that
// with the quality trigger off they change nothing.
func TestBreaker_QualityFailureIsNotAnError(t *testing.T) {
	b := New("t", Settings{ConsecutiveFailures: 2, ErrorRate: ErrorRate{Threshold: 0.1, Window: time.Minute, MinRequests: 1}})
	for i := range 10 {
		b.Record(at(time.Duration(i)*time.Second), Outcome{Kind: QualityFailure})
	}
	sn := b.Snapshot(at(10 * time.Second))
	if sn.State != Closed || sn.ConsecutiveFailures != 0 || sn.Failures != 0 {
		t.Errorf("after 10 quality failures: state %v, consecutive %d, error-rate failures %d; want closed, 0, 0", sn.State, sn.ConsecutiveFailures, sn.Failures)
	}
}

// TestBreaker_QualityWindowSlides verifies that failures older than the
// window leave it, so old bad answers do not open the breaker.
func TestBreaker_QualityWindowSlides(t *testing.T) {
	b := New("t", qualitySettings())
	for range 3 {
		b.Record(at(0), Outcome{Kind: QualityFailure})
	}
	now := at(2 * time.Minute)
	for range 3 {
		b.Record(now, Outcome{Kind: Success})
	}
	b.Record(now, Outcome{Kind: QualityFailure})
	if sn := b.Snapshot(now); sn.State != Closed || sn.Answers != 4 || sn.QualityFailures != 1 {
		t.Errorf("state %v, window %d/%d; want closed, 1/4", sn.State, sn.QualityFailures, sn.Answers)
	}
}

// TestBreaker_QualityInRecoveryAndProbes verifies that a half-open probe
// answered badly fails, and that a recovering breaker reopens through its
// quality window.
func TestBreaker_QualityInRecoveryAndProbes(t *testing.T) {
	b := New("t", qualitySettings())
	b.Record(at(0), Outcome{Kind: AuthFailure})
	now := at(11 * time.Minute)
	if got := b.Allow(now, 0); got != Probe {
		t.Fatalf("Allow = %v, want probe", got)
	}
	b.Record(now, Outcome{Kind: QualityFailure})
	if sn := b.Snapshot(now); sn.State != Open || sn.Opened.Reason != ReasonProbeFailed {
		t.Fatalf("probe answered badly: state %v reason %q; want open, %q", sn.State, sn.Opened.Reason, ReasonProbeFailed)
	}
	now = now.Add(time.Hour)
	recoverAt(t, b, now)
	for _, k := range []Kind{Success, QualityFailure, Success, QualityFailure} {
		b.Record(now, Outcome{Kind: k})
	}
	if sn := b.Snapshot(now); sn.State != Open || sn.Opened.Reason != ReasonQuality {
		t.Errorf("recovering with half the answers bad: state %v reason %q; want open, %q", sn.State, sn.Opened.Reason, ReasonQuality)
	}
}

// TestSettings_QualityValidate verifies that an out-of-range quality
// setting is reported with its path.
func TestSettings_QualityValidate(t *testing.T) {
	err := Settings{Quality: Quality{Threshold: 1.5, Window: -1, MinRequests: -1}}.Validate()
	for _, want := range []string{"Quality.Threshold", "Quality.Window", "Quality.MinRequests"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want a problem at %s", err, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
