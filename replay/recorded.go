package replay

import (
	"cmp"
	"slices"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/provider"
)

// Recorded is the recording's own figures, as it happened: the baseline
// when no baseline configuration is given. A request's result is its last
// attempt's.
func Recorded(rec *Recording) *Run {
	from, to := rec.Bounds()
	t := newTally("recorded", from, to)
	type item struct {
		a   Attempt
		req *Request // set on a request's last attempt
		tr  *Transition
	}
	var items []item
	for i := range rec.Requests {
		r := &rec.Requests[i]
		for j, a := range r.Attempts {
			it := item{a: a}
			if j == len(r.Attempts)-1 {
				it.req = r
			}
			items = append(items, it)
		}
	}
	for _, a := range rec.Standalone {
		items = append(items, item{a: a})
	}
	for _, e := range rec.Transitions {
		tr := Transition{At: e.Time, Target: e.From.String(), From: e.BreakerFrom, To: e.BreakerTo, Reason: e.Reason}
		items = append(items, item{a: Attempt{At: e.Time, Seq: e.Seq}, tr: &tr})
	}
	slices.SortStableFunc(items, func(x, y item) int { return cmp.Or(x.a.At.Compare(y.a.At), cmp.Compare(x.a.Seq, y.a.Seq)) })
	for _, it := range items {
		if it.tr != nil {
			t.transition(*it.tr)
			continue
		}
		if !it.a.Outcome.Probe {
			t.attempt(it.a.Target, it.a.SentAt, it.a.At, it.a.Class, it.a.Outcome)
		}
		if r := it.req; r != nil {
			last := r.Attempts[len(r.Attempts)-1]
			switch {
			case last.Class == provider.ClassSuccess:
				t.request(r.Start(), resultAnswered, last.SentAt.Sub(r.Start()), last.InputTokens, last.OutputTokens)
			case last.Class.FailsOver() || last.Class == provider.ClassContextLength && len(r.Attempts) > 1:
				t.request(r.Start(), last.Class.String(), 0, 0, 0)
			case last.Outcome.Kind == breaker.Neutral || !last.Class.FailsOver():
				t.request(r.Start(), resultReturned, 0, 0, 0)
			}
		}
	}
	for range rec.Denied {
		t.request(from, "all_targets_open", 0, 0, 0)
	}
	return t.done()
}
