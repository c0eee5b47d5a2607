package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
)

// replayFiles writes a candidate config (breakers open after 3
// consecutive failures) and an audit file of 10 requests a second apart
// whose primary failed with 503 for the first 6, each then answered by the
// secondary.
func replayFiles(t *testing.T) (cfg, audit string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "candidate.yaml")
	if err := os.WriteFile(cfg, []byte(`
providers: [{name: p, api: openai, host: localhost, tls: false}, {name: q, api: openai, host: localhost, tls: false}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}, {provider: q, model: m}]}]
breaker: {consecutive_failures: 3, open_for: 30s, jitter: 0}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := uint64(0)
	add := func(e events.Event) {
		seq++
		e.V, e.Seq, e.Kind, e.Chain, e.Model = events.Version, seq, events.KindAttempt, "c", "m"
		line, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
	}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("r%d", i)
		n := 1
		if i < 6 {
			add(events.Event{Time: at.Add(100 * time.Millisecond), SentAt: at, RequestID: id, From: events.Target{Provider: "p", Model: "m"},
				Attempt: 1, Reason: "overloaded", Outcome: "failure", Status: 503, TTFBMS: 100})
			at, n = at.Add(100*time.Millisecond), 2
		}
		add(events.Event{Time: at.Add(200 * time.Millisecond), SentAt: at, RequestID: id, From: events.Target{Provider: "q", Model: "m"},
			Attempt: n, Reason: "success", Outcome: "success", Status: 200, TTFBMS: 200, InputTokens: 10, OutputTokens: 5})
	}
	audit = filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(audit, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, audit
}

// TestReplayCmd_ExitCodeFollowsFailIf verifies the CI gate: exit 0 and a
// side-by-side table when no criterion holds, exit 1 and the criterion on
// stderr when one does, exit 2 for a criterion it cannot parse.
func TestReplayCmd_ExitCodeFollowsFailIf(t *testing.T) {
	cfg, audit := replayFiles(t)
	for _, tc := range []struct {
		name   string
		failIf []string
		code   int
		stderr string
	}{
		{"nothing holds", []string{"answered<99.9%", "p95_added_ttfb>1s"}, 0, ""},
		{"candidate flaps more", []string{"answered<99.9%", "flaps>baseline"}, 1, "FAIL flaps>baseline: the candidate has 1 (limit 0)"},
		{"typo", []string{"answerd<99%"}, 2, "unknown metric"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"replay", "--config", cfg, "--events", audit}
			for _, f := range tc.failIf {
				args = append(args, "--fail-if", f)
			}
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
			if tc.code != 2 && !strings.Contains(stdout.String(), "baseline (recorded)") {
				t.Errorf("stdout has no side-by-side table:\n%s", stdout.String())
			}
		})
	}
}

// TestReplayCmd_JSONReport verifies --format json: the recorded baseline
// and the candidate, whose breaker opens on the third failure and sends
// the next requests straight to the secondary.
func TestReplayCmd_JSONReport(t *testing.T) {
	cfg, audit := replayFiles(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"replay", "--config", cfg, "--events", audit, "--format", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Baseline, Candidate struct {
			Requests, Answered, Attempts, FailedAttempts, Flaps int
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	b, c := rep.Baseline, rep.Candidate
	if b.Requests != 10 || b.Answered != 10 || b.Attempts != 16 || b.Flaps != 0 {
		t.Errorf("baseline %+v, want 10 requests answered in 16 attempts, no flap", b)
	}
	if c.Requests != 10 || c.Answered != 10 || c.Attempts != 13 || c.Flaps != 1 {
		t.Errorf("candidate %+v, want 10 requests answered in 13 attempts (3 on the primary before it opens), 1 flap", c)
	}
}

// TestReplayCmd_ScenarioAndItsSchedules verifies --scenario with
// --write-schedules: the outage of the library gives an HTML report and
// one fakellm schedule per target that fakellm accepts.
func TestReplayCmd_ScenarioAndItsSchedules(t *testing.T) {
	dir := t.TempDir()
	incidents := filepath.Join("..", "..", "replay", "incidents")
	var stdout, stderr bytes.Buffer
	code := run([]string{"replay", "--config", filepath.Join(incidents, "candidate.yaml"), "--scenario", filepath.Join(incidents, "outage.yaml"),
		"--write-schedules", dir, "--format", "html", "--out", filepath.Join(dir, "report.html")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.Contains(string(page), "<svg") {
		t.Errorf("report.html: %v, want an HTML page with SVG plots", err)
	}
	for _, name := range []string{"p_m.json", "q_m.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fakellm.ParseSchedule(b); err != nil {
			t.Errorf("%s: fakellm refuses it: %v", name, err)
		}
	}
	if code := run([]string{"replay", "--config", "x.yaml", "--events", "a", "--scenario", "b"}, &stdout, &stderr); code != 2 {
		t.Errorf("--events with --scenario: exit %d, want 2", code)
	}
}
