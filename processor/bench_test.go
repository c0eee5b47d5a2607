package processor

import (
	"strconv"
	"strings"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/llm-failover/llm-failover/contract"
)

// benchBody is a chat request of about n bytes.
func benchBody(n int) string {
	msg := strings.Repeat("lorem ipsum dolor sit amet ", n/27+1)[:n]
	return `{"model":"premium","temperature":0.2,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"` + msg + `"}]}`
}

// BenchmarkPhases measures the server's own work per request for both
// phases (route: headers+body; attempt: headers, body, response headers and
// one body chunk), calling the stream handlers directly: no gRPC transport.
func BenchmarkPhases(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
			h := newHarness(b, "limits: {max_body_bytes: 1MiB}\n")
			body := benchBody(size)
			rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "bench")
			rb := reqBody(body)
			dm := h.planFor(body)
			ah := h.attemptRequest(dm, 1, "openai", "bench")
			resp := respHeaders(false, ":status", "200", "content-type", "application/json")
			chunk := respBody(`{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"ok"}}]}`, true)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st := h.srv.state.Load()
				r := newRouteStream(h.srv, st)
				mustHandle(b, r, rh)
				mustHandle(b, r, rb)
				a := newAttemptStream(h.srv, st)
				mustHandle(b, a, ah)
				mustHandle(b, a, rb)
				if _, err := a.handle(resp); err != nil { // held until the answer is whole
					b.Fatal(err)
				}
				mustHandle(b, a, chunk)
				a.end(nil)
			}
		})
	}
}

func mustHandle(b *testing.B, h handler, req *extprocv3.ProcessingRequest) {
	out, err := h.handle(req)
	if err != nil || len(out) == 0 {
		b.Fatalf("handle: %v %v", out, err)
	}
	if out[0].GetImmediateResponse() != nil {
		b.Fatalf("unexpected immediate response: %s", out[0].GetImmediateResponse().GetBody())
	}
}

// BenchmarkPhasesGRPC runs the same request through real gRPC streams over
// bufconn: both phases, six messages. The figure includes the test client's
// own gRPC work on the same two cores, so it bounds the server's cost from above.
func BenchmarkPhasesGRPC(b *testing.B) {
	h := newHarness(b, "limits: {max_body_bytes: 1MiB}\n")
	body := benchBody(2 << 10)
	rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "bench")
	rb := reqBody(body)
	dm := h.planFor(body)
	ah := h.attemptRequest(dm, 1, "openai", "bench")
	resp := respHeaders(false, ":status", "200", "content-type", "application/json")
	chunk := respBody(`{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"ok"}}]}`, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := h.open(contract.PhaseRoute)
		r.send(rh)
		r.recv()
		r.send(rb)
		r.recv()
		r.close()
		a := h.open(contract.PhaseAttempt)
		a.send(ah)
		a.recv()
		a.send(rb)
		a.recv()
		a.send(resp)
		a.send(chunk) // the headers are held until the answer is whole
		a.recv()
		a.recv()
		a.close()
	}
}

// BenchmarkRoutePhaseCrossFormat measures the route phase (headers and body)
// for a chain whose targets are Anthropic, Gemini and OpenAI: the phase
// checks that each cross-format target can express the request.
func BenchmarkRoutePhaseCrossFormat(b *testing.B) {
	for _, size := range []int{2 << 10, 100 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
			h := newHarnessYAML(b, `
providers:
  - {name: claude, api: anthropic, host: a.example}
  - {name: gem, api: gemini, host: g.example}
  - {name: openai, api: openai, host: o.example}
chains:
  - {name: mixed, match: {models: [premium]}, targets: [{provider: claude, model: claude-sonnet-4-5}, {provider: gem, model: gemini-2.5-pro}, {provider: openai, model: gpt-4o}]}
limits: {max_body_bytes: 1MiB}
`)
			body := benchBody(size)
			rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "bench")
			rb := reqBody(body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r := newRouteStream(h.srv, h.srv.state.Load())
				mustHandle(b, r, rh)
				mustHandle(b, r, rb)
			}
		})
	}
}
