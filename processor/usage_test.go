package processor

import (
	"strings"
	"testing"
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
			var u usageMeter
			for _, c := range tt.chunks {
				u.feed([]byte(c))
			}
			u.feed([]byte("\n"))
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
		var whole, split usageMeter
		whole.feed(b)
		whole.feed([]byte("\n"))
		split.feed(b[:at])
		split.feed(b[at:])
		if len(split.line) > maxUsageLine {
			t.Fatalf("kept %d bytes, over %d", len(split.line), maxUsageLine)
		}
		split.feed([]byte("\n"))
		if whole.tokens != split.tokens {
			t.Errorf("whole %d, split at %d %d", whole.tokens, at, split.tokens)
		}
	})
}
