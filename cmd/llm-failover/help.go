package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// commandHelp is the first line of each command's help: what it does. Its
// flags follow, printed by the command's own flag set, so the two cannot
// disagree.
var commandHelp = map[string]string{
	"serve":         "llm-failover serve --config FILE [--xds ADDR] [--log-level LEVEL] [--pprof]\n  Run the ext_proc server (the default command).",
	"check-config":  "llm-failover check-config [--strict] FILE   (or --config FILE)\n  Report every problem of FILE with its path and line:column, or print the\n  effective configuration. --strict also reads every secret and file the\n  server reads at start: provider keys (non-empty), the plan key, the admin\n  token and the TLS files.",
	"import-config": "llm-failover import-config FILE [--out FILE]\n  Convert a file in the product brief's shape (fallback: chains: [...]) into\n  llm-failover's own, every default shown, with notes on what each brief\n  setting became (docs/import.md). check-config and serve read such a file as it is.",
	"envoy-config":  "llm-failover envoy-config --config FILE [--envoy-version V] [--out envoy.yaml]\n  Generate the Envoy bootstrap (or --fragments, --xds-bootstrap,\n  --secret-template), or --check an envoy.yaml.",
	"hash-key":      "llm-failover hash-key < KEY\n  Print sha256:<hex> of the client API key read on stdin (clients.list[].api_keys).\n  It takes no flags: a key on the command line is visible to other users.",
	"istio-config":  "llm-failover istio-config --config FILE --istio-version V --host NAME\n  Write the Istio objects (docs/istio.md).",
	"status":        "llm-failover status [--admin ADDR]\n  Chains, targets in order, breaker state and why (admin API).",
	"events":        "llm-failover events [--follow]\n  The recent audit events; --follow streams new ones.",
	"explain":       "llm-failover explain --model M\n  The plan a request for M would get now, and why.",
	"replay":        "llm-failover replay --config CANDIDATE --events AUDIT.jsonl [--baseline CURRENT] [--fail-if CRITERION]...\n  Replay recorded traffic (audit.attempts) under a candidate configuration\n  and a baseline with the real routing and breakers on a virtual clock, and\n  report both side by side (docs/replay.md).",
	"trip":          "llm-failover trip [--for D] PROVIDER/MODEL\n  Open a target's breaker (admin token or mTLS identity).",
	"reset":         "llm-failover reset PROVIDER/MODEL\n  Close a target's breaker (admin token or mTLS identity).",
	"demo":          "llm-failover demo [--envoy-version V]\n  Start two fake providers, the server and the Envoy model front door on\n  free loopback ports, print the URLs and the commands to try, and stop\n  everything on Ctrl-C.",
	"version":       "llm-failover version\n  Print the module version and the VCS commit the binary was built from.",
	"help":          "llm-failover help [COMMAND]\n  Print the commands, or one command's help and flags.",
}

// helpCmd prints the usage (no argument) or one command's help with its
// flags, on stdout, and exits 0; an unknown command exits 2.
func helpCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if len(args) > 1 {
		fmt.Fprintf(stderr, "llm-failover help: want one command, got %q\n", args)
		return 2
	}
	h, ok := commandHelp[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "llm-failover help: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch args[0] {
	case "hash-key", "version", "help":
		fmt.Fprintf(stdout, "usage: %s\n", h)
		return 0
	}
	// The command prints its help and flags for --help (parseFlags).
	return run([]string{args[0], "--help"}, stdout, stderr)
}

// parseFlags parses args into fs the same way for every command: -h or
// --help prints the command's help and flags on stdout (done, exit 0); a bad
// flag prints the error and where to read the usage on stderr (done, exit
// 2).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, done bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		if h, ok := commandHelp[fs.Name()]; ok {
			fmt.Fprintf(stdout, "usage: %s\n\nflags:\n", h)
		}
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
		return 0, true
	}
	fs.SetOutput(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "llm-failover %s: %v\nrun 'llm-failover help %s' for its usage\n", fs.Name(), err, fs.Name())
		return 2, true
	}
	return 0, false
}

// buildInfo is debug.ReadBuildInfo, replaced in tests.
var buildInfo = debug.ReadBuildInfo

// versionCmd prints the module version and the VCS revision (with "+dirty"
// for a modified tree) from the build information Go embeds in the binary.
func versionCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "llm-failover version: takes no arguments, got %q\n", args)
		return 2
	}
	fmt.Fprintln(stdout, versionLine())
	return 0
}

// versionLine is "llm-failover VERSION (commit C, TIME, GO)", with
// "unknown" for what the build did not record.
func versionLine() string {
	version, commit, when, goVersion := "unknown", "unknown", "", "unknown"
	if bi, ok := buildInfo(); ok {
		goVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			version = v
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty {
			commit += "+dirty"
		}
	}
	parts := []string{"commit " + commit}
	if when != "" {
		parts = append(parts, when)
	}
	parts = append(parts, goVersion)
	return fmt.Sprintf("llm-failover %s (%s)", version, strings.Join(parts, ", "))
}
