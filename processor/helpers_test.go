package processor

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait on a stream.
const testTimeout = 10 * time.Second

// fakeClock is the server's clock in tests: time moves only by Advance, and
// the hold timers it makes fire only when Advance reaches them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	made   chan struct{} // a token per timer made, for fireNextTimer
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), made: make(chan struct{}, 1024)}
}

var _ clock.Timers = (*fakeClock)(nil)

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the time by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.fireDue()
	c.mu.Unlock()
}

// fireDue fires (and forgets) the timers due at c.now; c.mu is held.
func (c *fakeClock) fireDue() {
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped {
			continue
		}
		if !c.now.Before(t.at) {
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

func (c *fakeClock) NewTimer(d time.Duration) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.fireDue()
	select {
	case c.made <- struct{}{}:
	default:
	}
	return t
}

// fireNextTimer waits until the server has a pending timer (it makes them
// on its own goroutines) and advances the time to the earliest one's
// deadline, firing it: a hold that times out, without waiting for it.
func (c *fakeClock) fireNextTimer(t testing.TB) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, tm := range c.timers {
			if !tm.stopped && (next == nil || tm.at.Before(next.at)) {
				next = tm
			}
		}
		if next != nil {
			c.now = next.at
			c.fireDue()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		select {
		case <-c.made:
		case <-deadline:
			t.Fatal("no timer was made to fire")
		}
	}
}

// fakeTimer is a timer of a fakeClock.
type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	ch      chan time.Time
	stopped bool // guarded by c.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && len(t.ch) == 0
	t.stopped = true
	return was
}

const testConfig = `
providers:
  - name: openai
    api: openai
    host: api.openai.com
    auth: {key_env: TEST_OPENAI_KEY}
  - name: groq
    api: openai-compatible
    host: api.groq.com
    base_path: /openai/v1
    auth: {key_env: TEST_GROQ_KEY}
chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: groq, model: llama-3.3-70b-versatile}
breaker:
  consecutive_failures: 3
  open_for: 30s
  jitter: 0
server:
  stream_first_event_timeout: 300ms
`

// harness is a real gRPC server over bufconn with the processor registered.
type harness struct {
	t      testing.TB
	srv    *Server
	clock  *fakeClock
	client extprocv3.ExternalProcessorClient
	logs   *syncBuffer // the server's JSON log lines
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newHarness(t testing.TB, extraYAML string) *harness {
	t.Helper()
	t.Setenv("TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("TEST_GROQ_KEY", "gsk-groq-secret")
	if !strings.Contains(extraYAML, "limits:") {
		extraYAML += "limits: {max_body_bytes: 4KiB}\n"
	}
	return newHarnessYAML(t, testConfig+extraYAML)
}

// newHarnessYAML is newHarness with a whole configuration.
func newHarnessYAML(t testing.TB, yamlText string) *harness {
	t.Helper()
	t.Setenv("TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("TEST_GROQ_KEY", "gsk-groq-secret")
	t.Setenv("TEST_ANTHROPIC_KEY", "sk-ant-secret")
	cfg, err := config.Parse([]byte(yamlText))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clock := newFakeClock()
	logs := &syncBuffer{}
	srv, err := New(Options{Config: cfg, Clock: clock, Rand: func() float64 { return 0.5 },
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(srv.GRPCServerOptions()...)
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32))) // Envoy's gRPC client has no receive limit
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	return &harness{t: t, srv: srv, clock: clock, client: extprocv3.NewExternalProcessorClient(conn), logs: logs}
}

// stream is one ext_proc stream as Envoy would open it.
type stream struct {
	t      testing.TB
	s      extprocv3.ExternalProcessor_ProcessClient
	cancel context.CancelFunc
}

func (h *harness) open(phase string) *stream {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	ctx = metadata.AppendToOutgoingContext(ctx, contract.PhaseHeader, phase)
	s, err := h.client.Process(ctx)
	if err != nil {
		cancel()
		h.t.Fatalf("Process: %v", err)
	}
	st := &stream{t: h.t, s: s, cancel: cancel}
	h.t.Cleanup(cancel)
	return st
}

func (s *stream) send(req *extprocv3.ProcessingRequest) {
	s.t.Helper()
	if err := s.s.Send(req); err != nil {
		s.t.Fatalf("send: %v", err)
	}
}

func (s *stream) recv() *extprocv3.ProcessingResponse {
	s.t.Helper()
	r, err := s.s.Recv()
	if err != nil {
		s.t.Fatalf("recv: %v", err)
	}
	return r
}

// recvSetHeaders receives the answer to response headers and returns the
// headers it sets.
func (s *stream) recvSetHeaders() map[string]string {
	s.t.Helper()
	return setHeaders(s.recv().GetResponseHeaders().GetResponse().GetHeaderMutation())
}

// close ends the stream from Envoy's side and waits for the server to finish.
func (s *stream) close() {
	_ = s.s.CloseSend()
	_, _ = s.s.Recv()
	s.cancel()
}

func hdrs(kv ...string) *corev3.HeaderMap {
	m := &corev3.HeaderMap{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])})
	}
	return m
}

func reqHeaders(eos bool, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: hdrs(kv...), EndOfStream: eos}}}
}

func reqBody(b string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: []byte(b), EndOfStream: true}}}
}

func respHeaders(eos bool, kv ...string) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extprocv3.HttpHeaders{Headers: hdrs(kv...), EndOfStream: eos}}}
}

func respBody(b string, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: []byte(b), EndOfStream: eos}}}
}

// setHeaders returns the set headers of a mutation as a map.
func setHeaders(m *extprocv3.HeaderMutation) map[string]string {
	out := map[string]string{}
	for _, h := range m.GetSetHeaders() {
		out[h.GetHeader().GetKey()] = string(h.GetHeader().GetRawValue())
	}
	return out
}

// hostMetadataText is xds.upstream_host_metadata as Envoy prints it.
func hostMetadataText(t testing.TB, providerName string) string {
	t.Helper()
	s, _ := structpb.NewStruct(map[string]any{"provider": providerName})
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{contract.EndpointNamespace: s}}
	b, err := prototext.MarshalOptions{}.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// planFor runs a route phase for body and returns the dynamic metadata it published.
func (h *harness) planFor(body string, kv ...string) *structpb.Struct {
	h.t.Helper()
	dm, s := h.planOpen(body, kv...)
	s.close()
	return dm
}

// planOpen is planFor with the route stream left open, as Envoy keeps it
// while the attempts run.
func (h *harness) planOpen(body string, kv ...string) (*structpb.Struct, *stream) {
	h.t.Helper()
	s := h.open(contract.PhaseRoute)
	args := append([]string{":path", "/v1/chat/completions", ":method", "POST", "content-type", "application/json",
		"x-request-id", "req-1"}, kv...)
	s.send(reqHeaders(false, args...))
	if r := s.recv(); r.GetRequestHeaders() == nil {
		h.t.Fatalf("route headers: got %v, want a headers response", r)
	}
	s.send(reqBody(body))
	r := s.recv()
	if r.GetRequestBody() == nil {
		h.t.Fatalf("route body: got %v, want a body response", r)
	}
	return r.GetDynamicMetadata(), s
}

// resign signs dm's plan again after a test changed it, as a replica
// sharing the key would have signed it.
func (h *harness) resign(dm *structpb.Struct) {
	h.t.Helper()
	editPlan(h.t, dm, func(p *contract.Plan) { h.srv.planKeys.sign(p, time.UnixMilli(p.Exp)) })
}

// planOf is the plan dm publishes.
func planOf(t testing.TB, dm *structpb.Struct) contract.Plan {
	t.Helper()
	p, err := contract.DecodePlanString(dm.GetFields()["llm_failover.plan"].GetStructValue().GetFields()[contract.PlanKey].GetStringValue())
	if err != nil {
		t.Fatalf("plan of %v: %v", dm, err)
	}
	return p
}

// editPlan changes the plan dm publishes with edit, keeping its signature
// (resign signs it again).
func editPlan(t testing.TB, dm *structpb.Struct, edit func(p *contract.Plan)) {
	t.Helper()
	p := planOf(t, dm)
	edit(&p)
	dm.GetFields()["llm_failover.plan"].GetStructValue().Fields[contract.PlanKey] = structpb.NewStringValue(contract.EncodePlanString(&p))
}

// publishedPlan is the dynamic metadata a route phase would publish for p,
// signed or not.
func publishedPlan(p contract.Plan) *structpb.Struct {
	return contract.EncodePlan("llm_failover", &p)
}

// waitStreams waits until at most n (default 0) ext_proc streams run: the
// server sees a stream's end asynchronously.
func (h *harness) waitStreams(n ...int) {
	h.t.Helper()
	want := int64(0)
	if len(n) > 0 {
		want = int64(n[0])
	}
	deadline := time.Now().Add(testTimeout)
	for h.srv.Streams() > want {
		if time.Now().After(deadline) {
			h.t.Fatalf("streams: %d still running, want at most %d", h.srv.Streams(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// endAttempt ends an attempt stream from Envoy's side (a reset or a torn
// down attempt) and waits until the server has seen the end.
func (h *harness) endAttempt(s *stream) {
	h.t.Helper()
	before := h.srv.Streams()
	s.cancel()
	deadline := time.Now().Add(testTimeout)
	for h.srv.Streams() >= before {
		if time.Now().After(deadline) {
			h.t.Fatalf("the attempt stream did not end")
		}
		time.Sleep(time.Millisecond)
	}
}

// attemptRequest is the attempt phase's first message for attempt n on
// providerName, as the generated upstream filter makes Envoy send it: the
// plan is the request attribute contract.PlanAttribute, read from the
// dynamic metadata dm the route phase published.
func (h *harness) attemptRequest(dm *structpb.Struct, attempt int, providerName, reqID string, kv ...string) *extprocv3.ProcessingRequest {
	h.t.Helper()
	args := append([]string{":path", "/v1/chat/completions", ":method", "POST", "x-request-id", reqID,
		"authorization", "Bearer client-key", "x-api-key", "left-by-attempt-1"}, kv...)
	r := reqHeaders(false, args...)
	r.MetadataContext = &corev3.Metadata{} // no forwarding namespaces: Envoy sends it empty
	attrs := map[string]*structpb.Value{
		contract.AttrHostMetadata: structpb.NewStringValue(hostMetadataText(h.t, providerName)),
		contract.AttrAttemptCount: structpb.NewNumberValue(float64(attempt)),
	}
	if v, ok := dm.GetFields()["llm_failover.plan"].GetStructValue().GetFields()[contract.PlanKey]; ok {
		attrs[contract.PlanAttribute("llm_failover")] = v
	}
	r.Attributes = map[string]*structpb.Struct{contract.AttrNamespace: {Fields: attrs}}
	return r
}

// forwardedAttemptRequest is attemptRequest as an envoy-config before the
// plan attribute makes Envoy send it: dm's namespaces forwarded as
// metadata_context, and no plan attribute.
func (h *harness) forwardedAttemptRequest(dm *structpb.Struct, attempt int, providerName, reqID string) *extprocv3.ProcessingRequest {
	h.t.Helper()
	r := h.attemptRequest(dm, attempt, providerName, reqID)
	delete(r.Attributes[contract.AttrNamespace].Fields, contract.PlanAttribute("llm_failover"))
	r.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, v := range dm.GetFields() {
		r.MetadataContext.FilterMetadata[ns] = v.GetStructValue()
	}
	return r
}

// runAttempt drives an attempt through its request and returns the stream
// waiting for response headers.
// streamAttempt plans body, runs the attempt numbered attempt on providerName
// and sends the provider's 200 event-stream response headers.
func (h *harness) streamAttempt(body string, attempt int, providerName, reqID string) *stream {
	h.t.Helper()
	s := h.runAttempt(h.planFor(body), attempt, providerName, reqID, body)
	s.send(respHeaders(false, ":status", "200", "content-type", "text/event-stream"))
	return s
}

func (h *harness) runAttempt(dm *structpb.Struct, attempt int, providerName, reqID, body string) *stream {
	h.t.Helper()
	s := h.open(contract.PhaseAttempt)
	s.send(h.attemptRequest(dm, attempt, providerName, reqID))
	if r := s.recv(); r.GetRequestHeaders() == nil {
		h.t.Fatalf("attempt headers: got %v, want a headers response", r)
	}
	s.send(reqBody(body))
	if r := s.recv(); r.GetRequestBody() == nil {
		h.t.Fatalf("attempt body: got %v, want a body response", r)
	}
	return s
}

func (h *harness) state(target string) string {
	b := h.srv.Registry().Lookup(target)
	if b == nil {
		return "missing"
	}
	return b.Snapshot(h.clock.Now()).State.String()
}

// trip opens the breakers of targets: as many 503s as the test
// configuration's breaker.consecutive_failures (3).
func (h *harness) trip(targets ...string) {
	h.t.Helper()
	for _, k := range targets {
		b := h.srv.Registry().Lookup(k)
		if b == nil {
			h.t.Fatalf("trip: no breaker for %q", k)
		}
		for range 3 {
			b.Record(h.clock.Now(), outcomeOf(classOf(503), 0))
		}
	}
}

func must(t *testing.T, cond bool, format string, a ...any) {
	t.Helper()
	if !cond {
		t.Fatalf(format, a...)
	}
}

func classOf(status int) provider.Classification {
	return provider.Classification{Class: provider.ClassifyStatus(status), Status: status}
}

// startDrain starts Drain (bounded by testTimeout) and returns once it is on,
// that is once a new route stream is refused with Unavailable; Drain's result
// comes on the channel.
func (h *harness) startDrain() <-chan error {
	h.t.Helper()
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		drained <- h.srv.Drain(ctx)
	}()
	deadline := time.Now().Add(testTimeout)
	for {
		n := h.open(contract.PhaseRoute)
		_ = n.s.Send(reqHeaders(true)) // a refused stream may already be closed: the status comes with Recv
		_, err := n.s.Recv()
		n.cancel()
		if status.Code(err) == codes.Unavailable {
			return drained
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("new route stream while draining: got %v, want Unavailable", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantDrained waits for Drain's result: nil, within testTimeout.
func (h *harness) wantDrained(drained <-chan error) {
	h.t.Helper()
	select {
	case err := <-drained:
		if err != nil {
			h.t.Fatalf("Drain: %v", err)
		}
	case <-time.After(testTimeout):
		h.t.Fatal("Drain did not return after the last stream ended")
	}
}
