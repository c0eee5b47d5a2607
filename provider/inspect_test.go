package provider

import (
	"errors"
	"testing"

	"github.com/tidwall/gjson"
)

// TestInspectBody verifies what the route phase reads from a body.
func TestInspectBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Inspection
		err  error
	}{
		{"plain", `{"model":"m","messages":[]}`, Inspection{Model: "m"}, nil},
		{"stream with usage", `{"stream":true,"model":"m","stream_options":{"include_usage":true}}`, Inspection{Model: "m", Stream: true, IncludeUsage: true}, nil},
		{"nested model keys do not count", `{"model":"m","metadata":{"model":"x"},"messages":[{"model":"y"}]}`, Inspection{Model: "m"}, nil},
		{"duplicate", `{"model":"a","model":"b"}`, Inspection{}, errDuplicateModel},
		{"needs tools, json and vision", `{"model":"m","tools":[{"type":"function"}],"response_format":{"type":"json_schema"},"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"http://x"}}]}]}`,
			Inspection{Model: "m", Tools: true, JSON: true, Vision: true}, nil},
		{"empty tools and text format need nothing", `{"model":"m","tools":[],"response_format":{"type":"text"},"messages":[{"role":"user","content":"an image_url"}]}`,
			Inspection{Model: "m"}, nil},
		{"escaped duplicate", `{"model":"a","\u006dodel":"b"}`, Inspection{}, errDuplicateModel},
		{"missing", `{"messages":[]}`, Inspection{}, errMissingModel},
		{"empty model", `{"model":""}`, Inspection{}, errMissingModel},
		{"model not UTF-8", "{\"model\":\"gpt\xff\"}", Inspection{}, errModelEncoding},
		{"array", `[1]`, Inspection{}, errNotObject},
		{"truncated", `{"model":"m"`, Inspection{}, errMalformedJSON},
		{"trailing garbage", `{"model":"m"} x`, Inspection{}, errMalformedJSON},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := inspectBody([]byte(tc.body))
			if !errors.Is(err, tc.err) {
				t.Fatalf("error: got %v, want %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzInspectBody checks inspectBody never panics and that an accepted body
// is valid JSON whose one top-level "model" is the value returned.
func FuzzInspectBody(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Hello!"}]}`,
		`{"model":"claude-3-5-sonnet","stream":true,"stream_options":{"include_usage":true},"max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`,
		`{"model":"gpt-4o","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}],"tool_choice":"auto","messages":[{"role":"user","content":"weather?"}]}`,
		`{"model":"a","model":"b"}`, `{"mod\u0065l":"x"}`, `[]`, `{`, `{"model":null}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := inspectBody(b)
		if err != nil {
			return
		}
		if !gjson.ValidBytes(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if got := gjson.GetBytes(b, "model"); got.Str != in.Model && got.Raw != "" {
			// gjson's path lookup does not unescape keys; compare only when it found one.
			t.Fatalf("model: got %q, want %q", in.Model, got.Str)
		}
		if in.Model == "" {
			t.Fatalf("accepted a body without a model: %q", b)
		}
	})
}
