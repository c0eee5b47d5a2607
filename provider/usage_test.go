package provider

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

// TestUsageMeter verifies that the completion tokens are found in a stream's
// usage chunk however the chunks split it, and that other lines are not read.
func TestUsageMeter(t *testing.T) {
	usage := `data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":42,"total_tokens":45}}`
	content := `data: {"choices":[{"delta":{"content":"the usage field \"usage\":{\"completion_tokens\":999}"}}]}`
	tests := []struct {
		name   string
		chunks []string
		want   int64
	}{
		{"one chunk", []string{content + "\n\n" + usage + "\n\ndata: [DONE]\n\n"}, 42},
		{"split inside the usage line", []string{usage[:40], usage[40:90], usage[90:] + "\n\n"}, 42},
		{"crlf lines", []string{usage + "\r\n\r\n"}, 42},
		{"no trailing newline", []string{usage}, 42},
		{"no usage", []string{content + "\n\ndata: [DONE]\n\n"}, 0},
		{"an over-long line is skipped, the next read", []string{"data: " + strings.Repeat("x", maxUsageLine), strings.Repeat("y", 10) + "\n", usage + "\n"}, 42},
		{"not a data line", []string{`: {"usage":{"completion_tokens":7}}` + "\n"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u UsageMeter
			for _, c := range tt.chunks {
				u.Feed([]byte(c))
			}
			u.Feed([]byte("\n"))
			if u.tokens != tt.want {
				t.Errorf("tokens = %d, want %d", u.tokens, tt.want)
			}
		})
	}
}

// FuzzUsageMeter feeds arbitrary stream bytes, split at an arbitrary point:
// no panic, the kept line stays bounded, and the split does not change the
// result.
func FuzzUsageMeter(f *testing.F) {
	f.Add([]byte("data: {\"usage\":{\"completion_tokens\":5}}\n\n"), 10)
	f.Add([]byte("data: {\"usage\":{\"completion_tokens\":-5}}\r\n"), 3)
	f.Add([]byte("data:{\"usage\":"), 0)
	f.Fuzz(func(t *testing.T, b []byte, at int) {
		if at < 0 || at > len(b) {
			at = len(b) / 2
		}
		var whole, split UsageMeter
		whole.Feed(b)
		whole.Feed([]byte("\n"))
		split.Feed(b[:at])
		split.Feed(b[at:])
		if len(split.line) > maxUsageLine {
			t.Fatalf("kept %d bytes, over %d", len(split.line), maxUsageLine)
		}
		split.Feed([]byte("\n"))
		if whole.tokens != split.tokens || whole.CompletionTokens() != split.CompletionTokens() {
			t.Errorf("whole %d (%d), split at %d %d (%d)", whole.tokens, whole.CompletionTokens(), at, split.tokens, split.CompletionTokens())
		}
	})
}

// TestUsageMeter_EstimateWithoutUsageChunk verifies a stream without a
// usage chunk (the client did not ask for stream_options.include_usage) is
// counted by its streamed content, reasoning and tool arguments (bytes / 4,
// rounded up), and that a usage chunk, when there is one, wins.
func TestUsageMeter_EstimateWithoutUsageChunk(t *testing.T) {
	chunk := func(delta string) string { return `data: {"choices":[{"index":0,"delta":` + delta + `}]}` + "\n\n" }
	tests := []struct {
		name   string
		stream string
		want   int64
	}{
		{"content", chunk(`{"content":"`+strings.Repeat("a", 40)+`"}`) + chunk(`{"content":"bcd"}`) + "data: [DONE]\n\n", 11},
		{"reasoning and tool arguments", chunk(`{"reasoning_content":"think"}`) + chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}`), 3},
		{"two choices", `data: {"choices":[{"delta":{"content":"abcd"}},{"delta":{"content":"efgh"}}]}` + "\n", 2},
		{"usage chunk wins", chunk(`{"content":"`+strings.Repeat("a", 400)+`"}`) + `data: {"choices":[],"usage":{"completion_tokens":7}}` + "\n", 7},
		{"an over-long line counts whole", "data: " + strings.Repeat("x", maxUsageLine) + "\n", int64((len("data: ") + maxUsageLine + 3) / 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u UsageMeter
			u.Feed([]byte(tt.stream))
			u.Feed([]byte("\n"))
			if got := u.CompletionTokens(); got != tt.want {
				t.Errorf("completion tokens = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestUsage_ReportedOrNothing verifies the usage an answer reports (JSON or
// the stream's usage chunk) with its model, and that an answer without a
// usage object reports nothing rather than an estimate.
func TestUsage_ReportedOrNothing(t *testing.T) {
	stream := "data: {\"model\":\"gpt-4o-2024\",\"choices\":[{\"delta\":{\"content\":\"hello there\"}}]}\n\n" +
		"data: {\"model\":\"gpt-4o-2024\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":42}}\n\ndata: [DONE]\n\n"
	var m UsageMeter
	m.Feed([]byte(stream))
	var bare UsageMeter
	bare.Feed([]byte("data: {\"model\":\"x\",\"choices\":[{\"delta\":{\"content\":\"hello there\"}}]}\n\n"))
	tests := []struct {
		name string
		got  Usage
		want Usage
	}{
		{"stream with a usage chunk", m.Usage(), Usage{Prompt: 3, Completion: 42, Reported: true, Model: "gpt-4o-2024"}},
		{"stream without one", bare.Usage(), Usage{Model: "x"}},
		{"json answer", AnswerUsage([]byte(`{"model":"m1","usage":{"prompt_tokens":5,"completion_tokens":7}}`)), Usage{Prompt: 5, Completion: 7, Reported: true, Model: "m1"}},
		{"json answer without usage", AnswerUsage([]byte(`{"model":"m1","choices":[]}`)), Usage{Model: "m1"}},
		{"not json", AnswerUsage([]byte(`<html>`)), Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

// usageScanBefore is UsageMeter.scan as it was before it read a line in one
// pass (a gjson path per field): the oracle FuzzUsageMeter_OnePass holds the
// one-pass reader to.
func usageScanBefore(u *UsageMeter, line []byte) {
	data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
	if !ok {
		return
	}
	data = bytes.TrimSpace(data)
	if bytes.Contains(data, []byte(`"usage"`)) {
		if n := gjson.GetBytes(data, "usage.completion_tokens"); n.Exists() {
			u.seen = true
			u.tokens = max(u.tokens, n.Int())
			u.prompt = max(u.prompt, gjson.GetBytes(data, "usage.prompt_tokens").Int())
		}
	}
	if bytes.HasPrefix(data, []byte(`{"type":"response.`)) {
		u.scanResponses(data)
		return
	}
	if u.model == "" {
		u.model = gjson.GetBytes(data, "model").String()
	}
	gjson.GetBytes(data, "choices").ForEach(func(_, c gjson.Result) bool {
		d := c.Get("delta")
		u.text += int64(len(d.Get("content").String()) + len(d.Get("reasoning_content").String()))
		d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			u.text += int64(len(tc.Get("function.arguments").String()))
			return true
		})
		return true
	})
}

// FuzzUsageMeter_OnePass verifies the one-pass line reader finds what the
// reader with one gjson path per field found, on every line whose data is
// valid JSON (what providers and the translators send). On broken JSON the
// two may differ (gjson paths and ForEach recover from different errors);
// neither panics, and only the token estimate of a broken stream can change.
func FuzzUsageMeter_OnePass(f *testing.F) {
	for _, s := range []string{
		`data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hi \"x\"","reasoning_content":"r"},"finish_reason":null}],"usage":null}`,
		`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":42,"total_tokens":45}}`,
		`data: {"usage":{"prompt_tokens":3},"usage":{"completion_tokens":5}}`,
		`data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}},{"delta":{"content":"x"},"delta":{"content":"yy"}}]}`,
		`data: {"choices":{"a":{"delta":{"content":"obj"}}},"model":7}`,
		`data: {"type":"response.completed","response":{"model":"m","usage":{"input_tokens":2,"output_tokens":9}}}`,
		`data: {"type":"response.output_text.delta","delta":"abc","usage":{"completion_tokens":1}}`,
		`data: [DONE]`,
		`data: {"model":"a","model":"b","choices":[{"delta":{"content":null}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var got, want UsageMeter
		got.scan(line)
		usageScanBefore(&want, line)
		data, _ := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
		if !gjson.ValidBytes(bytes.TrimSpace(data)) {
			return
		}
		if got.tokens != want.tokens || got.prompt != want.prompt || got.seen != want.seen || got.text != want.text || got.model != want.model {
			t.Errorf("line %q: got tokens %d prompt %d seen %v text %d model %q, want %d %d %v %d %q",
				line, got.tokens, got.prompt, got.seen, got.text, got.model, want.tokens, want.prompt, want.seen, want.text, want.model)
		}
	})
}

// BenchmarkUsageMeterLine measures reading one chat chunk line, the
// one-pass reader against the reader it replaced (a gjson path per field).
func BenchmarkUsageMeterLine(b *testing.B) {
	line := []byte(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" token and \"more\""},"finish_reason":null}],"usage":null}`)
	for _, r := range []struct {
		name string
		scan func(*UsageMeter, []byte)
	}{{"one-pass", (*UsageMeter).scan}, {"gjson-paths", usageScanBefore}} {
		b.Run(r.name, func(b *testing.B) {
			var u UsageMeter
			b.ReportAllocs()
			for b.Loop() {
				r.scan(&u, line)
			}
		})
	}
}
