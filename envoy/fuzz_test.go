package envoy

import (
	"errors"
	"os"
	"testing"
)

// FuzzCheck verifies that Check never panics and that every error it returns
// is an ErrCheck problem, whatever the input.
func FuzzCheck(f *testing.F) {
	for _, p := range []string{"testdata/minimal.envoy.yaml", "testdata/mixed.envoy.yaml", "testdata/mtls.envoy.yaml", "testdata/handwritten.envoy.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("static_resources: {clusters: [{name: a, type: BOGUS}]}"))
	f.Add([]byte("admin: [1, 2]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := Check(b); err != nil && !errors.Is(err, ErrCheck) {
			t.Errorf("Check() = %v, not an ErrCheck", err)
		}
	})
}

// FuzzCheckSecretFile verifies that CheckSecretFile never panics and that
// every error it returns is an ErrCheck problem, whatever the input.
func FuzzCheckSecretFile(f *testing.F) {
	for _, p := range []string{"../examples/sds/ext_proc_client.yaml", "../examples/sds/ext_proc_ca.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("resources: [{\"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckSecretFile(b, ExtProcCASecret); err != nil && !errors.Is(err, ErrCheck) {
			t.Errorf("CheckSecretFile() = %v, not an ErrCheck", err)
		}
	})
}
