package processor

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// bodyBenchConfig has one single-target chain per wire format, so each
// benchmark case plans exactly one target: "gpt-4o" is sent to OpenAI with
// the body's own model (nothing to rewrite), "premium" to OpenAI as gpt-4o
// (the model rewritten), "claude" to Anthropic and "gem" to Gemini
// (translated).
const bodyBenchConfig = `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
  - {name: claude, api: anthropic, host: api.anthropic.com, auth: {key_env: TEST_ANTHROPIC_KEY}}
  - {name: gem, api: gemini, host: g.example}
chains:
  - {name: same, match: {models: [gpt-4o]}, targets: [{provider: openai, model: gpt-4o}]}
  - {name: rewrite, match: {models: [premium]}, targets: [{provider: openai, model: gpt-4o}]}
  - {name: anthropic, match: {models: [claude]}, targets: [{provider: claude, model: claude-sonnet-4-5}]}
  - {name: gemini, match: {models: [gem]}, targets: [{provider: gem, model: gemini-2.5-pro}]}
breaker: {jitter: 0}
server: {stream_first_event_timeout: 300ms}
limits: {max_body_bytes: 2MiB}
`

// benchCase is one benchmarked target: the model a client asks for and the
// provider the plan sends it to.
type benchCase struct{ name, model, provider string }

var bodyBenchCases = []benchCase{
	{"openai-same", "gpt-4o", "openai"},
	{"openai-rewrite", "premium", "openai"},
	{"anthropic", "claude", "claude"},
	{"gemini", "gem", "gem"},
}

// benchChat is a chat request of about size bytes in the shape of a real
// conversation: a system prompt, a tool, user and assistant turns with tool
// calls and results, escaped quotes and non-ASCII text.
func benchChat(model string, size int, stream bool) string {
	var b strings.Builder
	b.WriteString(`{"model":"` + model + `","messages":[{"role":"system","content":"You are a helpful assistant."}`)
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
	b.WriteString(`,{"role":"user","content":"Summarize."}],"temperature":0.3,"max_tokens":512,`)
	if stream {
		b.WriteString(`"stream":true,"stream_options":{"include_usage":true},`)
	}
	b.WriteString(`"tools":[{"type":"function","function":{"name":"lookup","description":"Look something up","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}]}`)
	return b.String()
}

// benchRequest is the messages of one request as Envoy sends them to both
// phases, up to the attempt's request body.
type benchRequest struct {
	routeHeaders, body, attemptHeaders *extprocv3.ProcessingRequest
}

func newBenchRequest(b *testing.B, h *harness, c benchCase, body string) benchRequest {
	dm := h.planFor(body)
	if dm == nil {
		b.Fatalf("%s: no plan", c.name)
	}
	return benchRequest{
		routeHeaders: reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json",
			"x-request-id", "bench"),
		body:           reqBody(body),
		attemptHeaders: h.attemptRequest(dm, 1, c.provider, "bench"),
	}
}

// run drives the route phase and the attempt phase's request through the
// stream handlers (no gRPC transport) and returns the attempt stream,
// waiting for response headers.
func (q benchRequest) run(b *testing.B, h *harness) *attemptStream {
	st := h.srv.state.Load()
	r := newRouteStream(h.srv, st)
	mustHandle(b, r, q.routeHeaders)
	mustHandle(b, r, q.body)
	a := newAttemptStream(h.srv, st)
	mustHandle(b, a, q.attemptHeaders)
	mustHandle(b, a, q.body)
	return a
}

// BenchmarkRequestBody measures what a request body costs the server: the
// route phase (inspection, the targets' check, the plan) and the attempt
// phase's request (the body prepared for the target), for each wire format
// and for 2 KB, 64 KB and 1 MB bodies. The per-KB cost is the slope between
// sizes.
func BenchmarkRequestBody(b *testing.B) {
	for _, c := range bodyBenchCases {
		for _, size := range []int{2 << 10, 64 << 10, 1 << 20} {
			b.Run(c.name+"/"+sizeName(size), func(b *testing.B) {
				h := newHarnessYAML(b, bodyBenchConfig)
				body := benchChat(c.model, size, false)
				q := newBenchRequest(b, h, c, body)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					a := q.run(b, h)
					a.end(nil)
				}
				cpu.report(b)
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MB"
	}
	return strconv.Itoa(n>>10) + "KB"
}

// benchEvents is a provider's event stream with n content events, one event
// per body chunk as providers flush them, the last chunk carrying
// end_of_stream.
func benchEvents(provider string, n int) []*extprocv3.ProcessingRequest {
	var evs []string
	switch provider {
	case "openai":
		for i := range n {
			evs = append(evs, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" token`+strconv.Itoa(i)+` and"},"finish_reason":null}],"usage":null}`+"\n\n")
		}
		evs = append(evs, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`+"\n\n",
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":25,"completion_tokens":`+strconv.Itoa(2*n)+`,"total_tokens":`+strconv.Itoa(2*n+25)+`}}`+"\n\n",
			"data: [DONE]\n\n")
	case "claude":
		evs = append(evs, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		for i := range n {
			evs = append(evs, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token"+strconv.Itoa(i)+" and\"}}\n\n")
		}
		evs = append(evs, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":"+strconv.Itoa(2*n)+"}}\n\n",
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	case "gem":
		for i := range n {
			evs = append(evs, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \" token"+strconv.Itoa(i)+" and\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 25,\"candidatesTokenCount\": "+strconv.Itoa(2*i)+",\"totalTokenCount\": "+strconv.Itoa(2*i+25)+"},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"bench\"}\r\n\r\n")
		}
		evs = append(evs, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \".\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 25,\"candidatesTokenCount\": "+strconv.Itoa(2*n)+",\"totalTokenCount\": "+strconv.Itoa(2*n+25)+"},\"modelVersion\": \"gemini-2.5-pro\",\"responseId\": \"bench\"}\r\n\r\n")
	}
	out := make([]*extprocv3.ProcessingRequest, len(evs))
	for i, e := range evs {
		out[i] = respBody(e, i == len(evs)-1)
	}
	return out
}

// BenchmarkStreamChunks measures a streamed answer of 50, 200 and 800
// content events, one event per body chunk, through the attempt phase: the
// request, the held response headers, the first event judged, then every
// chunk monitored, metered and (Anthropic, Gemini) translated. The per-chunk
// cost is the slope between stream lengths.
func BenchmarkStreamChunks(b *testing.B) {
	for _, c := range []benchCase{{"openai", "gpt-4o", "openai"}, {"anthropic", "claude", "claude"}, {"gemini", "gem", "gem"}} {
		for _, n := range []int{50, 200, 800} {
			b.Run(c.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				h := newHarnessYAML(b, bodyBenchConfig)
				q := newBenchRequest(b, h, c, benchChat(c.model, 2<<10, true))
				rh := respHeaders(false, ":status", "200", "content-type", "text/event-stream")
				chunks := benchEvents(c.provider, n)
				out := 0
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					a := q.run(b, h)
					if _, err := a.handle(rh); err != nil { // held until the first content event
						b.Fatal(err)
					}
					for _, ch := range chunks {
						rs, err := a.handle(ch)
						if err != nil {
							b.Fatal(err)
						}
						for _, r := range rs {
							out += len(r.GetResponseBody().GetResponse().GetBodyMutation().GetBody())
						}
					}
					a.end(nil)
				}
				cpu.report(b)
				if c.provider != "openai" && out == 0 {
					b.Fatal("nothing translated")
				}
			})
		}
	}
}

// cpuClock is the process's CPU time (user and system, every thread: the
// garbage collector's work included) when a benchmark loop started.
type cpuClock time.Duration

func startCPU() cpuClock { return cpuClock(processCPU()) }

// report adds cpu-ns/op: the process's CPU time per operation, which,
// unlike ns/op, does not count the time other processes on a loaded
// machine take the cores away.
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-time.Duration(c))/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
