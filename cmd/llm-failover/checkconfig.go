package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/llm-failover/llm-failover/config"
)

// printProblems writes every problem of a configuration file as
// "FILE:LINE:COL: PATH: REASON" (the form editors and CI annotate), one a
// line, on w.
func printProblems(w io.Writer, file string, err error) {
	for _, e := range unjoin(err) {
		var fe *config.FieldError
		if errors.As(e, &fe) && fe.Line > 0 {
			fmt.Fprintf(w, "%s:%v\n", file, fe)
			continue
		}
		fmt.Fprintf(w, "%s: %v\n", file, e)
	}
}

// unjoin splits an errors.Join result.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// strictProblems is what check-config --strict adds: every provider key
// the server reads (auth.key_env, auth.key_file) must be readable and
// non-empty now. The key itself is never printed.
func strictProblems(c *config.Config) []error {
	var errs []error
	for i, p := range c.Providers {
		if _, err := p.Auth.ReadKey(); err != nil {
			field := "key_env"
			if p.Auth.KeyFile != "" {
				field = "key_file"
			}
			errs = append(errs, fmt.Errorf("providers[%d].auth.%s: %w (provider %q)", i, field, err, p.Name))
		}
	}
	return errs
}
