package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// chatBody builds an OpenAI request of about size bytes: a system prompt,
// a tool, and alternating user/assistant turns with tool calls.
func chatBody(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."}`)
	line := `The quick brown fox jumps over the lazy dog, \"quoted\" and été. `
	for i := 0; b.Len() < size-400; i++ {
		fmt.Fprintf(&b, `,{"role":"user","content":"%s"}`, strings.Repeat(line, 4))
		if i%4 == 3 {
			fmt.Fprintf(&b, `,{"role":"assistant","content":null,"tool_calls":[{"id":"call_%d","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"fox %d\"}"}}]}`, i, i)
			fmt.Fprintf(&b, `,{"role":"tool","tool_call_id":"call_%d","content":"result %d"}`, i, i)
		} else {
			fmt.Fprintf(&b, `,{"role":"assistant","content":"%s"}`, strings.Repeat(line, 2))
		}
	}
	b.WriteString(`,{"role":"user","content":"Summarize."}],"temperature":0.3,"max_tokens":512,"stream":true,` +
		`"tools":[{"type":"function","function":{"name":"lookup","description":"Look something up","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}]}`)
	return []byte(b.String())
}

// BenchmarkPrepare measures request translation per target API for 2 KB and 100 KB bodies.
func BenchmarkPrepare(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10} {
		body := chatBody(size)
		for _, tg := range goldenTargets[1:4] {
			b.Run(fmt.Sprintf("%s/%dKB", tg.ep.API, size>>10), func(b *testing.B) {
				a, _ := For(tg.ep.API)
				ep := tg.ep
				req := Request{Body: body, Model: tg.model, Stream: true}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := a.Prepare(&ep, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// anthropicBenchStream is a long Messages stream of short text deltas, the
// shape of a real answer.
func anthropicBenchStream(deltas int) []byte {
	var b strings.Builder
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	for i := 0; i < deltas; i++ {
		fmt.Fprintf(&b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token%d and\"}}\n\n", i)
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":1500}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	return []byte(b.String())
}

// geminiBenchStream is a long Gemini SSE stream of short text parts.
func geminiBenchStream(events int) []byte {
	var b strings.Builder
	for i := 0; i < events; i++ {
		fmt.Fprintf(&b, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" token%d and some\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": %d,\"totalTokenCount\": %d},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"bench\"}\r\n\r\n", i, i, i+8)
	}
	b.WriteString("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": 9,\"totalTokenCount\": 17},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"bench\"}\r\n\r\n")
	return []byte(b.String())
}

// BenchmarkStreamTranslate measures stream translation throughput (input
// bytes per second) fed in 16 KiB body chunks, as Envoy delivers them.
func BenchmarkStreamTranslate(b *testing.B) {
	// Each stream also runs reformatted so that it misses the parser-free
	// fast path: compacted for Gemini, spaced for Anthropic.
	streams := []struct {
		name string
		api  config.API
		body []byte
	}{
		{"anthropic", config.APIAnthropic, anthropicBenchStream(2000)},
		{"anthropic-spaced", config.APIAnthropic, []byte(strings.ReplaceAll(string(anthropicBenchStream(2000)), `,"`, `, "`))},
		{"gemini", config.APIGemini, geminiBenchStream(1000)},
		{"gemini-compact", config.APIGemini, compactData(b, geminiBenchStream(1000))},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			tg := targetFor(s.api)
			a, _ := For(s.api)
			ep := tg.ep
			req := Request{Model: tg.model, Stream: true, IncludeUsage: true}
			b.SetBytes(int64(len(s.body)))
			b.ReportAllocs()
			for b.Loop() {
				tr := a.NewResponseTranslator(&ep, req, testEnv())
				for rest := s.body; len(rest) > 0; {
					n := min(16<<10, len(rest))
					if _, err := tr.Translate(rest[:n], n == len(rest)); err != nil {
						b.Fatal(err)
					}
					rest = rest[n:]
				}
			}
		})
	}
}

// BenchmarkSSEReader measures the framer alone.
func BenchmarkSSEReader(b *testing.B) {
	body := anthropicBenchStream(2000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	fn := func(Event) error { return nil }
	for b.Loop() {
		var r SSEReader
		for rest := body; len(rest) > 0; {
			n := min(16<<10, len(rest))
			_ = r.Feed(rest[:n], fn)
			rest = rest[n:]
		}
	}
}

// BenchmarkStreamMonitor measures judging every event of a stream (what the
// attempt phase adds to each streamed answer) fed in 16 KiB chunks.
func BenchmarkStreamMonitor(b *testing.B) {
	var openai strings.Builder
	for i := range 2000 {
		openai.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"tok` + itoa(i) + `"},"finish_reason":null}]}` + "\n\n")
	}
	openai.WriteString("data: [DONE]\n\n")
	streams := []struct {
		name string
		api  config.API
		body []byte
	}{
		{"openai", config.APIOpenAI, []byte(openai.String())},
		{"anthropic", config.APIAnthropic, anthropicBenchStream(2000)},
		{"gemini", config.APIGemini, geminiBenchStream(1000)},
	}
	for _, s := range streams {
		b.Run(s.name, func(b *testing.B) {
			a, _ := For(s.api)
			b.SetBytes(int64(len(s.body)))
			b.ReportAllocs()
			for b.Loop() {
				m := NewStreamMonitor(a)
				for rest := s.body; len(rest) > 0; {
					n := min(16<<10, len(rest))
					m.Feed(rest[:n])
					rest = rest[n:]
				}
				if !m.Ended() {
					b.Fatal("stream not ended")
				}
			}
		})
	}
}

// BenchmarkCheckedCompletion measures checking a whole 100 KB OpenAI answer
// handed over in one piece, as the processor does with a held answer.
func BenchmarkCheckedCompletion(b *testing.B) {
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("lorem ipsum dolor sit amet ", 100<<10/27) + `"},"finish_reason":"stop"}]}`)
	a, _ := For(config.APIOpenAI)
	b.SetBytes(int64(len(answer)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tr := a.NewResponseTranslator(&Endpoint{}, Request{}, Env{})
		if _, err := tr.Translate(answer, true); err != nil {
			b.Fatal(err)
		}
	}
}
