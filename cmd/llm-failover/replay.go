package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	evPath := fs.String("events", "", "the audit file recorded with audit.attempts: true (required)")
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
	if *cand == "" || *evPath == "" {
		return fail("--config and --events are required")
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	if *format != "text" && *format != "json" && *format != "html" {
		return fail("--format %q: want text, json or html", *format)
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
	f, err := os.Open(*evPath)
	if err != nil {
		return fail("%v", err)
	}
	rec, err := replay.Read(f)
	f.Close()
	if err != nil {
		return fail("%s: %v", *evPath, err)
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
