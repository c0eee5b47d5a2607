package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestHelp verifies help, help COMMAND and COMMAND --help print on stdout
// and exit 0, and an unknown command or flag exits 2 on stderr.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stdout   string // a line the output must contain
		inStderr string
	}{
		{"help", []string{"help"}, 0, "llm-failover check-config", ""},
		{"--help", []string{"--help"}, 0, "llm-failover demo", ""},
		{"-h", []string{"-h"}, 0, "llm-failover version", ""},
		{"help serve", []string{"help", "serve"}, 0, "-log-level", ""},
		{"serve --help", []string{"serve", "--help"}, 0, "-config", ""},
		{"check-config -h", []string{"check-config", "-h"}, 0, "-strict", ""},
		{"help envoy-config", []string{"help", "envoy-config"}, 0, "-envoy-version", ""},
		{"help status", []string{"help", "status"}, 0, "-admin", ""},
		{"help istio-config", []string{"help", "istio-config"}, 0, "-istio-version", ""},
		{"help demo", []string{"help", "demo"}, 0, "Ctrl-C", ""},
		{"help hash-key", []string{"help", "hash-key"}, 0, "stdin", ""},
		{"help version", []string{"help", "version"}, 0, "commit", ""},
		{"help unknown", []string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{"bad flag", []string{"serve", "--nope"}, 2, "", "llm-failover help serve"},
		{"unknown command", []string{"nope"}, 2, "", `unknown command "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, out.String())
			}
			if !strings.Contains(errb.String(), tc.inStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.inStderr, errb.String())
			}
			if tc.code == 0 && errb.Len() > 0 {
				t.Errorf("stderr not empty on success: %q", errb.String())
			}
		})
	}
}

// TestHelp_EveryCommandHasHelp verifies every command the dispatcher knows
// has its help text, and help COMMAND works for each.
func TestHelp_EveryCommandHasHelp(t *testing.T) {
	for name := range commandHelp {
		var out, errb bytes.Buffer
		if code := run([]string{"help", name}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "usage: llm-failover "+name) {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q", name, code, out.String(), errb.String())
		}
	}
}

// TestVersion verifies version prints the module version and the VCS
// commit of the build information, and "unknown" when the build has none.
func TestVersion(t *testing.T) {
	defer func(f func() (*debug.BuildInfo, bool)) { buildInfo = f }(buildInfo)
	buildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got, want := out.String(), "llm-failover v1.2.3 (commit abc123+dirty, 2026-11-30T10:00:00Z, go1.26.8)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	buildInfo = func() (*debug.BuildInfo, bool) { return nil, false }
	out.Reset()
	run([]string{"--version"}, &out, &errb)
	if got, want := out.String(), "llm-failover unknown (commit unknown, unknown)\n"; got != want {
		t.Errorf("no build info: got %q, want %q", got, want)
	}
}

// TestCheckConfig_LinesAndStrict verifies check-config names each problem
// as FILE:LINE:COL: PATH, and --strict refuses a key variable that is unset
// or empty while plain check-config accepts it.
func TestCheckConfig_LinesAndStrict(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("providers:\n  - {name: a, api: openai, host: h, prot: 1}\nchains: [{name: c, targets: [{provider: b, model: m}]}]\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", bad}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{bad + `:2:37: providers[0].prot: unknown field; did you mean "port"?`, bad + `:3:41: chains[0].targets[0].provider: "b" is not a configured provider`, "2 problem(s)"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("providers:\n  - {name: a, api: openai, host: h, auth: {key_env: LLMF_TEST_UNSET_KEY}}\n  - {name: b, api: openai, host: h, auth: {key_file: "+filepath.Join(dir, "empty.key")+"}}\nchains: [{name: c, targets: [{provider: a, model: m}, {provider: b, model: m}]}]\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty.key"), []byte(" \n"), 0o600)
	out.Reset()
	errb.Reset()
	if code := run([]string{"check-config", good}, &out, &errb); code != 0 {
		t.Fatalf("without --strict: exit %d: %s", code, errb.String())
	}
	if want := good + ": warning: providers[0].auth.key_env: environment variable LLMF_TEST_UNSET_KEY is not set"; !strings.Contains(errb.String(), want) {
		t.Errorf("without --strict, stderr lacks the warning %q:\n%s", want, errb.String())
	}
	errb.Reset()
	if code := run([]string{"check-config", "--strict", good}, &out, &errb); code != 1 {
		t.Fatalf("--strict: exit %d, want 1", code)
	}
	for _, want := range []string{"providers[0].auth.key_env: environment variable LLMF_TEST_UNSET_KEY is not set", "providers[1].auth.key_file: key file " + filepath.Join(dir, "empty.key") + " is empty"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--strict stderr lacks %q:\n%s", want, errb.String())
		}
	}
	tlsCfg := filepath.Join(dir, "tls.yaml")
	os.WriteFile(tlsCfg, []byte("providers: [{name: a, api: openai, host: h}]\nchains: [{name: c, targets: [{provider: a, model: m}]}]\n"+
		"server: {plan_key_file: "+filepath.Join(dir, "short.key")+", tls: {cert_file: "+filepath.Join(dir, "none.pem")+", key_file: "+filepath.Join(dir, "none.key")+"}}\n"+
		"admin: {token_file: "+filepath.Join(dir, "short.key")+"}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "short.key"), []byte("short\n"), 0o600)
	errb.Reset()
	if code := run([]string{"check-config", "--strict", tlsCfg}, &out, &errb); code != 1 {
		t.Fatalf("--strict with bad files: exit %d, want 1: %s", code, errb.String())
	}
	for _, want := range []string{"server.plan_key_file " + filepath.Join(dir, "short.key") + ": 5 bytes", "admin.token_file", "server.tls.cert_file, server.tls.key_file: open " + filepath.Join(dir, "none.pem")} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--strict stderr lacks %q:\n%s", want, errb.String())
		}
	}
	t.Setenv("LLMF_TEST_UNSET_KEY", "sk-secret-value")
	os.WriteFile(filepath.Join(dir, "empty.key"), []byte("sk-file-secret\n"), 0o600)
	errb.Reset()
	if code := run([]string{"check-config", "--strict", good}, &out, &errb); code != 0 {
		t.Fatalf("--strict with keys: exit %d: %s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), "sk-secret-value") || strings.Contains(out.String()+errb.String(), "sk-file-secret") {
		t.Error("a key was printed")
	}
}

// TestEveryCommandNamesTheLineOfAProblem verifies the commands that read a
// configuration (check-config, envoy-config, istio-config, serve's log)
// report a problem as FILE:LINE:COL: PATH.
func TestEveryCommandNamesTheLineOfAProblem(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("providers:\n  - {name: a, api: openai, host: h, prot: 1}\nchains: [{name: c, targets: [{provider: a, model: m}]}]\n"), 0o600)
	want := bad + `:2:37: providers[0].prot: unknown field; did you mean \"port\"?`
	for _, args := range [][]string{
		{"check-config", bad},
		{"envoy-config", "--config", bad},
		{"istio-config", "--config", bad, "--istio-version", "1.31", "--host", "llm.example.com"},
		{"serve", "--config", bad},
	} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 1 {
			t.Errorf("%v: exit %d, want 1: %s", args, code, errb.String())
		}
		if got := strings.ReplaceAll(errb.String(), `\"`, `"`); !strings.Contains(got, strings.ReplaceAll(want, `\"`, `"`)) {
			t.Errorf("%v: stderr lacks %s:\n%s", args, want, errb.String())
		}
	}
}
