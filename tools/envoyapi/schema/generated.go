package schema

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoregistry"
)

// cliDefault is the Envoy version envoy-config writes for without
// --envoy-version.
const cliDefault = "1.40"

// GeneratedConfigs are the llm-failover configs, relative to the repository
// root, whose generated envoy.yaml TestGeneratedConfig checks: the example
// and the one with several chains and routes.
var GeneratedConfigs = []string{"examples/config.yaml", "examples/compose-config.yaml", "envoy/testdata/mixed.config.yaml"}

// TestGeneratedConfig is the body of each tool module's CI test: it builds
// the main module's llm-failover from repo (the repository root), generates
// the envoy.yaml of each of GeneratedConfigs with --envoy-version version,
// and checks it with CheckBootstrap against the release this test binary
// links. A CLI that does not know --envoy-version yet makes the test skip,
// saying so, except for cliDefault, which it then generates without the flag.
func TestGeneratedConfig(t *testing.T, repo, version string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "llm-failover")
	build := exec.Command("go", "build", "-o", bin, "./cmd/llm-failover")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/llm-failover: %v\n%s", err, out)
	}
	for _, cfg := range GeneratedConfigs {
		t.Run(cfg, func(t *testing.T) {
			yaml := generate(t, bin, filepath.Join(repo, cfg), version)
			if err := CheckBootstrap(yaml); err != nil {
				t.Errorf("the envoy.yaml generated from %s for Envoy %s does not pass that version's API:\n%v", cfg, version, err)
			}
		})
	}
}

// generate runs envoy-config for cfg and version and returns its output.
func generate(t *testing.T, bin, cfg, version string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	gen := exec.Command(bin, "envoy-config", "--envoy-version", version, "--config", cfg)
	gen.Stdout, gen.Stderr = &stdout, &stderr
	err := gen.Run()
	if err == nil {
		return stdout.Bytes()
	}
	if !strings.Contains(stderr.String(), "flag provided but not defined: -envoy-version") {
		t.Fatalf("llm-failover envoy-config --envoy-version %s --config %s: %v\n%s", version, cfg, err, stderr.String())
	}
	if version != cliDefault {
		t.Skipf("llm-failover envoy-config has no --envoy-version yet: the config it would generate for Envoy %s is not checked", version)
	}
	stdout.Reset()
	stderr.Reset()
	gen = exec.Command(bin, "envoy-config", "--config", cfg)
	gen.Stdout, gen.Stderr = &stdout, &stderr
	if err := gen.Run(); err != nil {
		t.Fatalf("llm-failover envoy-config --config %s: %v\n%s", cfg, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestEmbeddedSchema fails unless the schema the main module embeds for
// version (repo/envoy/apidata/envoy-VERSION.txt.gz) is what Write makes from
// the release this test binary links: regenerate with tools/envoyapi/regen.
func TestEmbeddedSchema(t *testing.T, repo, version, source string) {
	t.Helper()
	var want bytes.Buffer
	if err := Write(&want, source, protoregistry.GlobalFiles); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repo, "envoy", "apidata", "envoy-"+version+".txt.gz")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with tools/envoyapi/regen)", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("%s is not the schema of %s: regenerate with tools/envoyapi/regen", path, source)
	}
}

// TestSketches checks every dir/*.yaml bootstrap with CheckBootstrap and
// wants it to pass exactly when its "# accepted by: V ..." line lists
// version. The main module's envoy tests read the same files and want the
// same answers from envoy.ValidateAPI, which keeps the two in agreement.
func TestSketches(t *testing.T, dir, version string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sketches in %s (%v)", dir, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			accepted, err := AcceptedBy(b)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			want := false
			for _, v := range accepted {
				want = want || v == version
			}
			err = CheckBootstrap(b)
			if want && err != nil {
				t.Errorf("Envoy %s refuses %s, which says it is accepted by %v:\n%v", version, p, accepted, err)
			}
			if !want && err == nil {
				t.Errorf("Envoy %s accepts %s, which says only %v accept it", version, p, accepted)
			}
			if !want && err != nil {
				t.Logf("refused as expected: %v", err)
			}
		})
	}
}

// AcceptedBy returns the versions listed on a sketch's "# accepted by:" line.
func AcceptedBy(sketch []byte) ([]string, error) {
	for _, line := range strings.Split(string(sketch), "\n") {
		if rest, ok := strings.CutPrefix(line, "# accepted by:"); ok {
			return strings.Fields(rest), nil
		}
	}
	return nil, errors.New(`no "# accepted by:" line`)
}
