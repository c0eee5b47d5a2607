package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// --write-config writes a configuration the server accepts, with the chain
// length asked for; the aigw profile's names its backends.
func TestWriteConfig_WritesAConfigurationOfTheChainLengthAskedFor(t *testing.T) {
	t.Setenv("LOADGEN_PROVIDER_KEY", "sk-provider-key")
	dir := t.TempDir()
	for _, tc := range []struct {
		profile string
		check   func(t *testing.T, path string)
	}{
		{"llm-failover", func(t *testing.T, path string) {
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(cfg.Chains[0].Targets); n != 8 {
				t.Errorf("chain has %d targets, want 8", n)
			}
		}},
		{"aigw", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			if n := strings.Count(string(b), "- name: openai"); n != 8 {
				t.Errorf("%d backends, want 8:\n%s", n, b)
			}
		}},
	} {
		path := filepath.Join(dir, tc.profile+".yaml")
		var out, errs bytes.Buffer
		if code := run([]string{"-write-config", path, "-profile", tc.profile, "-targets", "8"}, &out, &errs); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.profile, code, errs.String())
		}
		tc.check(t, path)
	}
}

// Bad invocations fail with a message naming the problem.
func TestRun_BadInvocationsFailWithTheProblem(t *testing.T) {
	t.Setenv("LOADGEN_PROVIDER_KEY", "sk-provider-key")
	cfg := filepath.Join(t.TempDir(), "cfg.yaml")
	if code := run([]string{"-write-config", cfg}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatal("write-config failed")
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-config", cfg}, 2, "--addr is required"},
		{[]string{"-addr", "127.0.0.1:1", "-profile", "nginx"}, 2, `unknown --profile "nginx"`},
		{[]string{"-addr", "127.0.0.1:1"}, 2, "needs --config"},
		{[]string{"-addr", "127.0.0.1:1", "-config", cfg, "-model", "other"}, 1, `no chain serves model "other"`},
		{[]string{"-addr", "127.0.0.1:1", "-config", cfg}, 1, "no socket listening on 127.0.0.1:1"},
	} {
		var errs bytes.Buffer
		if code := run(tc.args, &bytes.Buffer{}, &errs); code != tc.code || !strings.Contains(errs.String(), tc.want) {
			t.Errorf("%q: exit %d %q, want %d and %q", tc.args, code, errs.String(), tc.code, tc.want)
		}
	}
}
