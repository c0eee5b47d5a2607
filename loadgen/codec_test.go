package loadgen

import (
	"bytes"
	"strings"
	"testing"
	"time"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// A body message sent as pieces parses as the message it stands for.
func TestBodyFrames_ParseAsTheMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		eos  bool
		resp bool
	}{
		{"request body, end", []byte(`{"model":"m"}`), true, false},
		{"response chunk", []byte("data: {}\n\n"), false, true},
		{"empty end", nil, true, true},
		{"1 MiB", bytes.Repeat([]byte("x"), 1<<20), true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field := requestBodyField
			want := &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{RequestBody: &extprocsvc.HttpBody{Body: tc.body, EndOfStream: tc.eos}}}
			if tc.resp {
				field = responseBodyField
				want = &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: &extprocsvc.HttpBody{Body: tc.body, EndOfStream: tc.eos}}}
			}
			var got extprocsvc.ProcessingRequest
			if err := proto.Unmarshal(bytes.Join(bodyFrames(field, tc.body, tc.eos), nil), &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&got, want) {
				t.Errorf("parsed %v, want %v", &got, want)
			}
		})
	}
}

// /proc/<pid>/stat: utime+stime in ticks, a command name with spaces and
// parentheses skipped; short or bad files are errors.
func TestParseStat_ReadsUserAndSystemTime(t *testing.T) {
	stat := "42 (llm (fail) over) S 1 42 42 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 1000 100 18446744073709551615\n"
	if d, err := parseStat([]byte(stat)); err != nil || d != 3*time.Second {
		t.Fatalf("parseStat = %v, %v; want 3s", d, err)
	}
	for _, bad := range []string{"", "42 llm S 1", "42 (x) S 1 2 3", strings.Replace(stat, " 250 ", " x ", 1)} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

// parseStat never panics, and what it reads is never negative.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (a) R 0 0 0 0 0 0 0 0 0 0 5 7 0 0"))
	f.Add([]byte("1 (a b)) R 0 0 0 0 0 0 0 0 0 0 99999999999999999999 7"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStat(b); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v from %q", d, b)
		}
	})
}

// An attribute over the dynamic metadata reads the namespace's key as
// Envoy converts it from CEL; a missing namespace or key leaves it out.
func TestMetadataAttribute_ValueAsEnvoyConvertsIt(t *testing.T) {
	md := map[string]*structpb.Struct{"ns": {Fields: map[string]*structpb.Value{
		"s": structpb.NewStringValue("v1.abc"),
		"b": structpb.NewBoolValue(true),
		"n": structpb.NewNumberValue(2),
		"m": structpb.NewStructValue(&structpb.Struct{}),
	}}}
	for key, want := range map[string]*structpb.Value{
		"s": structpb.NewStringValue("v1.abc"),
		"b": structpb.NewBoolValue(true),
		"n": structpb.NewStringValue("2"),
		"m": structpb.NewStringValue("map value"),
		"x": nil,
	} {
		got := MetadataAttribute{Namespace: "ns", Key: key}.value(md)
		if !proto.Equal(got, want) {
			t.Errorf("%s: %v, want %v", key, got, want)
		}
	}
	if got := (MetadataAttribute{Namespace: "other", Key: "s"}).value(md); got != nil {
		t.Errorf("missing namespace: %v", got)
	}
}
