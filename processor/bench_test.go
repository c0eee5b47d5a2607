package processor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/envoy"
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

// BenchmarkAttemptStream measures one streamed attempt as production sees
// it: every message is unmarshalled from the bytes Envoy would send and
// every answer marshalled, as grpc-go's codec does, with the metadata and
// attributes the generated upstream ext_proc filter makes Envoy attach
// (envoyAttempt). Cases cross the chain length (2 and 8 targets) with the
// answer's length (50, 200 and 800 SSE chunks); the per-chunk cost is the
// slope over chunks, the per-target cost the slope over targets. The route
// phase that makes each plan runs outside the timer.
func BenchmarkAttemptStream(b *testing.B) {
	for _, targets := range []int{2, 8} {
		for _, chunks := range []int{50, 200, 800} {
			b.Run(fmt.Sprintf("targets=%d/chunks=%d", targets, chunks), func(b *testing.B) {
				benchAttemptStream(b, targets, chunks)
			})
		}
	}
}

// chainConfig is a configuration whose chain for model premium has n
// OpenAI targets.
func chainConfig(n int) string {
	var y strings.Builder
	y.WriteString("providers:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - {name: p%d, api: openai, host: p%d.example.com, auth: {key_env: TEST_OPENAI_KEY}}\n", i, i)
	}
	y.WriteString("chains:\n  - name: long\n    match: {models: [premium]}\n    targets:\n")
	for i := range n {
		fmt.Fprintf(&y, "      - {provider: p%d, model: gpt-4o-%d}\n", i, i)
	}
	y.WriteString("limits: {max_body_bytes: 1MiB}\n")
	return y.String()
}

// BenchmarkRoutePhaseTargets measures the route phase (headers and body,
// the answers marshalled as grpc-go does) for a chain of 2 and of 8
// targets: the per-target cost of planning and publishing the plan.
func BenchmarkRoutePhaseTargets(b *testing.B) {
	for _, targets := range []int{2, 8} {
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			h := newHarnessYAML(b, chainConfig(targets))
			rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json", "x-request-id", "bench")
			rb := reqBody(benchBody(2 << 10))
			b.ReportAllocs()
			for b.Loop() {
				r := newRouteStream(h.srv, h.srv.state.Load())
				for _, m := range []*extprocv3.ProcessingRequest{rh, rb} {
					out, err := r.handle(m)
					if err != nil || len(out) != 1 || out[0].GetImmediateResponse() != nil {
						b.Fatalf("route phase: %v %v", out, err)
					}
					if _, err := proto.Marshal(out[0]); err != nil {
						b.Fatal(err)
					}
				}
				r.end(nil)
			}
		})
	}
}

func benchAttemptStream(b *testing.B, targets, chunks int) {
	h := newHarnessYAML(b, chainConfig(targets))
	env := newEnvoyAttempt(b, h.srv.state.Load().cfg)
	body := benchBody(2 << 10)
	rh := reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", ":authority", "gateway.example.com", ":scheme", "https",
		"content-type", "application/json", "x-request-id", "bench", "user-agent", "OpenAI/Go 3.98.0", "accept", "application/json",
		"x-forwarded-proto", "https", "x-envoy-expected-rq-timeout-ms", "60000")
	rb := reqBody(body)
	stream := strings.ReplaceAll(benchBody(2<<10), `"model":"premium"`, `"model":"premium","stream":true`)
	srb := reqBody(stream)
	msgs := []*extprocv3.ProcessingRequest{
		reqHeaders(false, ":path", "/v1/chat/completions", ":method", "POST", ":authority", "p0.example.com", ":scheme", "https",
			"content-type", "application/json", "content-length", strconv.Itoa(len(stream)), "x-request-id", "bench",
			"user-agent", "OpenAI/Go 3.98.0", "accept", "text/event-stream", "x-forwarded-proto", "https",
			"x-envoy-expected-rq-timeout-ms", "60000", "x-envoy-attempt-count", "1"),
		srb,
		respHeaders(false, ":status", "200", "content-type", "text/event-stream", "date", "Mon, 30 Nov 2026 12:00:00 GMT",
			"x-request-id", "req_0123456789abcdef", "openai-processing-ms", "120", "openai-version", "2020-10-01",
			"x-ratelimit-remaining-requests", "9999", "x-ratelimit-remaining-tokens", "1999000", "cache-control", "no-cache, must-revalidate",
			"cf-ray", "8f0c0c0c0c0c0c0c-SJC"),
	}
	for i := range chunks {
		ev := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"token` + strconv.Itoa(i) + ` "},"finish_reason":null}]}` + "\n\n"
		if i == chunks-1 {
			ev = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
		}
		msgs = append(msgs, respBody(ev, i == chunks-1))
	}
	wire := make([][]byte, len(msgs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := h.srv.state.Load()
		r := newRouteStream(h.srv, st)
		mustHandle(b, r, rh)
		out, err := r.handle(srb)
		if err != nil || len(out) == 0 || out[0].GetDynamicMetadata() == nil {
			b.Fatalf("route phase: %v %v", out, err)
		}
		env.encode(b, wire, msgs, out[0].GetDynamicMetadata(), "p0")
		b.StartTimer()
		a := newAttemptStream(h.srv, st)
		answers := 0
		for _, w := range wire {
			req := &extprocv3.ProcessingRequest{}
			if err := proto.Unmarshal(w, req); err != nil {
				b.Fatal(err)
			}
			resps, err := a.handle(req)
			if err != nil {
				b.Fatal(err)
			}
			for _, resp := range resps {
				if resp.GetImmediateResponse() != nil {
					b.Fatalf("unexpected immediate response: %s", resp.GetImmediateResponse().GetBody())
				}
				if _, err := proto.Marshal(resp); err != nil {
					b.Fatal(err)
				}
				answers++
			}
		}
		a.end(nil)
		if answers != len(wire) {
			b.Fatalf("answers: got %d, want %d (one per message)", answers, len(wire))
		}
		_ = rb
	}
}

// envoyAttempt is what Envoy attaches to each attempt-phase message under
// the upstream ext_proc filter envoy-config generates: the forwarding
// namespaces on every message (ext_proc.cc Filter::addDynamicMetadata) and
// the request_attributes on the first (Filter::addAttributes).
type envoyAttempt struct {
	fwd   []string
	attrs []string
}

func newEnvoyAttempt(b *testing.B, cfg *config.Config) *envoyAttempt {
	f, err := envoy.BuildFragments(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range f.Clusters {
		var o upstreamhttpv3.HttpProtocolOptions
		a := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
		if a == nil || a.UnmarshalTo(&o) != nil {
			continue
		}
		for _, hf := range o.GetHttpFilters() {
			var ep extprocfilterv3.ExternalProcessor
			if hf.GetTypedConfig().UnmarshalTo(&ep) == nil && ep.GetGrpcService() != nil {
				return &envoyAttempt{fwd: ep.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(), attrs: ep.GetRequestAttributes()}
			}
		}
	}
	b.Fatal("no upstream ext_proc filter in the generated configuration")
	return nil
}

// metadataAttr matches a request attribute reading one dynamic metadata
// value: metadata.filter_metadata['ns']['key'].
var metadataAttr = regexp.MustCompile(`^metadata\.filter_metadata\['([^'\\]*)'\]\['([^'\\]*)'\]$`)

// encode marshals msgs into wire as Envoy sends them for dynamic metadata dm
// on attempt 1 to provider p.
func (e *envoyAttempt) encode(b *testing.B, wire [][]byte, msgs []*extprocv3.ProcessingRequest, dm *structpb.Struct, p string) {
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for _, ns := range e.fwd {
		if s := dm.GetFields()[ns].GetStructValue(); s != nil {
			md.FilterMetadata[ns] = s
		}
	}
	attrs := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	for _, a := range e.attrs {
		switch m := metadataAttr.FindStringSubmatch(a); {
		case a == contract.AttrHostMetadata:
			attrs.Fields[a] = structpb.NewStringValue(hostMetadataText(b, p))
		case a == contract.AttrAttemptCount:
			attrs.Fields[a] = structpb.NewNumberValue(1)
		case m != nil:
			if v := dm.GetFields()[m[1]].GetStructValue().GetFields()[m[2]]; v.GetStringValue() != "" {
				attrs.Fields[a] = v
			}
		}
	}
	for i, m := range msgs {
		c := proto.Clone(m).(*extprocv3.ProcessingRequest)
		c.MetadataContext = md
		if i == 0 {
			c.Attributes = map[string]*structpb.Struct{contract.AttrNamespace: attrs}
			// ext_proc.cc Filter::encodeProtocolConfig: on the first message.
			c.ProtocolConfig = &extprocv3.ProtocolConfiguration{RequestBodyMode: extprocfilterv3.ProcessingMode_BUFFERED,
				ResponseBodyMode: extprocfilterv3.ProcessingMode_STREAMED, SendBodyWithoutWaitingForHeaderResponse: true}
		}
		w, err := proto.Marshal(c)
		if err != nil {
			b.Fatal(err)
		}
		wire[i] = w
	}
}
