package provider

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// accumulate reads a translated stream with the OpenAI Go SDK's SSE decoder
// and ChatCompletionAccumulator, as a client would.
func accumulate(t *testing.T, stream []byte) (openai.ChatCompletionAccumulator, error) {
	t.Helper()
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(stream))}
	s := ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		if !acc.AddChunk(s.Current()) {
			t.Fatalf("the SDK accumulator refused chunk %s", s.Current().RawJSON())
		}
	}
	return acc, s.Err()
}

// randomSizes is a chunking of 1..max bytes from a seeded source.
func randomSizes(seed uint64, maxSize int) []int {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := make([]int, 64)
	for i := range s {
		s[i] = 1 + r.IntN(maxSize)
	}
	return s
}

// TestStream_AccumulatesToNonStreamed verifies, for every provider stream
// with a non-streamed twin, that the OpenAI SDK accumulating our translated
// stream (in random chunkings) sees the same answer as our translation of
// the non-streamed response: id, model, created, content, tool calls,
// finish reason and usage.
func TestStream_AccumulatesToNonStreamed(t *testing.T) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini} {
		streams, _ := filepath.Glob(filepath.Join("testdata", "responses", string(api), "*.sse"))
		for _, sf := range streams {
			jf := strings.TrimSuffix(sf, ".sse") + ".json"
			if _, err := os.Stat(jf); err != nil {
				continue
			}
			t.Run(strings.TrimPrefix(sf, "testdata/responses/"), func(t *testing.T) {
				sse, _ := os.ReadFile(sf)
				js, _ := os.ReadFile(jf)
				whole, err := translateAll(t, api, js, false, false, nil)
				if err != nil {
					t.Fatal(err)
				}
				var want openai.ChatCompletion
				if err := json.Unmarshal(whole, &want); err != nil {
					t.Fatalf("non-streamed translation: %v\n%s", err, whole)
				}
				for seed := uint64(0); seed < 20; seed++ {
					var sizes []int
					if seed > 0 {
						sizes = randomSizes(seed, 1+int(seed)*7)
					}
					out, err := translateAll(t, api, sse, true, true, sizes)
					if err != nil {
						t.Fatal(err)
					}
					acc, err := accumulate(t, out)
					if err != nil {
						t.Fatalf("seed %d: SDK stream error: %v\n%s", seed, err, out)
					}
					compareCompletion(t, seed, acc.ChatCompletion, want)
				}
			})
		}
	}
}

func compareCompletion(t *testing.T, seed uint64, got, want openai.ChatCompletion) {
	t.Helper()
	if got.ID != want.ID || got.Model != want.Model || got.Created != want.Created {
		t.Errorf("seed %d: id/model/created: got %q %q %d, want %q %q %d", seed, got.ID, got.Model, got.Created,
			want.ID, want.Model, want.Created)
	}
	if len(got.Choices) != 1 || len(want.Choices) != 1 {
		t.Fatalf("seed %d: choices: got %d, want %d (want 1)", seed, len(got.Choices), len(want.Choices))
	}
	g, w := got.Choices[0], want.Choices[0]
	if g.Message.Content != w.Message.Content {
		t.Errorf("seed %d: content: got %q, want %q", seed, g.Message.Content, w.Message.Content)
	}
	if string(g.Message.Role) != "assistant" {
		t.Errorf("seed %d: role: got %q, want assistant", seed, g.Message.Role)
	}
	if g.FinishReason != w.FinishReason {
		t.Errorf("seed %d: finish_reason: got %q, want %q", seed, g.FinishReason, w.FinishReason)
	}
	if len(g.Message.ToolCalls) != len(w.Message.ToolCalls) {
		t.Fatalf("seed %d: tool calls: got %d, want %d", seed, len(g.Message.ToolCalls), len(w.Message.ToolCalls))
	}
	for i := range g.Message.ToolCalls {
		gt, wt := g.Message.ToolCalls[i], w.Message.ToolCalls[i]
		if gt.ID != wt.ID || gt.Function.Name != wt.Function.Name || gt.Function.Arguments != wt.Function.Arguments ||
			gt.Type != wt.Type {
			t.Errorf("seed %d: tool call %d: got %+v, want %+v", seed, i, gt, wt)
		}
	}
	gu, wu := got.Usage, want.Usage
	if gu.PromptTokens != wu.PromptTokens || gu.CompletionTokens != wu.CompletionTokens || gu.TotalTokens != wu.TotalTokens {
		t.Errorf("seed %d: usage: got %d/%d/%d, want %d/%d/%d", seed, gu.PromptTokens, gu.CompletionTokens,
			gu.TotalTokens, wu.PromptTokens, wu.CompletionTokens, wu.TotalTokens)
	}
}

// TestStream_ErrorsReachTheSDK verifies that in-stream provider errors and
// cut streams surface in the OpenAI SDK as a stream error (not a silent
// truncation), after the text that came before.
func TestStream_ErrorsReachTheSDK(t *testing.T) {
	tests := []struct {
		api      config.API
		file     string
		wantText string
		wantErr  string
	}{
		{config.APIAnthropic, "overloaded_midstream.sse", "Partial", "Overloaded"},
		{config.APIAnthropic, "overloaded_first.sse", "", "overloaded_error"},
		{config.APIAnthropic, "truncated.sse", "Cut", "stream_incomplete"},
		{config.APIGemini, "overloaded_first.sse", "", "UNAVAILABLE"},
		{config.APIGemini, "truncated.sse", "AI learns", "stream_incomplete"},
	}
	for _, tt := range tests {
		t.Run(string(tt.api)+"/"+tt.file, func(t *testing.T) {
			sse, err := os.ReadFile(filepath.Join("testdata", "responses", string(tt.api), tt.file))
			if err != nil {
				t.Fatal(err)
			}
			out, err := translateAll(t, tt.api, sse, true, true, randomSizes(3, 13))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(out, []byte(doneEvent)) {
				t.Errorf("stream does not end with [DONE]: %q", out)
			}
			acc, err := accumulate(t, out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SDK error: got %v, want one containing %q", err, tt.wantErr)
			}
			got := ""
			if len(acc.Choices) > 0 {
				got = acc.Choices[0].Message.Content
			}
			if got != tt.wantText {
				t.Errorf("text before the error: got %q, want %q", got, tt.wantText)
			}
		})
	}
}

// compactData rewrites every data line of an SSE stream with json.Compact,
// leaving strings untouched.
func compactData(t testing.TB, sse []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(sse), "\n") {
		body, ok := strings.CutPrefix(line, "data: ")
		if !ok || !json.Valid([]byte(strings.TrimSpace(body))) {
			out.WriteString(line)
			continue
		}
		out.WriteString("data: ")
		if err := json.Compact(&out, []byte(strings.TrimSpace(body))); err != nil {
			t.Fatal(err)
		}
		out.WriteString(line[len(strings.TrimRight(line, "\r\n")):])
	}
	return out.Bytes()
}

// TestStream_FastPathsMatchParser verifies that the parser-free fast paths
// (Anthropic's compact text deltas, Gemini's spaced text events) give
// exactly the output of the general JSON path, which the same events in the
// other formatting take.
func TestStream_FastPathsMatchParser(t *testing.T) {
	for _, api := range []config.API{config.APIAnthropic, config.APIGemini} {
		files, _ := filepath.Glob(filepath.Join("testdata", "responses", string(api), "*.sse"))
		for _, f := range files {
			t.Run(strings.TrimPrefix(f, "testdata/responses/"), func(t *testing.T) {
				sse, _ := os.ReadFile(f)
				compact := compactData(t, sse)
				a, err := translateAll(t, api, sse, true, true, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := translateAll(t, api, compact, true, true, randomSizes(5, 40))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("formatting changed the output\nas written:\n%s\ncompacted:\n%s", a, b)
				}
			})
		}
	}
	if _, ok := anthropicTextDelta(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"b"}}`); !ok {
		t.Errorf("anthropicTextDelta: compact text delta not matched")
	}
	if _, ok := geminiTextChunk(`{"candidates": [{"content": {"parts": [{"text": "a\"b"}],"role": "model"},"index": 0}]}`); !ok {
		t.Errorf("geminiTextChunk: spaced text event not matched")
	}
}
