package xds

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	sotwv3 "github.com/envoyproxy/go-control-plane/pkg/client/sotw/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// streamTimeout bounds every test's xDS streams: generous, since a
// response comes at once or not at all.
const streamTimeout = 30 * time.Second

const oneProvider = `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: OPENAI_API_KEY}}
chains:
  - name: default
    targets:
      - {provider: openai, model: gpt-4o-mini}
`

const twoProviders = `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: OPENAI_API_KEY}}
  - {name: anthropic, api: anthropic, host: api.anthropic.com, auth: {key_env: ANTHROPIC_API_KEY}}
chains:
  - name: default
    targets:
      - {provider: openai, model: gpt-4o-mini}
      - {provider: anthropic, model: claude-haiku-4-5}
`

// twoProvidersSwapped is twoProviders with the chain's order reversed.
const twoProvidersSwapped = `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: OPENAI_API_KEY}}
  - {name: anthropic, api: anthropic, host: api.anthropic.com, auth: {key_env: ANTHROPIC_API_KEY}}
chains:
  - name: default
    targets:
      - {provider: anthropic, model: claude-haiku-4-5}
      - {provider: openai, model: gpt-4o-mini}
`

func parse(t *testing.T, y string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return c
}

// adsServer is a Server behind a real gRPC listener on loopback.
type adsServer struct {
	*Server
	conn *grpc.ClientConn
}

func startADS(t *testing.T, c *config.Config) *adsServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := NewServer(ctx, c, nil)
	if err != nil {
		cancel()
		t.Fatalf("NewServer: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	s.Register(gs)
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(l) }()
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		<-done
		cancel()
	})
	return &adsServer{Server: s, conn: conn}
}

// client is one go-control-plane SotW client on its own ADS stream.
type client struct {
	t   *testing.T
	ads sotwv3.ADSClient
}

func (s *adsServer) subscribe(t *testing.T, typeURL string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	t.Cleanup(cancel)
	c := sotwv3.NewADSClient(ctx, &corev3.Node{Id: "envoy-" + t.Name(), Cluster: "test"}, typeURL)
	if err := c.InitConnect(s.conn); err != nil {
		t.Fatalf("InitConnect: %v", err)
	}
	return &client{t: t, ads: c}
}

// next waits for the next response, acknowledges it and returns its resources.
func (c *client) next() []*anypb.Any {
	c.t.Helper()
	r, err := c.ads.Fetch()
	if err != nil {
		c.t.Fatalf("Fetch: %v", err)
	}
	if err := c.ads.Ack(); err != nil {
		c.t.Fatalf("Ack: %v", err)
	}
	return r.Resources
}

func clusterNames(t *testing.T, res []*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, a := range res {
		var cl clusterv3.Cluster
		if err := a.UnmarshalTo(&cl); err != nil {
			t.Fatalf("not a Cluster: %v", err)
		}
		names = append(names, cl.GetName())
	}
	slices.Sort(names)
	return names
}

func routeConfig(t *testing.T, res []*anypb.Any) *routev3.RouteConfiguration {
	t.Helper()
	if len(res) != 1 {
		t.Fatalf("%d route configurations served, want 1", len(res))
	}
	var rc routev3.RouteConfiguration
	if err := res[0].UnmarshalTo(&rc); err != nil {
		t.Fatalf("not a RouteConfiguration: %v", err)
	}
	return &rc
}

func sameYAML(t *testing.T, a, b proto.Message) bool {
	t.Helper()
	ya, err := envoy.MarshalYAML(a)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := envoy.MarshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ya) == string(yb)
}

// reload does what serve does on SIGHUP: a new snapshot from the new config.
func (s *adsServer) reload(t *testing.T, c *config.Config) {
	t.Helper()
	snap, err := Snapshot(c)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if err := s.Set(context.Background(), snap); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

// TestServer_ReloadAddingAProviderSendsItsClusterOnTheOpenStream verifies
// that an Envoy subscribed to clusters receives, on the same stream, the new
// provider's cluster when a reload adds the provider.
func TestServer_ReloadAddingAProviderSendsItsClusterOnTheOpenStream(t *testing.T) {
	one, two := parse(t, oneProvider), parse(t, twoProviders)
	s := startADS(t, one)
	cds := s.subscribe(t, resourcev3.ClusterType)
	if got, want := clusterNames(t, cds.next()), []string{envoy.ExtProcCluster, one.Providers[0].Cluster}; !slices.Equal(got, want) {
		t.Fatalf("clusters before the reload = %v, want %v", got, want)
	}
	before := s.Version()
	s.reload(t, two)
	want := []string{envoy.ExtProcCluster, two.Provider("anthropic").Cluster, two.Provider("openai").Cluster}
	slices.Sort(want)
	if got := clusterNames(t, cds.next()); !slices.Equal(got, want) {
		t.Errorf("clusters after the reload = %v, want %v", got, want)
	}
	if s.Version() == before {
		t.Errorf("version after the reload = %q, the same as before", s.Version())
	}
}

// TestServer_ReloadChangingAChainSendsTheNewRoutes verifies that an Envoy
// subscribed to the listener's route configuration by name, as Envoy does
// over ADS, receives the new routes when a reload reorders a chain, and
// that they are exactly the generator's.
func TestServer_ReloadChangingAChainSendsTheNewRoutes(t *testing.T) {
	a, b := parse(t, twoProviders), parse(t, twoProvidersSwapped)
	s := startADS(t, a)
	fa, err := envoy.BuildFragments(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := envoy.BuildFragments(b)
	if err != nil {
		t.Fatal(err)
	}
	if sameYAML(t, fa.RouteConfiguration, fb.RouteConfiguration) {
		t.Fatal("the two configs give the same routes; the test needs a chain change that shows in them")
	}

	ctx, cancel := context.WithTimeout(context.Background(), streamTimeout)
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(s.conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "envoy-1", Cluster: "gateway"}
	name := fa.RouteConfiguration.GetName()
	send := func(version, nonce string) {
		t.Helper()
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType,
			ResourceNames: []string{name}, VersionInfo: version, ResponseNonce: nonce}); err != nil {
			t.Fatal(err)
		}
	}
	recv := func() *discoveryv3.DiscoveryResponse {
		t.Helper()
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		return r
	}
	send("", "")
	r1 := recv()
	if got := routeConfig(t, r1.GetResources()); !sameYAML(t, got, fa.RouteConfiguration) {
		t.Errorf("routes before the reload are not the generator's")
	}
	send(r1.GetVersionInfo(), r1.GetNonce()) // ACK
	s.reload(t, b)
	r2 := recv()
	if got := routeConfig(t, r2.GetResources()); !sameYAML(t, got, fb.RouteConfiguration) {
		t.Errorf("routes after the reload are not the generator's for the new chain")
	}
	if r2.GetVersionInfo() == r1.GetVersionInfo() {
		t.Errorf("version after the reload = %q, the same as before", r2.GetVersionInfo())
	}
}

// TestServer_ListenerTakesItsRoutesFromADS verifies the listeners served:
// the client listener's connection manager names the served route
// configuration through ADS, and the other listeners are the generator's.
func TestServer_ListenerTakesItsRoutesFromADS(t *testing.T) {
	c := parse(t, twoProviders)
	f, err := envoy.BuildFragments(c)
	if err != nil {
		t.Fatal(err)
	}
	s := startADS(t, c)
	lds := s.subscribe(t, resourcev3.ListenerType)
	res := lds.next()
	if len(res) != 1+len(f.Listeners) {
		t.Fatalf("%d listeners served, want %d", len(res), 1+len(f.Listeners))
	}
	var found bool
	for _, a := range res {
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		if l.GetName() != f.Listener.GetName() {
			if !slices.ContainsFunc(f.Listeners, func(w *listenerv3.Listener) bool { return sameYAML(t, &l, w) }) {
				t.Errorf("listener %q is not the generator's", l.GetName())
			}
			continue
		}
		found = true
		var hcm hcmv3.HttpConnectionManager
		fs := l.GetFilterChains()[0].GetFilters()
		if err := fs[len(fs)-1].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
			t.Fatal(err)
		}
		rds := hcm.GetRds()
		if rds.GetRouteConfigName() != f.RouteConfiguration.GetName() || rds.GetConfigSource().GetAds() == nil {
			t.Errorf("client listener's rds = %v, want route_config_name %q from ads", rds, f.RouteConfiguration.GetName())
		}
	}
	if !found {
		t.Errorf("client listener %q not served", f.Listener.GetName())
	}
}

// TestServer_EqualConfigKeepsTheVersion verifies that reloading a config
// that changes nothing Envoy sees keeps the version, so nothing is pushed,
// and that the version does not depend on the process (a second server,
// like another replica, serves the same version).
func TestServer_EqualConfigKeepsTheVersion(t *testing.T) {
	s := startADS(t, parse(t, twoProviders))
	v := s.Version()
	s.reload(t, parse(t, twoProviders))
	if got := s.Version(); got != v {
		t.Errorf("version after reloading an equal config = %q, want %q", got, v)
	}
	other := startADS(t, parse(t, twoProviders))
	if got := other.Version(); got != v {
		t.Errorf("another server's version for the same config = %q, want %q", got, v)
	}
}

// TestSnapshot_ServesNoKey verifies that keys Envoy holds stay in the SDS
// files Envoy reads itself: the snapshot has no secret, and the provider
// clusters name their key files.
func TestSnapshot_ServesNoKey(t *testing.T) {
	c, err := config.Load("../examples/mesh-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Snapshot(c)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(snap.GetResources(resourcev3.SecretType)); n != 0 {
		t.Errorf("%d secrets served, want none", n)
	}
	f, err := envoy.BuildFragments(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.SDSFiles) == 0 {
		t.Errorf("mesh config names no SDS file; want its keys' files")
	}
}

// TestSnapshot_RefusesWhatTheGeneratorRefuses verifies that a config the
// generator cannot turn into Envoy resources gives an error, not a snapshot.
func TestSnapshot_RefusesWhatTheGeneratorRefuses(t *testing.T) {
	if _, err := Snapshot(&config.Config{}); err == nil {
		t.Errorf("Snapshot(empty config) = nil error, want one")
	}
	if _, err := NewServer(context.Background(), &config.Config{}, nil); err == nil {
		t.Errorf("NewServer(empty config) = nil error, want one")
	}
}
