package admin_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/llm-failover/llm-failover/admin"
	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
	"github.com/llm-failover/llm-failover/processor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait of these tests on the server.
const testTimeout = 10 * time.Second

// testToken is the admin token of the fixtures that set one.
const testToken = "s3cret-admin-token-0123456789"

// testConfig has a three-target chain and a one-target chain.
const testConfig = `
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: anthropic, api: anthropic, host: api.anthropic.com}
  - {name: groq, api: openai-compatible, host: api.groq.com}
chains:
  - name: premium
    match: {models: [gpt-4o, premium]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: anthropic, model: claude-sonnet-4}
      - {provider: groq, model: llama-3.3-70b}
  - name: cheap
    match: {models: [gpt-4o-mini]}
    targets:
      - {provider: openai, model: gpt-4o-mini}
breaker:
  consecutive_failures: 3
  open_for: 30s
  jitter: 0
`

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a processor.Server with an events Bus, its admin Service, and
// a gRPC client of it over loopback.
type fixture struct {
	clock  *fakeClock
	srv    *processor.Server
	bus    *events.Bus
	svc    *admin.Service
	client adminv1.AdminServiceClient
	addr   string
}

// fixtureOptions shape newFixture.
type fixtureOptions struct {
	token       string // the admin token; "" for none
	maxWatchers int
	clock       *fakeClock // nil: a fake clock at a fixed instant
	config      string     // the configuration; "": testConfig
}

// newService builds the fixture's server, Bus and Service, without a
// listener (fuzz tests call the Service directly).
func newService(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	y := testConfig
	if o.config != "" {
		y = o.config
	}
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: o.clock}
	if f.clock == nil {
		f.clock = &fakeClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	}
	f.bus = events.NewBus(events.Options{Clock: f.clock})
	f.srv, err = processor.New(processor.Options{Config: cfg, Clock: f.clock, Events: f.bus})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := admin.NewAuthorizer(config.Admin{TokenEnv: "TEST_ADMIN_TOKEN"}, func(string) string { return o.token })
	if err != nil {
		t.Fatal(err)
	}
	f.svc = admin.New(admin.Options{Source: f.srv, Events: f.bus, Auth: auth, Clock: f.clock, MaxWatchers: o.maxWatchers})
	t.Cleanup(func() {
		f.svc.Close()
		f.bus.Close()
	})
	return f
}

// newFixture is newService with a gRPC server and client over loopback;
// everything stops at the test's end.
func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	f := newService(t, o)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	f.svc.Register(gs)
	go func() { _ = gs.Serve(lis) }()
	f.addr = lis.Addr().String()
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	f.client = adminv1.NewAdminServiceClient(conn)
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	return f
}

// openTarget fails the target of chain at index i until its breaker opens,
// as three 503 answers would.
func (f *fixture) openTarget(t testing.TB, chain string, i int) {
	t.Helper()
	tbl := f.srv.Table()
	b := tbl.Breaker(tbl.Config().Chain(chain), i)
	for range 3 {
		b.Record(f.clock.Now(), breaker.Outcome{Kind: breaker.Failure, Status: 503, Detail: "server_error: 503 Service Unavailable"})
	}
	if got := b.Snapshot(f.clock.Now()).State; got != breaker.Open {
		t.Fatalf("after 3 failures: state %v, want open", got)
	}
}

// ctx is a context bounded by testTimeout.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return c
}

// contextWithCancel is ctx with its cancel function.
func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx(t))
}

// waitFor polls cond until it holds, failing after testTimeout: for state
// that only a goroutine of the server changes (a stream's end).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within the test timeout")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
