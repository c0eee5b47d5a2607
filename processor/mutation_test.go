package processor

import (
	"strconv"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
)

// TestMutation_SetHeadersKeepTheirOwnValues verifies set headers each keep
// their key and value through the wire, and that appending to one set value
// cannot write over the next.
func TestMutation_SetHeadersKeepTheirOwnValues(t *testing.T) {
	m := &mutation{}
	want := map[string]string{}
	for i := range 20 {
		k, v := "x-h"+strconv.Itoa(i), strings.Repeat(strconv.Itoa(i), i*40)
		m.setHeader(k, v)
		want[k] = v
	}
	m.setHeader("x-empty", "")
	want["x-empty"] = ""
	first := m.set[0].GetHeader().GetRawValue()
	_ = append(first, "overwrite"...)
	b, err := proto.Marshal(m.proto())
	if err != nil {
		t.Fatal(err)
	}
	got := &extprocv3.HeaderMutation{}
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if len(got.GetSetHeaders()) != len(want) {
		t.Fatalf("set headers: got %d, want %d", len(got.GetSetHeaders()), len(want))
	}
	for _, h := range got.GetSetHeaders() {
		if w, ok := want[h.GetHeader().GetKey()]; !ok || string(h.GetHeader().GetRawValue()) != w {
			t.Errorf("%s: got %q, want %q", h.GetHeader().GetKey(), h.GetHeader().GetRawValue(), w)
		}
	}
}
