package envoy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/proto"

	"github.com/llm-failover/llm-failover/config"
)

// FuzzValidateAPI verifies that ValidateAPI never panics or hangs on any
// bootstrap the protobuf decoder accepts, that every problem it reports is an
// ErrCheck, and that it reports the same problems in the same order each time.
func FuzzValidateAPI(f *testing.F) {
	for _, g := range append(append([]generated{}, repoFiles...), goldenFiles...) {
		c, err := config.Load(g.config)
		if err != nil {
			f.Fatal(err)
		}
		b, err := Bootstrap(c)
		if err != nil {
			f.Fatal(err)
		}
		wire, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	sketches, err := filepath.Glob(filepath.Join(sketchDir, "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range sketches {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		b, err := decode(raw)
		if err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		wire, err := proto.Marshal(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	deep, err := proto.Marshal(nestedAnys(f, maxAnyDepth+2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(deep)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, wire []byte) {
		var b bootstrapv3.Bootstrap
		if proto.Unmarshal(wire, &b) != nil {
			return
		}
		for _, v := range apiVersionsWant {
			err := ValidateAPI(v, &b)
			if err != nil && !errors.Is(err, ErrCheck) {
				t.Fatalf("ValidateAPI(%s) = %v, not an ErrCheck", v, err)
			}
			again := ValidateAPI(v, &b)
			if (err == nil) != (again == nil) || (err != nil && err.Error() != again.Error()) {
				t.Fatalf("ValidateAPI(%s) is not deterministic:\n%v\nthen\n%v", v, err, again)
			}
		}
	})
}

// BenchmarkValidateAPI measures one check of the example bootstrap against
// the 1.38 schema (the one with the most problems to report).
func BenchmarkValidateAPI(b *testing.B) {
	c, err := config.Load("../examples/config.yaml")
	if err != nil {
		b.Fatal(err)
	}
	boot, err := Bootstrap(c)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = ValidateAPI("1.38", boot)
	}
}

// FuzzParseAPISchema verifies that the schema reader never panics and that
// what it accepts has a header and only M and E lines.
func FuzzParseAPISchema(f *testing.F) {
	f.Add([]byte(apiSchemaMagic + " src\nM a.B c d\nE a.C X Y\nM a.Empty \n"))
	f.Add([]byte(apiSchemaMagic + " src\nQ a.B c\n"))
	f.Add([]byte("envoy-api-schema/0 src\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, text []byte) {
		s, err := parseAPISchema(bytes.NewReader(text), "x")
		if err != nil {
			return
		}
		if !bytes.HasPrefix(text, []byte(apiSchemaMagic)) {
			t.Errorf("accepted a schema without the header: %q", text)
		}
		if s.messages == nil || s.enums == nil {
			t.Error("accepted schema has nil maps")
		}
	})
}
