package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/llm-failover/llm-failover/admin"
	"github.com/llm-failover/llm-failover/config"
)

// printProblems writes every problem of a configuration file as
// "FILE:LINE:COL: PATH: REASON" (the form editors and CI annotate), one a
// line, on w.
func printProblems(w io.Writer, file string, err error) {
	for _, l := range problemLines(file, err) {
		fmt.Fprintln(w, l)
	}
}

// problemLines is every problem of err as "FILE:LINE:COL: PATH: REASON"
// (FILE: REASON for one without a position).
func problemLines(file string, err error) []string {
	var out []string
	for _, e := range unjoin(err) {
		var fe *config.FieldError
		if errors.As(e, &fe) && fe.Line > 0 {
			out = append(out, fmt.Sprintf("%s:%v", file, fe))
			continue
		}
		out = append(out, fmt.Sprintf("%s: %v", file, e))
	}
	return out
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

// strictProblems is what check-config --strict adds: every secret and
// file the server reads at start must be readable now: each provider key
// the server holds (auth.key_env, auth.key_file; non-empty), the plan key
// (server.plan_key_file), the admin token (admin.token_file or
// admin.token_env; at least 16 bytes when set) and the TLS certificates,
// keys and CAs of server.tls and admin.tls. No secret is ever printed.
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
	if _, err := c.Server.ReadPlanKey(); err != nil {
		errs = append(errs, err)
	}
	if _, err := admin.NewAuthorizer(c.Admin, nil); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, tlsFileProblems("server.tls", c.Server.TLS)...)
	return append(errs, tlsFileProblems("admin.tls", c.Admin.TLS)...)
}

// warnSecrets notes on w, without failing, what --strict would refuse: a
// file can be valid on a machine that lacks the keys it names.
func warnSecrets(w io.Writer, file string, c *config.Config) {
	for _, e := range strictProblems(c) {
		fmt.Fprintf(w, "%s: warning: %v (check-config --strict refuses this)\n", file, e)
	}
}

// tlsFileProblems checks t's certificate and key make a pair and its
// client CA bundle holds a certificate.
func tlsFileProblems(path string, t *config.ServerTLS) []error {
	if t == nil {
		return nil
	}
	var errs []error
	if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
		errs = append(errs, fmt.Errorf("%s.cert_file, %s.key_file: %w", path, path, err))
	}
	if t.ClientCAFile != "" {
		b, err := os.ReadFile(t.ClientCAFile)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
			err = fmt.Errorf("no PEM certificate in %s", t.ClientCAFile)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.client_ca_file: %w", path, err))
		}
	}
	return errs
}
