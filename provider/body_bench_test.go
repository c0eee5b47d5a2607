package provider

import (
	"strconv"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// BenchmarkRequestPath measures a request body's way through this package
// as the processor takes it, for 2 KB, 64 KB and 1 MB bodies: Inspect and
// the target's Check (route phase), then its Prepare (attempt phase). The
// per-KB cost is the slope between sizes.
func BenchmarkRequestPath(b *testing.B) {
	for _, api := range []config.API{config.APIOpenAI, config.APIAnthropic, config.APIGemini} {
		for _, size := range []int{2 << 10, 64 << 10, 1 << 20} {
			b.Run(string(api)+"/"+strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
				body := chatBody(size)
				tg := targetFor(api)
				a, _ := For(api)
				ep := tg.ep
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					in, perr := Inspect(body)
					if perr != nil {
						b.Fatal(perr)
					}
					if err := a.Check(&ep, in.Request(body, tg.model)); err != nil {
						b.Fatal(err)
					}
					if _, err := a.Prepare(&ep, in.Request(body, tg.model)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// answerBody is a whole answer of about size bytes in api's format, its
// text with escapes and non-ASCII as a model writes it.
func answerBody(api config.API, size int) []byte {
	text := strings.Repeat(`The answer, \"quoted\" and été.\n`, size/34+1)
	switch api {
	case config.APIAnthropic:
		return []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"` + text +
			`"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":20}}`)
	case config.APIGemini:
		return []byte(`{"candidates":[{"content":{"parts":[{"text":"` + text + `"}],"role":"model"},"finishReason":"STOP","index":0}],` +
			`"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":20,"totalTokenCount":30},"modelVersion":"gemini-2.5-pro","responseId":"r1"}`)
	}
	return []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"` + text +
		`"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}`)
}

// BenchmarkAnswer measures translating (Anthropic, Gemini) or checking
// (OpenAI) a whole answer of 2 KB, 64 KB and 1 MB handed over in one
// piece, as the attempt phase does with a held answer.
func BenchmarkAnswer(b *testing.B) {
	for _, api := range []config.API{config.APIOpenAI, config.APIAnthropic, config.APIGemini} {
		for _, size := range []int{2 << 10, 64 << 10, 1 << 20} {
			b.Run(string(api)+"/"+strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
				answer := answerBody(api, size)
				tg := targetFor(api)
				a, _ := For(api)
				ep := tg.ep
				b.SetBytes(int64(len(answer)))
				b.ReportAllocs()
				for b.Loop() {
					tr := a.NewResponseTranslator(&ep, Request{Model: tg.model}, testEnv())
					if _, err := tr.Translate(answer, true); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
