package provider

import (
	"testing"

	"github.com/tidwall/gjson"
)

// chunkHasContentBefore is chunkHasContent as it was before it read the
// members' source text (gjson paths and ForEach): FuzzChunkHasContent's
// oracle.
func chunkHasContentBefore(d string) bool {
	content := false
	gjson.Get(d, "choices").ForEach(func(_, ch gjson.Result) bool {
		if f := ch.Get("finish_reason"); f.Exists() && f.Type != gjson.Null {
			content = true
			return false
		}
		ch.Get("delta").ForEach(func(k, v gjson.Result) bool {
			switch k.Str {
			case "content", "refusal", "reasoning_content", "reasoning":
				content = v.Type == gjson.String && v.Str != ""
			case "tool_calls", "function_call":
				content = v.Type != gjson.Null
			}
			return !content
		})
		return !content
	})
	return content
}

// FuzzChunkHasContent verifies the OpenAI event judge finds content exactly
// where the gjson reader found it, on every chunk that is valid JSON.
func FuzzChunkHasContent(f *testing.F) {
	for _, s := range []string{
		`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"choices":[{"delta":{"content":"hi \"x\""}}]}`,
		`{"choices":[{"delta":{"content":"","content":"x"}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":0}]},"finish_reason":"tool_calls"}]}`,
		`{"choices":[{"delta":{"refusal":null,"reasoning":"r"}}],"choices":[]}`,
		`{"choices":{"a":{"finish_reason":"stop"}}}`, `{"choices":[{"finish_reason":null,"finish_reason":"stop"}]}`,
		`{"choices":[{"delta":{},"delta":{"content":"late"}}]}`, `{"choices":[1,"s",null,[]]}`, `[]`, `{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d string) {
		got := chunkHasContent(d)
		if !gjson.Valid(d) {
			return
		}
		if want := chunkHasContentBefore(d); got != want {
			t.Errorf("chunk %q: content %v, want %v", d, got, want)
		}
	})
}

// BenchmarkChunkHasContent measures judging one chat chunk, the
// source-text reader against the gjson reader it replaced.
func BenchmarkChunkHasContent(b *testing.B) {
	d := `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" token and \"more\""},"finish_reason":null}],"usage":null}`
	for _, r := range []struct {
		name  string
		judge func(string) bool
	}{{"source-text", chunkHasContent}, {"gjson", chunkHasContentBefore}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !r.judge(d) {
					b.Fatal("no content")
				}
			}
		})
	}
}
