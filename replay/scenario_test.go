package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fakellm"
)

// TestScenarios_GiveTheirExpectedReports replays each incident of the
// library (incidents/*.yaml) under incidents/candidate.yaml against the
// recording without breakers: the text and JSON reports are pinned by
// golden files (testdata/incidents/), and each incident makes the
// candidate open p/m's breaker and spend fewer attempts on it than the
// recording did.
func TestScenarios_GiveTheirExpectedReports(t *testing.T) {
	cand, err := config.Load(filepath.Join("incidents", "candidate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("incidents", "*.yaml"))
	if len(files) < 7 {
		t.Fatalf("incidents/: %d files, want the candidate and 6 incidents", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		if name == "candidate" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			sc, err := LoadScenario(path)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := FromEvents(sc.Expand())
			if err != nil {
				t.Fatal(err)
			}
			rep := Compare(rec, nil, cand, [2]string{"", "candidate.yaml"}, Options{})
			b, c := rep.Baseline, rep.Candidate
			if pb, pc := attemptsOn(b, "p/m"), attemptsOn(c, "p/m"); c.Flaps < 1 || pc >= pb {
				t.Errorf("candidate: %d flaps, %d attempts on p/m (recording %d); want p/m's breaker to open and fewer attempts on it", c.Flaps, pc, pb)
			}
			var text, js bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("incidents", name+".txt"), text.Bytes())
			golden(t, filepath.Join("incidents", name+".json"), js.Bytes())
		})
	}
}

// TestScenarios_SchedulesPlayInFakellm verifies that each incident's
// fakellm schedules are accepted by fakellm and give the target as many
// requests as the expansion sends it, with the same number of faults.
func TestScenarios_SchedulesPlayInFakellm(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("incidents", "*.yaml"))
	for _, path := range files {
		if filepath.Base(path) == "candidate.yaml" {
			continue
		}
		sc, err := LoadScenario(path)
		if err != nil {
			t.Fatal(err)
		}
		sent, failed := map[string]int{}, map[string]int{}
		for _, e := range sc.Expand() {
			sent[e.From.String()]++
			if e.Reason != "success" || e.TTFBMS != sc.TTFB.D().Milliseconds() {
				failed[e.From.String()]++
			}
		}
		for target, s := range sc.Schedules() {
			b, _ := json.Marshal(s)
			if _, err := fakellm.ParseSchedule(b); err != nil {
				t.Errorf("%s %s: fakellm refuses the schedule: %v", path, target, err)
			}
			total, faults := 0, 0
			for _, f := range s.Faults {
				total += f.Times
				if f.Kind != fakellm.KindAnswer {
					faults += f.Times
				}
			}
			if total != sent[target] || faults != failed[target] {
				t.Errorf("%s %s: schedule covers %d requests with %d faults, the expansion sends %d with %d", path, target, total, faults, sent[target], failed[target])
			}
		}
	}
}

// TestParseScenario_ReportsEveryProblem verifies that a bad incident file
// names each problem with its field, and that unknown fields are refused.
func TestParseScenario_ReportsEveryProblem(t *testing.T) {
	_, err := ParseScenario([]byte(`
duration: 0s
rate: 5000
targets: [p/m]
faults: [{target: x/y, from: 2m, to: 1m, status: 200, every: -1}]
`))
	for _, want := range []string{"name: required", "duration", "rate", "model: required", "faults[0].target", "faults[0].from/to", "faults[0].every", "faults[0].status"} {
		if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want it to name %q", err, want)
		}
	}
	if _, err := ParseScenario([]byte("name: x\nduraton: 1m\n")); err == nil || !strings.Contains(err.Error(), "duraton") {
		t.Errorf("unknown field: error %v, want it named", err)
	}
}

// attemptsOn is the run's attempts on target.
func attemptsOn(r *Run, target string) int {
	n := 0
	for _, b := range r.Timeline {
		n += b.Attempts[target]
	}
	return n
}
