package replay

import (
	"slices"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/provider"
)

// tally accumulates a Run from attempts, request ends and transitions, fed
// in time order (by the simulation, or straight from the recording).
type tally struct {
	run       *Run
	from      time.Time
	width     time.Duration
	failSince map[string]time.Time // per target: first failure since its last success
	open      map[string]int       // per target: index of its incident not yet closed
}

// timelineBuckets is the number of Timeline buckets of a Run.
const timelineBuckets = 60

func newTally(name string, from, to time.Time) *tally {
	width := to.Sub(from)/timelineBuckets + time.Millisecond
	r := &Run{Name: name, Failed: map[string]int{}, Assumed: map[string]Assumed{}, Timeline: make([]Bucket, timelineBuckets)}
	for i := range r.Timeline {
		r.Timeline[i] = Bucket{Start: from.Add(time.Duration(i) * width), Attempts: map[string]int{}}
	}
	return &tally{run: r, from: from, width: width, failSince: map[string]time.Time{}, open: map[string]int{}}
}

// bucket is the timeline bucket of t.
func (t *tally) bucket(at time.Time) *Bucket {
	i := int(at.Sub(t.from) / t.width)
	return &t.run.Timeline[min(max(i, 0), len(t.run.Timeline)-1)]
}

// attempt counts one attempt sent at sent with its outcome, recorded at.
func (t *tally) attempt(target string, sent, at time.Time, cls provider.Class, o breaker.Outcome) {
	t.run.Attempts++
	t.bucket(sent).Attempts[target]++
	if cls.FailsOver() {
		t.run.FailedAttempts++
	}
	switch o.Kind {
	case breaker.Success:
		delete(t.failSince, target)
	case breaker.Failure, breaker.RateLimited, breaker.AuthFailure, breaker.QuotaExhausted:
		if _, ok := t.failSince[target]; !ok {
			t.failSince[target] = at
		}
	}
}

// assumed counts an assumed outcome of target.
func (t *tally) assumed(target string, nearest bool) {
	a := t.run.Assumed[target]
	if nearest {
		a.Nearest++
	} else {
		a.Unrecorded++
	}
	t.run.Assumed[target] = a
}

// request counts one request's end: answered (with the TTFB its failovers
// added), returned, or failed for reason.
func (t *tally) request(start time.Time, result string, added time.Duration, in, out int64) {
	t.run.Requests++
	switch result {
	case resultAnswered:
		t.run.Answered++
		ms := int32(min(added.Milliseconds(), 1<<31-1))
		t.run.added = append(t.run.added, ms)
		b := t.bucket(start)
		b.added = append(b.added, ms)
		t.run.InputTokens += in
		t.run.OutputTokens += out
	case resultReturned:
		t.run.Returned++
	default:
		t.run.Failed[result]++
	}
}

// Results of a request other than a failure reason.
const (
	resultAnswered = "answered"
	resultReturned = "returned"
)

// transition counts a breaker transition.
func (t *tally) transition(tr Transition) {
	t.run.Transitions = append(t.run.Transitions, tr)
	switch tr.To {
	case breaker.Open.String():
		if _, ongoing := t.open[tr.Target]; ongoing {
			return // reopened after a failed probe: the same incident
		}
		t.run.Flaps++
		start, ok := t.failSince[tr.Target]
		if !ok || start.After(tr.At) {
			start = tr.At
		}
		t.open[tr.Target] = len(t.run.Incidents)
		t.run.Incidents = append(t.run.Incidents, Incident{Target: tr.Target, Start: start, Left: tr.At,
			LeftAfterMS: tr.At.Sub(start).Milliseconds()})
	case breaker.Closed.String():
		if i, ok := t.open[tr.Target]; ok {
			in := &t.run.Incidents[i]
			in.Back, in.BackAfterMS = tr.At, tr.At.Sub(in.Start).Milliseconds()
			delete(t.open, tr.Target)
		}
	}
}

// done computes the percentiles and returns the Run.
func (t *tally) done() *Run {
	r := t.run
	r.AddedTTFB = percentiles(r.added)
	for i := range r.Timeline {
		r.Timeline[i].AddedP95MS = percentiles(r.Timeline[i].added).P95
		r.Timeline[i].added = nil
	}
	r.added = nil
	return r
}

// percentiles of ms (sorted in place).
func percentiles(ms []int32) Percentiles {
	if len(ms) == 0 {
		return Percentiles{}
	}
	slices.Sort(ms)
	at := func(q float64) int64 { return int64(ms[min(int(q*float64(len(ms))), len(ms)-1)]) }
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: int64(ms[len(ms)-1])}
}
