package provider

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

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

// FuzzInspectBody checks inspectBody never panics, reads what the reader
// built on gjson's ForEach read (the oracle, inspectBodyBefore), and that an
// accepted body is valid JSON whose one top-level "model" is the value
// returned.
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
		was, wasErr := inspectBodyBefore(b)
		if err != wasErr || err == nil && in != was {
			t.Fatalf("%q: got %+v (%v), want %+v (%v) as gjson's ForEach read it", b, in, err, was, wasErr)
		}
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

// inspectBodyBefore is inspectBody as it was before it read the members'
// source text (gjson's ForEach): FuzzInspectBody's oracle.
func inspectBodyBefore(b []byte) (Inspection, error) {
	var in Inspection
	if !gjson.ValidBytes(b) {
		return in, errMalformedJSON
	}
	root := gjson.ParseBytes(b)
	if !root.IsObject() {
		return in, errNotObject
	}
	models := 0
	var err error
	root.ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "model":
			models++
			if models > 1 {
				err = errDuplicateModel
				return false
			}
			if value.Type != gjson.String || value.Str == "" {
				err = errMissingModel
				return false
			}
			if !utf8.ValidString(value.Str) {
				err = errModelEncoding
				return false
			}
			in.Model = value.Str
		case "stream":
			in.Stream = value.Type == gjson.True
		case "stream_options":
			in.IncludeUsage = value.Get("include_usage").Type == gjson.True
		case "tools", "functions":
			in.Tools = in.Tools || value.IsArray() && len(value.Array()) > 0
		case "response_format":
			t := value.Get("type").Str
			in.JSON = t == "json_object" || t == "json_schema"
		case "messages":
			if strings.Contains(value.Raw, "image") {
				in.Vision = hasImage(value)
			}
		case "n":
			if value.Type == gjson.Number && value.Num != 1 {
				in.OpenAIOnly = "n"
			}
		case "logprobs":
			if value.Type == gjson.True {
				in.OpenAIOnly = "logprobs"
			}
		case "top_logprobs", "audio":
			if value.Type != gjson.Null {
				in.OpenAIOnly = key.Str
			}
		case "modalities":
			value.ForEach(func(_, m gjson.Result) bool {
				if m.Str != "text" {
					in.OpenAIOnly = "modalities"
				}
				return in.OpenAIOnly == ""
			})
		}
		return true
	})
	if err != nil {
		return in, err
	}
	if models == 0 {
		return in, errMissingModel
	}
	return in, nil
}
