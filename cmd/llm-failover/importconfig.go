package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
)

// importConfig converts a file in the product brief's shape (fallback:
// chains: ..., docs/import.md) into llm-failover's own, with every default
// shown, on stdout or --out; the notes say what each brief setting became.
// A file already in our shape is refused (check-config prints it).
func importConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-config", flag.ContinueOnError)
	path := fs.String("config", "", "the brief-shaped file (or FILE as the argument)")
	out := fs.String("out", "", "write the converted configuration here instead of standard output")
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		fmt.Fprint(stderr, "usage: llm-failover import-config FILE [--out FILE]\n")
		return 2
	}
	b, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if !config.IsBrief(b) {
		fmt.Fprintf(stderr, "%s: not in the brief's shape (no top-level fallback: key); check-config prints a configuration in llm-failover's own shape\n", *path)
		return 1
	}
	conv, notes, err := config.ConvertBrief(b)
	var c *config.Config
	if err == nil {
		c, err = config.Parse(conv)
	}
	if err != nil {
		printProblems(stderr, *path, err)
		fmt.Fprintf(stderr, "%s: cannot import: %d problem(s)\n", *path, len(unjoin(err)))
		return 1
	}
	j, _ := json.Marshal(c)
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Imported from %s (the brief's shape) by llm-failover import-config,\n# every default shown (docs/import.md). What the brief's settings became:\n", *path)
	for _, n := range notes {
		fmt.Fprintf(&buf, "#   - %s\n", n)
	}
	buf.Write(y)
	return writeOutput(*out, buf.Bytes(), stdout, stderr)
}
