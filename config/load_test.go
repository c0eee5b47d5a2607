package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected messages under testdata/diagnostics")

// TestParse_DiagnosticsFileByFile verifies each broken file under
// testdata/diagnostics is refused with every problem at once, each with its
// line:column and path, exactly as its .want file says.
func TestParse_DiagnosticsFileByFile(t *testing.T) {
	files, _ := filepath.Glob("testdata/diagnostics/*.yaml")
	if len(files) == 0 {
		t.Fatal("no files under testdata/diagnostics")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(b)
			if err == nil {
				t.Fatal("got a valid config, want problems")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			got := err.Error() + "\n"
			want := strings.TrimSuffix(f, ".yaml") + ".want"
			if *update {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(w) {
				t.Errorf("got:\n%s\nwant:\n%s", got, w)
			}
		})
	}
}

// TestParse_EveryProblemHasALine verifies no problem of a broken file is
// reported without its position.
func TestParse_EveryProblemHasALine(t *testing.T) {
	files, _ := filepath.Glob("testdata/diagnostics/*.yaml")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		_, err := Parse(b)
		for _, e := range joined(err) {
			var fe *FieldError
			if !errors.As(e, &fe) || fe.Line == 0 {
				t.Errorf("%s: %v has no line", f, e)
			}
		}
	}
}

// TestSuggest verifies "did you mean" names the closest field only when it
// is close, and lists the fields otherwise.
func TestSuggest(t *testing.T) {
	fields := jsonFields(reflect.TypeFor[Provider]())
	for _, tc := range []struct{ in, want string }{
		{"nmae", `; did you mean "name"?`},
		{"Host", `; did you mean "host"?`},
		{"clustr", `; did you mean "cluster"?`},
		{"zzzzzzzz", "; known fields here: "},
	} {
		if got := suggest(tc.in, fields); !strings.HasPrefix(got, tc.want) {
			t.Errorf("suggest(%q) = %q, want prefix %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParse verifies Parse never panics and every problem it reports is a
// FieldError (so it has a path or a line).
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/diagnostics/*.yaml")
	files = append(files, "../examples/config.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := Parse(b)
		for _, e := range joined(err) {
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Fatalf("problem %v (%T) is not a FieldError", e, e)
			}
		}
	})
}

// TestParse_MergeKeys verifies a YAML merge key ("<<: *base") gives the
// mapping the anchor's fields, and the mapping's own key wins.
func TestParse_MergeKeys(t *testing.T) {
	c, err := Parse([]byte(`providers:
  - &base {name: one, api: openai, host: a.example, port: 8443}
  - {<<: *base, name: two, port: 9443}
chains: [{name: c, targets: [{provider: one, model: m}, {provider: two, model: m}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Provider("two")
	if p == nil || p.Host != "a.example" || p.Port != 9443 {
		t.Errorf("provider two = %+v, want host a.example (merged) and port 9443 (its own)", p)
	}
}
