package provider

import (
	"os"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// BenchmarkResponsesPrepare measures a Responses request with history and
// tools prepared for Anthropic (the chat request, then the Messages body).
func BenchmarkResponsesPrepare(b *testing.B) {
	body, err := os.ReadFile("testdata/responsesapi/requests/tools.json")
	if err != nil {
		b.Fatal(err)
	}
	a, _ := ResponsesAdapter(config.APIAnthropic)
	ep := targetFor(config.APIAnthropic).ep
	in, perr := InspectResponses(body)
	if perr != nil {
		b.Fatal(perr)
	}
	req := in.Request(body, "claude")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := a.Prepare(&ep, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponsesStream measures Anthropic and Gemini streams of 2000
// and 1000 text deltas translated to Responses events, fed in 16 KiB
// chunks: compare BenchmarkStreamTranslate, the same streams to chat chunks.
func BenchmarkResponsesStream(b *testing.B) {
	streams := []struct {
		name string
		api  config.API
		body []byte
	}{
		{"anthropic", config.APIAnthropic, anthropicBenchStream(2000)},
		{"gemini", config.APIGemini, geminiBenchStream(1000)},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s.body)))
			for b.Loop() {
				if _, err := translateResponses(b, s.api, s.body, true, []int{16 << 10}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
