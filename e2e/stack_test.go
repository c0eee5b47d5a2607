package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/e2e/envoymodel"
	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/processor"
	"github.com/llm-failover/llm-failover/telemetry"
)

// Named timeouts of the suite.
const (
	// requestTimeout bounds one client request.
	requestTimeout = 10 * time.Second
	// promptly is how soon a failure must be answered (no hang).
	promptly = 3 * time.Second
	// loadTimeout is every timeout of a slowMachine stack: per-try,
	// envoy.route_message_timeout, envoy.attempt_message_slack, and the
	// client's request (twice it).
	loadTimeout = 30 * time.Second
)

// clientKey is the client's API key; it must never reach a provider.
const clientKey = "sk-client-must-not-leak"

// The chain's client model and the providers in chain order.
const chainModel = "gpt-e2e"

var providerNames = []string{"primary", "secondary", "tertiary"}

func providerKey(name string) string { return "sk-" + name + "-e2e" }

func targetModel(name string) string { return name + "-model" }

// fake is a fake provider, in process or behind its admin API.
type fake interface {
	SetFaults(fakellm.Schedule) error
	ClearFaults()
	Count() int
	Requests() []fakellm.Recorded
	Reset()
}

// fakeClock is the injected breaker clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// stackOpts tune a local stack.
type stackOpts struct {
	// deadPrimary points the primary at a closed port (connect failure).
	deadPrimary bool
	// unresolvablePrimary points the primary at unresolvablePrimaryHost, a
	// DNS name that does not resolve (the model answers *.invalid with no
	// address, without a lookup): its cluster has no healthy host.
	unresolvablePrimary bool
	// breaker overrides the breaker YAML (flow style).
	breaker string
	// perTry bounds every attempt: routing.attempt_timeout (streamed and
	// non-streamed) and envoy.per_try_timeout, the route's fallback.
	// Default 2s.
	perTry string
	// edit, when set, rewrites the config YAML of the whole stack.
	edit func(cfg string) string
	// slowMachine gives every timeout room for a loaded machine: the
	// per-try timeout, both ext_proc filters' message timeouts (through
	// envoy.route_message_timeout and envoy.attempt_message_slack) and the
	// client's request timeout (see loadTimeout). For scenarios that assert
	// what is answered, not how fast.
	slowMachine bool
	// serverEdit, when set, rewrites the config the ext_proc server runs
	// after envoy.yaml was generated from the unedited one: an Envoy and a
	// server whose configs disagree.
	serverEdit func(cfg string) string
	// telemetry, when set, is the server's (telemetry_test.go); nil: its own.
	telemetry *telemetry.Telemetry
	// modelRand, when set, is the Envoy model's random source (retry
	// back-off draws, request ids; retry_test.go); nil: math/rand/v2.
	modelRand func() uint64
}

// envoyVersionEnv names the Envoy version of an external stack
// (E2E_ENVOY_URL); default 1.40, the docker compose stack's.
const envoyVersionEnv = "E2E_ENVOY_VERSION"

// backport46952 marks the matrix entry that plays Envoy 1.38 with the
// backport of #45355 (envoymodel.Options.Backport45355): v1.38.0 lacks it,
// and whether Istio 1.30's Envoy carries it is not known, so both run.
const backport46952 = "+46952"

// matrix is the suite's matrix: every Envoy version the generator supports
// (config.EnvoyVersions), and 1.38 once more with the #45355 backport.
func matrix() []string {
	vs := config.EnvoyVersions()
	return append(vs, config.EnvoyV138+backport46952)
}

// envoyVersion is a matrix entry's Envoy version (envoy.version), and
// whether the model plays the #45355 backport.
func envoyVersion(entry string) (version string, backport45355 bool) {
	version, found := strings.CutSuffix(entry, backport46952)
	return version, found
}

// onEnvoy138 reports whether a matrix entry is an Envoy 1.38 topology.
func onEnvoy138(entry string) bool {
	v, _ := envoyVersion(entry)
	return v == config.EnvoyV138
}

// forVersions runs a scenario once per matrix entry, as parallel subtests
// named "envoy-<entry>": each builds its own stack with that version's
// topology (envoy.version in both configs, envoy.CheckVersion) in front of
// the model playing that version. Against E2E_ENVOY_URL only the external
// Envoy's version runs (E2E_ENVOY_VERSION, default 1.40).
func forVersions(t *testing.T, scenario func(t *testing.T, entry string)) {
	t.Helper()
	runVersions(t, true, scenario)
}

// forVersionsSerially is forVersions one entry at a time, for scenarios
// that measure the whole process (goroutine counts).
func forVersionsSerially(t *testing.T, scenario func(t *testing.T, entry string)) {
	t.Helper()
	runVersions(t, false, scenario)
}

func runVersions(t *testing.T, parallel bool, scenario func(t *testing.T, entry string)) {
	t.Helper()
	entries := matrix()
	if externalURL() != "" {
		v := os.Getenv(envoyVersionEnv)
		if v == "" {
			v = config.EnvoyV140
		}
		entries = []string{v}
	}
	for _, v := range entries {
		t.Run("envoy-"+v, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			scenario(t, v)
		})
	}
}

// stack is one front door with its fakes.
type stack struct {
	t   *testing.T
	url string
	// version is the Envoy version of the topology and of the model;
	// backport45355 has the model play 1.38 with the #45355 backport.
	version       string
	backport45355 bool
	fakes         map[string]fake
	client        openai.Client
	http          *http.Client
	model         *envoymodel.Model
	// reqTimeout bounds one client request; zero means requestTimeout.
	reqTimeout time.Duration

	// Local stacks only.
	local     bool
	clock     *fakeClock
	cfgYAML   string // the config the server runs
	proc      *processor.Server
	rec       recorder
	grpcAddr  string
	mu        sync.Mutex
	grpcSrv   *grpc.Server
	tel       *telemetry.Telemetry // stackOpts.telemetry
	modelRand func() uint64        // stackOpts.modelRand
	audit     *auditTrail          // the server's audit events and file (audit_test.go)
}

func externalURL() string { return os.Getenv("E2E_ENVOY_URL") }

// configYAML is the llm-failover config of the suite.
func configYAML(ports map[string]string, keyDir, extProc string, o stackOpts) string {
	var b strings.Builder
	b.WriteString("server: {stream_first_event_timeout: 1s}\nproviders:\n")
	for _, n := range providerNames {
		host, port, _ := net.SplitHostPort(ports[n])
		fmt.Fprintf(&b, "  - {name: %s, api: openai, host: %s, port: %s, tls: false, base_path: /v1, auth: {header: authorization, scheme: Bearer, key_file: %s}}\n",
			n, host, port, filepath.Join(keyDir, n+".key"))
	}
	b.WriteString("chains:\n  - name: main\n    match: {models: [" + chainModel + "]}\n    targets:\n")
	for _, n := range providerNames {
		fmt.Fprintf(&b, "      - {provider: %s, model: %s}\n", n, targetModel(n))
	}
	br := o.breaker
	if br == "" {
		br = "{consecutive_failures: 3, open_for: 30s, max_open_for: 5m, jitter: 0, half_open_probes: 1, recovery_stages: [0.5, 1.0], recovery_stage_duration: 10s}"
	}
	perTry := o.perTry
	if o.slowMachine {
		perTry = loadTimeout.String()
	}
	if perTry == "" {
		perTry = "2s"
	}
	fmt.Fprintf(&b, "routing: {attempt_timeout: {streamed: %s, non_streamed: %s}}\n", perTry, perTry)
	messageTimeouts := ""
	if o.slowMachine {
		messageTimeouts = fmt.Sprintf(", route_message_timeout: %s, attempt_message_slack: %s", loadTimeout, loadTimeout)
	}
	fmt.Fprintf(&b, "breaker: %s\nlimits: {max_body_bytes: 64KiB}\nenvoy: {ext_proc_address: %q, per_try_timeout: %s, retry_base_interval: 1ms%s}\n",
		br, extProc, perTry, messageTimeouts)
	return b.String()
}

// Example_externalConfig prints the config a real-Envoy stack must run
// (placeholders for addresses and key files); the output pins it.
func Example_externalConfig() {
	ports := map[string]string{"primary": "primary:8080", "secondary": "secondary:8080", "tertiary": "tertiary:8080"}
	y := configYAML(ports, "/run/keys", "llm-failover:50051", stackOpts{})
	if _, err := config.Parse([]byte(y)); err != nil {
		fmt.Println("invalid:", err)
	}
	fmt.Print(y)
	// Output:
	// server: {stream_first_event_timeout: 1s}
	// providers:
	//   - {name: primary, api: openai, host: primary, port: 8080, tls: false, base_path: /v1, auth: {header: authorization, scheme: Bearer, key_file: /run/keys/primary.key}}
	//   - {name: secondary, api: openai, host: secondary, port: 8080, tls: false, base_path: /v1, auth: {header: authorization, scheme: Bearer, key_file: /run/keys/secondary.key}}
	//   - {name: tertiary, api: openai, host: tertiary, port: 8080, tls: false, base_path: /v1, auth: {header: authorization, scheme: Bearer, key_file: /run/keys/tertiary.key}}
	// chains:
	//   - name: main
	//     match: {models: [gpt-e2e]}
	//     targets:
	//       - {provider: primary, model: primary-model}
	//       - {provider: secondary, model: secondary-model}
	//       - {provider: tertiary, model: tertiary-model}
	// routing: {attempt_timeout: {streamed: 2s, non_streamed: 2s}}
	// breaker: {consecutive_failures: 3, open_for: 30s, max_open_for: 5m, jitter: 0, half_open_probes: 1, recovery_stages: [0.5, 1.0], recovery_stage_duration: 10s}
	// limits: {max_body_bytes: 64KiB}
	// envoy: {ext_proc_address: "llm-failover:50051", per_try_timeout: 2s, retry_base_interval: 1ms}
}

// newStack starts a stack, or attaches to E2E_ENVOY_URL.
func newStack(t *testing.T, entry string, o stackOpts) *stack {
	t.Helper()
	if u := externalURL(); u != "" {
		return externalStack(t, u)
	}
	version, backport := envoyVersion(entry)
	s := &stack{t: t, version: version, backport45355: backport, local: true, fakes: map[string]fake{}, clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	s.tel = o.telemetry
	s.modelRand = o.modelRand
	ports := map[string]string{}
	for _, n := range providerNames {
		f := fakellm.StartTB(t, fakellm.Options{Name: n})
		s.fakes[n] = f
		ports[n] = f.Addr
	}
	if o.deadPrimary {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports["primary"] = ln.Addr().String()
		ln.Close()
	}
	if o.unresolvablePrimary {
		ports["primary"] = net.JoinHostPort(unresolvablePrimaryHost, "8080")
	}
	keyDir := t.TempDir()
	for _, n := range providerNames {
		if err := os.WriteFile(filepath.Join(keyDir, n+".key"), []byte(providerKey(n)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.grpcAddr = ln.Addr().String()
	if o.slowMachine {
		s.reqTimeout = 2 * loadTimeout
	}
	cfg := configYAML(ports, keyDir, s.grpcAddr, o)
	if o.edit != nil {
		cfg = o.edit(cfg)
	}
	serverCfg := cfg
	if o.serverEdit != nil {
		serverCfg = o.serverEdit(cfg)
	}
	s.startFrontWith(ln, cfg, serverCfg)
	return s
}

// unresolvablePrimaryHost is the primary's host in an unresolvablePrimary
// stack: a .invalid name never resolves (RFC 6761), and the Envoy model
// answers it with no address without a lookup.
const unresolvablePrimaryHost = "primary.invalid"

// startFront parses cfgYAML, starts the real processor on ln and the Envoy
// model in front of it with the envoy.yaml generated from that config.
func (s *stack) startFront(ln net.Listener, cfgYAML string) {
	s.t.Helper()
	s.startFrontWith(ln, cfgYAML, cfgYAML)
}

// startFrontWith is startFront with envoy.yaml generated from envoyYAML
// and the server running serverYAML.
func (s *stack) startFrontWith(ln net.Listener, envoyYAML, serverYAML string) {
	t := s.t
	t.Helper()
	cfg, err := s.parseConfig(envoyYAML)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	serverCfg, err := s.parseConfig(serverYAML)
	if err != nil {
		t.Fatalf("server config: %v", err)
	}
	s.cfgYAML = serverYAML
	// Every stack has its own unavailable listener: parallel stacks on the
	// default port would collide, and the losers' providers with no healthy
	// host would get no answer. Its socket is bound here and handed to the
	// model, so no other stack can take the port in between.
	unavailable, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unavailable.Close() })
	cfg.Envoy.UnavailablePort = unavailable.Addr().(*net.TCPAddr).Port
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config with unavailable_port %d: %v", cfg.Envoy.UnavailablePort, err)
	}
	yml, err := envoy.Generate(cfg, envoy.Options{SourceName: "e2e"})
	if err != nil {
		t.Fatalf("envoy.Generate: %v", err)
	}
	if err := envoy.CheckVersion(yml, s.version); err != nil {
		t.Fatalf("envoy.CheckVersion %s: %v", s.version, err)
	}
	// A fixed seed keeps recovery-share draws reproducible.
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	s.proc, err = processor.New(processor.Options{Config: serverCfg, Clock: s.clock, Events: s.startAudit(), Rand: func() float64 {
		rmu.Lock()
		defer rmu.Unlock()
		return rng.Float64()
	}, Telemetry: s.tel})
	if err != nil {
		t.Fatalf("processor.New: %v", err)
	}
	s.serveGRPC(ln)
	t.Cleanup(s.stopExtProc)
	m, err := envoymodel.New(yml, envoymodel.Options{Version: s.version, Backport45355: s.backport45355,
		Listeners: map[string]net.Listener{envoy.UnavailableListener: unavailable}, Rand: s.modelRand})
	if err != nil {
		t.Fatalf("envoymodel.New: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	for _, w := range m.Warnings {
		// The unavailable listener's own warnings are prefixed by its
		// name too; only one it could not bind is fatal.
		if strings.Contains(w, strconv.Quote(envoy.UnavailableListener)) && strings.Contains(w, "not served") {
			t.Fatalf("envoymodel: %s", w)
		}
	}
	s.url = m.URL()
	s.model = m
	s.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(s.http.CloseIdleConnections)
	s.client = newClient(s.url, s.http)
}

func (s *stack) serveGRPC(ln net.Listener) {
	gs := grpc.NewServer(grpc.StreamInterceptor(s.rec.interceptor))
	extprocsvc.RegisterExternalProcessorServer(gs, s.proc)
	s.mu.Lock()
	s.grpcSrv = gs
	s.mu.Unlock()
	go func() { _ = gs.Serve(ln) }()
}

// stopExtProc stops the ext_proc gRPC server, cutting its streams.
func (s *stack) stopExtProc() {
	s.mu.Lock()
	gs := s.grpcSrv
	s.grpcSrv = nil
	s.mu.Unlock()
	if gs != nil {
		gs.Stop()
	}
}

// startExtProc serves the same processor again on the same address.
func (s *stack) startExtProc() {
	s.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.grpcAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("relisten %s: %v", s.grpcAddr, err)
	}
	s.serveGRPC(ln)
}

func newClient(base string, hc *http.Client) openai.Client {
	return openai.NewClient(
		option.WithHTTPClient(hc),
		option.WithBaseURL(strings.TrimSuffix(base, "/")+"/v1/"),
		option.WithAPIKey(clientKey),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(requestTimeout),
	)
}

// skipExternal skips a scenario that needs the local stack.
func (s *stack) needLocal(why string) {
	s.t.Helper()
	if !s.local {
		s.t.Skipf("skipped against E2E_ENVOY_URL: needs %s", why)
	}
}

// closeIdle closes the idle keep-alive connections of the client and the model.
func (s *stack) closeIdle() {
	s.http.CloseIdleConnections()
	if s.model != nil {
		s.model.CloseIdleConnections()
	}
}

func (s *stack) resetFakes() {
	for _, f := range s.fakes {
		f.ClearFaults()
		f.Reset()
	}
}

// chat sends one chat completion through the front door.
type chatResult struct {
	completion *openai.ChatCompletion
	resp       *http.Response
	err        error
	apiErr     *openai.Error
	errBody    string
	took       time.Duration
}

func (s *stack) chat(opts ...option.RequestOption) chatResult {
	return s.chatModel(chainModel, opts...)
}

func (s *stack) chatModel(model string, opts ...option.RequestOption) chatResult {
	var r chatResult
	timeout := requestTimeout
	if s.reqTimeout > 0 {
		timeout = s.reqTimeout
		opts = append(opts, option.WithRequestTimeout(timeout))
	}
	opts = append(opts, option.WithResponseInto(&r.resp))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r.completion, r.err = s.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
	}, opts...)
	r.took = time.Since(start)
	if r.err != nil {
		if ae, ok := r.err.(*openai.Error); ok {
			r.apiErr = ae
			if ae.Response != nil {
				r.errBody = string(ae.DumpResponse(true))
			}
		}
	}
	return r
}

func (r chatResult) status() int {
	if r.apiErr != nil {
		return r.apiErr.StatusCode
	}
	if r.resp != nil {
		return r.resp.StatusCode
	}
	return 0
}

func (r chatResult) header(k string) string {
	if r.resp != nil {
		return r.resp.Header.Get(k)
	}
	if r.apiErr != nil && r.apiErr.Response != nil {
		return r.apiErr.Response.Header.Get(k)
	}
	return ""
}

// mustOK fails unless the request succeeded through provider want.
func (s *stack) mustOK(r chatResult, want string) {
	s.t.Helper()
	if r.err != nil {
		s.t.Fatalf("request failed: %v\n%s", r.err, r.errBody)
	}
	if got := r.header("x-llm-failover-provider"); got != want {
		s.t.Fatalf("answered by %q, want %q (trace %q)", got, want, r.header("x-llm-failover-trace"))
	}
	if r.completion == nil || len(r.completion.Choices) == 0 || !strings.Contains(r.completion.Choices[0].Message.Content, want) {
		s.t.Fatalf("completion %+v does not come from %s", r.completion, want)
	}
}

// externalStack attaches to a real Envoy front door.
func externalStack(t *testing.T, u string) *stack {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	s := &stack{t: t, url: u, fakes: map[string]fake{}, http: hc, client: newClient(u, hc)}
	for _, kv := range strings.Split(os.Getenv("E2E_FAKE_ADMIN_URLS"), ",") {
		name, url, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok {
			s.fakes[name] = &adminFake{t: t, url: strings.TrimSuffix(url, "/")}
		}
	}
	for _, n := range providerNames {
		if s.fakes[n] == nil {
			t.Fatalf("E2E_FAKE_ADMIN_URLS has no %s=URL entry", n)
		}
	}
	s.resetFakes()
	return s
}

// adminFake drives a fake provider through its /_fake/ admin API.
type adminFake struct {
	t   *testing.T
	url string
}

func (a *adminFake) do(method, path string, body []byte) []byte {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.url+fakellm.AdminPrefix+path, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("fake admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		a.t.Fatalf("fake admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

func (a *adminFake) SetFaults(s fakellm.Schedule) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	a.do(http.MethodPost, "faults", b)
	return nil
}

func (a *adminFake) ClearFaults() { a.do(http.MethodDelete, "faults", nil) }

func (a *adminFake) Requests() []fakellm.Recorded {
	var out []fakellm.Recorded
	if err := json.Unmarshal(a.do(http.MethodGet, "requests", nil), &out); err != nil {
		a.t.Fatalf("fake admin requests: %v", err)
	}
	return out
}

func (a *adminFake) Count() int { return len(a.Requests()) }

func (a *adminFake) Reset() { a.do(http.MethodDelete, "requests", nil) }

// exchange is one ext_proc message or answer seen by the server.
type exchange struct {
	phase string
	req   *extprocsvc.ProcessingRequest
	resp  *extprocsvc.ProcessingResponse
}

// recorder keeps every ext_proc message of a local stack, for contract checks.
type recorder struct {
	mu  sync.Mutex
	log []exchange
}

func (r *recorder) all() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.log...)
}

func (r *recorder) interceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	phase := ""
	if md, ok := metadata.FromIncomingContext(ss.Context()); ok {
		if v := md.Get(contract.PhaseHeader); len(v) > 0 {
			phase = v[0]
		}
	}
	return h(srv, &recordingStream{ServerStream: ss, r: r, phase: phase})
}

type recordingStream struct {
	grpc.ServerStream
	r     *recorder
	phase string
}

func (s *recordingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*extprocsvc.ProcessingRequest); ok && err == nil {
		s.r.mu.Lock()
		s.r.log = append(s.r.log, exchange{phase: s.phase, req: proto.Clone(req).(*extprocsvc.ProcessingRequest)})
		s.r.mu.Unlock()
	}
	return err
}

func (s *recordingStream) SendMsg(m any) error {
	if resp, ok := m.(*extprocsvc.ProcessingResponse); ok {
		s.r.mu.Lock()
		s.r.log = append(s.r.log, exchange{phase: s.phase, resp: proto.Clone(resp).(*extprocsvc.ProcessingResponse)})
		s.r.mu.Unlock()
	}
	return s.ServerStream.SendMsg(m)
}

// settle is how long a local stack may take to end every ext_proc stream
// after the client has its answer (outcomes are recorded by then).
const settle = 5 * time.Second

// parseConfig parses a config of the stack with envoy.version set to the
// stack's version.
func (s *stack) parseConfig(cfgYAML string) (*config.Config, error) {
	cfg, err := config.Parse([]byte(cfgYAML))
	if err != nil {
		return nil, err
	}
	cfg.Envoy.Version = s.version
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("with envoy.version %q: %w", s.version, err)
	}
	return cfg, nil
}

// reload makes the server run cfgYAML (Envoy keeps its envoy.yaml).
func (s *stack) reload(cfgYAML string) {
	s.t.Helper()
	cfg, err := s.parseConfig(cfgYAML)
	if err != nil {
		s.t.Fatalf("reload config: %v", err)
	}
	if err := s.proc.Reload(cfg); err != nil {
		s.t.Fatalf("reload: %v", err)
	}
	s.cfgYAML = cfgYAML
}

// withoutProvider is cfgYAML with provider name and its chain targets removed.
func withoutProvider(cfgYAML, name string) string {
	var keep []string
	for _, l := range strings.Split(cfgYAML, "\n") {
		if strings.Contains(l, "{name: "+name+",") || strings.Contains(l, "{provider: "+name+",") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// setFaults installs a fault schedule on fake name.
func (s *stack) setFaults(name string, faults ...fakellm.Fault) {
	s.t.Helper()
	if err := s.fakes[name].SetFaults(fakellm.Schedule{Faults: faults}); err != nil {
		s.t.Fatalf("%s: set faults: %v", name, err)
	}
}

// waitSettled waits until the server holds no ext_proc stream, so every
// attempt's outcome has been recorded.
func (s *stack) waitSettled() {
	s.t.Helper()
	deadline := time.Now().Add(settle)
	for s.proc.Streams() != 0 {
		if time.Now().After(deadline) {
			s.t.Fatalf("server still holds %d ext_proc streams after %v", s.proc.Streams(), settle)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCount waits until fake name has received at least n requests.
func (s *stack) waitCount(name string, n int) {
	s.t.Helper()
	deadline := time.Now().Add(requestTimeout)
	for s.fakes[name].Count() < n {
		if time.Now().After(deadline) {
			s.t.Fatalf("%s received %d requests, want %d within %v", name, s.fakes[name].Count(), n, requestTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// breakerOf is the breaker state of provider name's main-chain target.
func (s *stack) breakerOf(name string) breaker.Snapshot {
	s.t.Helper()
	b := s.proc.Registry().Lookup(name + "/" + targetModel(name))
	if b == nil {
		s.t.Fatalf("no breaker for %s/%s", name, targetModel(name))
	}
	return b.Snapshot(s.clock.Now())
}
