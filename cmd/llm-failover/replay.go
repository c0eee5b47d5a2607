package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/replay"
)

// replayCmd runs the replay lab (docs/replay.md): the recorded audit
// events replayed under a candidate configuration and a baseline, reported
// side by side. Exit 0, 1 when a --fail-if criterion holds, 2 on bad usage
// or input.
func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	cand := fs.String("config", "", "the candidate configuration (required)")
	evPath := fs.String("events", "", "the audit file recorded with audit.attempts: true (or --scenario)")
	scenario := fs.String("scenario", "", "an incident scenario file (replay/incidents/*.yaml) instead of --events")
	schedules := fs.String("write-schedules", "", "with --scenario: write each target's fakellm fault schedule to DIR/<provider>_<model>.json")
	base := fs.String("baseline", "", "the baseline configuration; default: the recording as it happened")
	format := fs.String("format", "text", "the report's format: text, json or html")
	out := fs.String("out", "", "write the report to this file instead of stdout")
	seed := fs.Uint64("seed", 1, "seed of the recovery-share admissions and cooldown jitter")
	var criteria []replay.Criterion
	fs.Func("fail-if", "exit 1 when this holds for the candidate, e.g. 'answered<99.9%', 'p95_added_ttfb>2s', 'flaps>baseline+2' (repeatable; docs/replay.md)", func(s string) error {
		c, err := replay.ParseCriterion(s)
		if err == nil {
			criteria = append(criteria, c)
		}
		return err
	})
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "llm-failover replay: "+format+"\n", a...)
		return 2
	}
	if (*evPath == "") == (*scenario == "") {
		return fail("want one of --events and --scenario")
	}
	if *schedules != "" && *scenario == "" {
		return fail("--write-schedules needs --scenario")
	}
	if *cand == "" && *schedules == "" {
		return fail("--config is required")
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	if *format != "text" && *format != "json" && *format != "html" {
		return fail("--format %q: want text, json or html", *format)
	}
	rec, code := readRecording(*evPath, *scenario, *schedules, stderr)
	if rec == nil || *cand == "" {
		return code
	}
	candidate, err := config.Load(*cand)
	if err != nil {
		printProblems(stderr, *cand, err)
		return 2
	}
	var baseline *config.Config
	if *base != "" {
		if baseline, err = config.Load(*base); err != nil {
			printProblems(stderr, *base, err)
			return 2
		}
	}
	rep := replay.Compare(rec, baseline, candidate, [2]string{filepath.Base(*base), filepath.Base(*cand)}, replay.Options{Seed: *seed})
	violations := rep.Gate(criteria)
	w := stdout
	if *out != "" {
		of, err := os.Create(*out)
		if err != nil {
			return fail("%v", err)
		}
		defer of.Close()
		w = of
	}
	switch *format {
	case "json":
		err = rep.WriteJSON(w)
	case "html":
		err = rep.WriteHTML(w)
	default:
		err = rep.WriteText(w)
	}
	if err != nil {
		return fail("writing the report: %v", err)
	}
	if len(violations) > 0 {
		for _, v := range violations {
			fmt.Fprintf(stderr, "llm-failover replay: FAIL %s\n", v)
		}
		return 1
	}
	return 0
}

// readRecording reads the audit file, or expands the scenario (writing its
// fakellm schedules to dir when set). A nil recording comes with the exit
// code (an error is printed).
func readRecording(events, scenario, dir string, stderr io.Writer) (*replay.Recording, int) {
	if scenario == "" {
		f, err := os.Open(events)
		if err != nil {
			fmt.Fprintf(stderr, "llm-failover replay: %v\n", err)
			return nil, 2
		}
		defer f.Close()
		rec, err := replay.Read(f)
		if err != nil {
			fmt.Fprintf(stderr, "llm-failover replay: %s: %v\n", events, err)
			return nil, 2
		}
		return rec, 0
	}
	sc, err := replay.LoadScenario(scenario)
	if err != nil {
		fmt.Fprintf(stderr, "llm-failover replay: %s: %v\n", scenario, err)
		return nil, 2
	}
	if dir != "" {
		if err := writeSchedules(sc, dir); err != nil {
			fmt.Fprintf(stderr, "llm-failover replay: %v\n", err)
			return nil, 2
		}
	}
	rec, err := replay.FromEvents(sc.Expand())
	if err != nil {
		fmt.Fprintf(stderr, "llm-failover replay: %s: %v\n", scenario, err)
		return nil, 2
	}
	return rec, 0
}

// writeSchedules writes each target's fakellm schedule as
// DIR/<provider>_<model>.json (POST it to fakellm's /_fake/faults).
func writeSchedules(sc *replay.Scenario, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for target, s := range sc.Schedules() {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		name := strings.NewReplacer("/", "_", string(filepath.Separator), "_").Replace(target) + ".json"
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}
