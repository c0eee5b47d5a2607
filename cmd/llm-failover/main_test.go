package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/processor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, lumberjackMill) }

// TestCheckConfig verifies check-config prints the effective config for a
// valid file and lists every problem with its path for a broken one.
func TestCheckConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"check-config", "../../examples/config.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("valid config: exit %d, stderr %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "grpc_address: 127.0.0.1:50051") {
		t.Fatalf("effective config lacks the defaults:\n%s", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("providers: [{name: a, api: nope, host: h}]\nchains: [{name: c, targets: [{provider: b, model: m}]}]\n"), 0o600)
	out.Reset()
	errb.Reset()
	if code := run([]string{"check-config", bad}, &out, &errb); code != 1 {
		t.Fatalf("broken config: exit %d, want 1", code)
	}
	for _, want := range []string{"providers[0].api", "chains[0].targets[0].provider"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// TestExamples verifies every example config is valid and yields an
// envoy.yaml that --check accepts, so the README's commands keep working.
func TestExamples(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*.yaml")
	if len(examples) < 3 {
		t.Fatalf("examples: got %v, want config.yaml, local.yaml and compose-config.yaml", examples)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(ex), func(t *testing.T) {
			var o, e bytes.Buffer
			if code := run([]string{"check-config", ex}, &o, &e); code != 0 {
				t.Fatalf("check-config: exit %d: %s", code, e.String())
			}
			out := filepath.Join(t.TempDir(), "envoy.yaml")
			if code := run([]string{"envoy-config", "--config", ex, "--out", out}, &o, &e); code != 0 {
				t.Fatalf("generate: exit %d: %s", code, e.String())
			}
			if code := run([]string{"envoy-config", "--check", out}, &o, &e); code != 0 {
				t.Fatalf("check: exit %d: %s", code, e.String())
			}
		})
	}
}

// TestServe_HealthReadyMetricsAndDrain verifies the admin endpoints and that
// cancelling the context drains and returns.
func TestServe_HealthReadyMetricsAndDrain(t *testing.T) {
	cfg, srv := newServer(t, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	bound, done := startServer(ctx, cfg, srv, slog.New(slog.NewTextHandler(io.Discard, nil)), runOptions{})
	l := <-bound
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "llm_failover_breaker_state", "/status": `"targets"`, "/table": "<td>p/m</td><td class=\"closed\">closed</td><td>100%</td>", "/": "<title>llm-failover</title>", "/api/status": `"BREAKER_STATE_CLOSED"`} {
		resp, err := http.Get("http://" + l.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: got %d %q, want 200 containing %q", path, resp.StatusCode, b, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runServer: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runServer did not return after cancel")
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestServe_BodyAtAnEightMiBLimitCrossesTheGRPCServer verifies the served
// gRPC server takes its message limits from limits.max_body_bytes: a route
// phase with a body of exactly 8 MiB, twice grpc-go's default receive
// limit, is planned over a real TCP connection.
func TestServe_BodyAtAnEightMiBLimitCrossesTheGRPCServer(t *testing.T) {
	cfg, srv := newServer(t, "", "limits: {max_body_bytes: 8MiB}\n")
	ctx, cancel := context.WithCancel(context.Background())
	bound, done := startServer(ctx, cfg, srv, slog.New(slog.NewTextHandler(io.Discard, nil)), runOptions{})
	defer func() {
		cancel()
		<-done
	}()
	l := <-bound
	conn, err := grpc.NewClient(l.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, scancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), contract.PhaseHeader, contract.PhaseRoute), 10*time.Second)
	defer scancel()
	st, err := extprocv3.NewExternalProcessorClient(conn).Process(sctx)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(kv ...string) *corev3.HeaderMap {
		m := &corev3.HeaderMap{}
		for i := 0; i < len(kv); i += 2 {
			m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
		}
		return m
	}
	if err := st.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocv3.HttpHeaders{
		Headers: hdr(":path", "/v1/chat/completions", "content-type", "application/json")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatalf("headers answer: %v", err)
	}
	const head, tail = `{"model":"m","messages":[{"role":"user","content":"`, `"}]}`
	body := head + strings.Repeat("x", 8<<20-len(head)-len(tail)) + tail
	if err := st.Send(&extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{RequestBody: &extprocv3.HttpBody{
		Body: []byte(body), EndOfStream: true}}}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil || r.GetRequestBody() == nil || r.GetDynamicMetadata() == nil {
		t.Fatalf("body answer: got %v, %v; want the plan", r, err)
	}
	_ = st.CloseSend()
	_, _ = st.Recv()
}

// newServer parses a config with one provider p and one chain c (model m),
// the server section's listeners on 127.0.0.1:0 plus serverExtra (", key:
// value" pairs) and the sections in rest, and builds its processor.
func newServer(t *testing.T, serverExtra, rest string) (*config.Config, *processor.Server) {
	t.Helper()
	cfg, err := config.Parse([]byte(`
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0", drain_timeout: 2s` + serverExtra + `}
providers: [{name: p, api: openai, host: localhost, tls: false}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]
` + rest))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := processor.New(processor.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, srv
}

// startServer runs runServer in a goroutine until ctx ends; bound gets the
// listeners once they are open, done what runServer returned.
func startServer(ctx context.Context, cfg *config.Config, srv *processor.Server, log *slog.Logger, opts runOptions) (bound <-chan listeners, done <-chan error) {
	b := make(chan listeners, 1)
	d := make(chan error, 1)
	opts.bound = b
	go func() { d <- runServer(ctx, cfg, srv, log, opts) }()
	return b, d
}
