package loadgen

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/processor"
)

// serveLLMFailover runs this project's ext_proc server in-process on a free
// loopback port with a chain of targets OpenAI targets.
func serveLLMFailover(t *testing.T, targets int) (*config.Config, string) {
	t.Helper()
	t.Setenv("LOADGEN_PROVIDER_KEY", "sk-provider-key")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(LLMFailoverConfig("load", targets, lis.Addr().String(), "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := processor.New(processor.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(srv.GRPCServerOptions()...)
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return cfg, lis.Addr().String()
}

func header(h Headers, k string) string {
	v, _ := h.Get(k)
	return v
}

// Every request of a short run against llm-failover completes with the
// mutations the server makes: the model rewritten for the first target, the
// provider's key instead of the client's, the plan handed from the route
// phase to the attempt phase, and the provider named on the answer.
func TestRun_LLMFailoverRequestsCompleteWithTheServersMutations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		targets int
		shape   Shape
		msgs    int // messages per request: route 3, attempt 3 + chunks
	}{
		{"json-2KB", 2, Shape{Model: "load", BodyBytes: 2048}, 7},
		{"sse-20-events-8-targets", 8, Shape{Model: "load", BodyBytes: 2048, Events: 20}, 3 + 3 + 21},
		{"json-64KB", 2, Shape{Model: "load", BodyBytes: 64 << 10}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, addr := serveLLMFailover(t, tc.targets)
			p, err := LLMFailover(cfg, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Body) != tc.shape.BodyBytes {
				t.Errorf("body is %d bytes, want %d", len(p.Body), tc.shape.BodyBytes)
			}
			const n = 40
			rep, err := Run(context.Background(), p, Options{Addr: addr, Concurrency: 4, Requests: n, Duration: time.Minute, PID: os.Getpid()})
			if err != nil {
				t.Fatalf("run: %v (report %+v)", err, rep)
			}
			if rep.Requests != n || rep.Failed != 0 {
				t.Fatalf("requests %d failed %d (%v), want %d and 0", rep.Requests, rep.Failed, rep.Errors, n)
			}
			if got := rep.Observed.Messages; got != n*tc.msgs {
				t.Errorf("messages: %d, want %d per request", got, tc.msgs)
			}
			// Both namespaces (priority group, plan) on each request.
			if got := rep.Observed.MetadataNamespaces; got < 2*n {
				t.Errorf("dynamic metadata namespaces received: %d, want at least %d", got, 2*n)
			}
			if rep.Observed.BodyMutations < n {
				t.Errorf("body mutations: %d, want at least one per request", rep.Observed.BodyMutations)
			}
			s := rep.Sample
			if got := header(s.UpstreamHeaders, "authorization"); got != "Bearer sk-provider-key" {
				t.Errorf("provider sees authorization %q, want the provider's key", got)
			}
			if !strings.Contains(s.UpstreamBody, `"model":"gpt-4o-mini"`) {
				t.Errorf("provider's body does not name the target's model: %.200s", s.UpstreamBody)
			}
			if got := header(s.ResponseHeaders, contract.HeaderProvider); got != "p1" {
				t.Errorf("answer's %s = %q, want p1", contract.HeaderProvider, got)
			}
			if tc.shape.Events > 0 && (!strings.Contains(s.ResponseBody, "word18 ") || !strings.HasSuffix(s.ResponseBody, "data: [DONE]\n\n")) {
				t.Errorf("streamed answer lost events: %.300s", s.ResponseBody)
			}
			if rep.RPS <= 0 || rep.P50US <= 0 || rep.P99US < rep.P50US || rep.ServerCPUUS <= 0 {
				t.Errorf("figures not sane: %+v", rep)
			}
			var buf bytes.Buffer
			if err := Table(&buf, rep); err != nil || !strings.Contains(buf.String(), "llm-failover") {
				t.Errorf("table: %v %q", err, buf.String())
			}
		})
	}
}

// The harness finds this test's own listening socket's process.
func TestPIDListening_FindsTheListeningProcess(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	pid, err := PIDListening(lis.Addr().String())
	if err != nil || pid != os.Getpid() {
		t.Fatalf("PIDListening = %d, %v; want %d", pid, err, os.Getpid())
	}
	if _, err := ProcessCPU(pid); err != nil {
		t.Fatal(err)
	}
}

// A request body has exactly the size asked for, and stays valid JSON.
func TestChatBody_HasTheSizeAskedFor(t *testing.T) {
	for _, n := range []int{200, 2048, 64 << 10, 1 << 20} {
		b := ChatBody("m", n, n%2 == 0)
		if len(b) != n || !bytes.HasSuffix(b, []byte(`"}]}`)) {
			t.Errorf("ChatBody(%d): %d bytes", n, len(b))
		}
	}
}

// With a clients policy the route phase asks for the client's address: the
// profile sends it once, and the request carries x-forwarded-for as the
// connection manager with use_remote_address appends it.
func TestLLMFailover_ClientsPolicyAddsTheClientAddress(t *testing.T) {
	t.Setenv("LOADGEN_PROVIDER_KEY", "sk-provider-key")
	yaml := string(LLMFailoverConfig("load", 2, "127.0.0.1:50051", "127.0.0.1:9464")) +
		"clients:\n  default: {action: allow}\n  list:\n    - {name: lan, sources: [127.0.0.0/8]}\n"
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := LLMFailover(cfg, Shape{Model: "load", BodyBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Route.RequestAttributes[contract.AttrSourceAddress].GetStringValue(); got != downstreamPeer {
		t.Errorf("source.address = %q, want %q", got, downstreamPeer)
	}
	if _, sent := p.Route.RequestAttributes[contract.AttrURISAN]; sent {
		t.Error("a URI SAN is sent without downstream TLS")
	}
	if got := header(p.Request, "x-forwarded-for"); got != "127.0.0.1" {
		t.Errorf("x-forwarded-for = %q, want the peer's address", got)
	}
}
