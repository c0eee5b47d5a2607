package gen_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bufVersion is the buf that generates and lints proto/ (also in .ci/run).
const bufVersion = "github.com/bufbuild/buf/cmd/buf@v1.75.0"

// TestGeneratedCodeIsCurrent verifies the committed gen/ is what buf
// generate makes from proto/ now: it regenerates into a temporary directory
// and compares file for file. Fix a failure with
// `cd proto && go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate`.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds buf: not in -short")
	}
	tmp := t.TempDir()
	cmd := exec.Command("go", "run", bufVersion, "generate", "-o", filepath.Join(tmp, "proto"))
	cmd.Dir = "../proto"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, out)
	}
	want := goFiles(t, filepath.Join(tmp, "gen"))
	got := goFiles(t, ".")
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("gen/%s is missing: regenerate", name)
		} else if !bytes.Equal(g, w) {
			t.Errorf("gen/%s differs from what buf generate makes: regenerate", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("gen/%s is not generated from proto/ any more: remove it", name)
		}
	}
}

// goFiles reads the generated .pb.go files under dir, by relative path.
func goFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !bytes.HasSuffix([]byte(p), []byte(".pb.go")) {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
