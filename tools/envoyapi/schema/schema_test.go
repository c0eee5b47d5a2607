package schema

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	_ "google.golang.org/protobuf/types/known/anypb"
	_ "google.golang.org/protobuf/types/known/durationpb"
)

// TestLoadable verifies which proto packages count as Envoy's loadable API:
// everything but the frozen v2 API.
func TestLoadable(t *testing.T) {
	tests := []struct {
		pkg  protoreflect.FullName
		want bool
	}{
		{"envoy.config.route.v3", true},
		{"envoy.extensions.filters.http.ext_proc.v3", true},
		{"envoy.extensions.http.stateful_session.cookie.v3alpha", true},
		{"envoy.annotations", true},
		{"xds.type.matcher.v3", true},
		{"udpa.type.v1", true},
		{"google.protobuf", true},
		{"envoy.api.v2", false},
		{"envoy.api.v2.core", false},
		{"envoy.config.filter.http.buffer.v2", false},
		{"envoy.config.cluster.aggregate.v2alpha", false},
		{"envoy.config.filter.network.mysql_proxy.v1alpha1", false},
		{"envoy.type", false},
		{"envoy.type.matcher", false},
	}
	for _, tt := range tests {
		if got := Loadable(tt.pkg); got != tt.want {
			t.Errorf("Loadable(%s) = %v, want %v", tt.pkg, got, tt.want)
		}
	}
}

// TestWrite_StableAndReadable verifies that Write gives the same bytes twice
// and that the text starts with the header and lists Any's fields.
func TestWrite_StableAndReadable(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a, "src@v1", protoregistry.GlobalFiles); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, "src@v1", protoregistry.GlobalFiles); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("Write is not stable")
	}
	zr, err := gzip.NewReader(&a)
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	if lines[0] != Magic+" src@v1" {
		t.Errorf("header = %q, want %q", lines[0], Magic+" src@v1")
	}
	for _, want := range []string{"M google.protobuf.Any type_url value", "M google.protobuf.Duration nanos seconds"} {
		if !strings.Contains(string(text), want+"\n") {
			t.Errorf("schema lacks the line %q", want)
		}
	}
}
