package replay

import (
	"github.com/llm-failover/llm-failover/config"
)

// Compare replays rec under the candidate configuration and the baseline
// (nil: the recording as it happened, Recorded) and reports both.
func Compare(rec *Recording, baseline, candidate *config.Config, names [2]string, o Options) *Report {
	from, to := rec.Bounds()
	r := &Report{From: from, To: to, Skipped: rec.Skipped}
	if baseline == nil {
		r.Baseline = Recorded(rec)
	} else {
		r.Baseline = Simulate(names[0], baseline, rec, o)
	}
	r.Candidate = Simulate(names[1], candidate, rec, o)
	return r
}
