package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	sotwv3 "github.com/envoyproxy/go-control-plane/pkg/client/sotw/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

// runMainEnv makes the test binary run the command line it is given, so
// that a test can run `llm-failover serve` as a process and signal it.
const runMainEnv = "LLM_FAILOVER_TEST_RUN_MAIN"

func init() {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// xdsTimeout bounds a test's wait for an xDS response or a process.
const xdsTimeout = 30 * time.Second

const xdsOneProvider = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
providers: [{name: p, api: openai, host: localhost, tls: false}]
chains: [{name: c, targets: [{provider: p, model: m}]}]
`

const xdsTwoProviders = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
providers: [{name: p, api: openai, host: localhost, tls: false}, {name: q, api: openai, host: localhost, port: 8081, tls: false}]
chains: [{name: c, targets: [{provider: p, model: m}, {provider: q, model: m}]}]
`

func parseConfig(t *testing.T, y string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	return c
}

// adsClusters opens an ADS stream to addr with creds, subscribes to
// clusters and returns a function giving each next response's cluster
// names, sorted (acknowledged), or the stream's error.
func adsClusters(t *testing.T, addr string, creds credentials.TransportCredentials) func() ([]string, error) {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), xdsTimeout)
	t.Cleanup(func() { cancel(); conn.Close() })
	c := sotwv3.NewADSClient(ctx, &corev3.Node{Id: "envoy-test", Cluster: "test"}, resourcev3.ClusterType)
	if err := c.InitConnect(conn); err != nil {
		return func() ([]string, error) { return nil, err }
	}
	return func() ([]string, error) {
		r, err := c.Fetch()
		if err != nil {
			return nil, err
		}
		if err := c.Ack(); err != nil {
			return nil, err
		}
		var names []string
		for _, a := range r.Resources {
			var cl clusterv3.Cluster
			if err := a.UnmarshalTo(&cl); err != nil {
				return nil, err
			}
			names = append(names, cl.GetName())
		}
		slices.Sort(names)
		return names, nil
	}
}

func clusterNamesOf(c *config.Config) []string {
	names := []string{envoy.ExtProcCluster}
	for _, p := range c.Providers {
		names = append(names, p.Cluster)
	}
	slices.Sort(names)
	return names
}

// TestXDS_ReloadServesTheNewConfigOnlyOnceTheServerTookIt verifies serve's
// reload in xDS mode: the ADS stream gets the new provider's cluster after
// a reload the ext_proc server accepted, and nothing changes when the
// ext_proc server refused it.
func TestXDS_ReloadServesTheNewConfigOnlyOnceTheServerTookIt(t *testing.T) {
	one, two := parseConfig(t, xdsOneProvider), parseConfig(t, xdsTwoProviders)
	x, err := startXDS("127.0.0.1:0", one, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer x.stop()
	next := adsClusters(t, x.addr.String(), insecure.NewCredentials())
	if got, err := next(); err != nil || !slices.Equal(got, clusterNamesOf(one)) {
		t.Fatalf("clusters = %v, %v; want %v", got, err, clusterNamesOf(one))
	}

	refused := errors.New("refused")
	v := x.srv.Version()
	if err := x.reloader(func(*config.Config) error { return refused })(two); !errors.Is(err, refused) {
		t.Fatalf("reload = %v, want the ext_proc server's refusal", err)
	}
	if x.srv.Version() != v {
		t.Errorf("version after a refused reload = %q, want %q unchanged", x.srv.Version(), v)
	}
	if err := x.reloader(func(*config.Config) error { return nil })(two); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got, err := next(); err != nil || !slices.Equal(got, clusterNamesOf(two)) {
		t.Errorf("clusters after the reload = %v, %v; want %v", got, err, clusterNamesOf(two))
	}
}

// TestXDS_PlainTextOnlyOnLoopback verifies that --xds without server.tls
// refuses an address beyond loopback unless server.insecure_grpc says so.
func TestXDS_PlainTextOnlyOnLoopback(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	c := parseConfig(t, xdsOneProvider)
	if _, err := startXDS("0.0.0.0:0", c, nil, log); err == nil || !strings.Contains(err.Error(), "beyond loopback") {
		t.Errorf("startXDS(0.0.0.0:0) without TLS = %v, want a beyond-loopback refusal", err)
	}
	c.Server.InsecureGRPC = true
	x, err := startXDS("0.0.0.0:0", c, nil, log)
	if err != nil {
		t.Fatalf("startXDS(0.0.0.0:0) with insecure_grpc: %v", err)
	}
	x.stop()
	x, err = startXDS("unix:"+filepath.Join(t.TempDir(), "xds.sock"), parseConfig(t, xdsOneProvider), nil, log)
	if err != nil {
		t.Fatalf("startXDS(unix socket): %v", err)
	}
	x.stop()
}

// TestXDS_MutualTLSServesOnlyCertifiedClients verifies that with
// server.tls and a client CA the ADS listener serves a client with a
// certificate from that CA and refuses one without, and plain text.
func TestXDS_MutualTLSServesOnlyCertifiedClients(t *testing.T) {
	ca := newCA(t, "llm-failover CA")
	dir := t.TempDir()
	certPEM, keyPEM, _ := ca.issue(t, true)
	files := map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "clients.pem": ca.pem}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := parseConfig(t, fmt.Sprintf(`
server:
  grpc_address: "127.0.0.1:0"
  admin_address: "127.0.0.1:0"
  tls: {cert_file: %[1]s/tls.crt, key_file: %[1]s/tls.key, client_ca_file: %[1]s/clients.pem}
providers: [{name: p, api: openai, host: localhost, tls: false}]
chains: [{name: c, targets: [{provider: p, model: m}]}]
envoy:
  ext_proc_tls: {sni: %[2]s, validation_sds_file: /etc/envoy/ca.yaml, certificate_sds_file: /etc/envoy/cert.yaml}
`, dir, serverName))
	x, err := startXDS("127.0.0.1:0", c, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer x.stop()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	good := ca.issueClient(t)
	tests := []struct {
		name  string
		creds credentials.TransportCredentials
		ok    bool
	}{
		{"client certificate from the client CA", credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: serverName, Certificates: []tls.Certificate{good}}), true},
		{"no client certificate", credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: serverName}), false},
		{"plain text", insecure.NewCredentials(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := adsClusters(t, x.addr.String(), tc.creds)()
			if tc.ok && (err != nil || !slices.Equal(got, clusterNamesOf(c))) {
				t.Errorf("clusters = %v, %v; want %v", got, err, clusterNamesOf(c))
			}
			if !tc.ok && err == nil {
				t.Errorf("clusters = %v, want refused", got)
			}
		})
	}
}

// TestEnvoyConfig_FragmentsAndXDSBootstrap verifies the two envoy-config
// outputs: --fragments prints envoy.GenerateFragments' document,
// --xds-bootstrap a bootstrap that passes --check, and both at once is a
// usage error.
func TestEnvoyConfig_FragmentsAndXDSBootstrap(t *testing.T) {
	const cfg = "../../examples/config.yaml"
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want, err := envoy.GenerateFragments(c, envoy.Options{SourceName: cfg})
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"envoy-config", "--fragments", "--config", cfg}, &out, &errb); code != 0 || !bytes.Equal(out.Bytes(), want) {
		t.Errorf("--fragments: exit %d, stderr %q; output equal to GenerateFragments: %v", code, errb.String(), bytes.Equal(out.Bytes(), want))
	}

	path := filepath.Join(t.TempDir(), "xds-envoy.yaml")
	errb.Reset()
	if code := run([]string{"envoy-config", "--xds-bootstrap", "--xds-address", "llm-failover:50052", "--config", cfg, "--out", path}, io.Discard, &errb); code != 0 {
		t.Fatalf("--xds-bootstrap: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"envoy-config", "--check", path}, &out, &errb); code != 0 {
		t.Errorf("--check of the xDS bootstrap: exit %d, %s", code, errb.String())
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte("address: llm-failover\n")) || !bytes.Contains(b, []byte("port_value: 50052")) {
		t.Errorf("xDS bootstrap does not point at llm-failover:50052:\n%s", b)
	}

	errb.Reset()
	if code := run([]string{"envoy-config", "--fragments", "--xds-bootstrap", "--config", cfg}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "pass one") {
		t.Errorf("--fragments --xds-bootstrap: exit %d, stderr %q; want 2 and a message", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"envoy-config", "--xds-bootstrap", "--xds-address", "nowhere", "--config", cfg}, io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), `"nowhere"`) {
		t.Errorf("--xds-address nowhere: exit %d, stderr %q; want 1 and the address named", code, errb.String())
	}
}

// freeAddr is a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeXDS_SIGHUPAfterAddingAProviderReachesTheADSStream verifies the
// whole path as an operator drives it: `serve --xds` as a process, an ADS
// client subscribed to clusters, the config file given a second provider,
// SIGHUP; the client receives the new provider's cluster on its stream.
func TestServeXDS_SIGHUPAfterAddingAProviderReachesTheADSStream(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(xdsOneProvider), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), xdsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--config", cfgPath, "--xds", addr)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := <-exited; err != nil {
			t.Errorf("serve exited with %v; log:\n%s", err, logs.String())
		}
	}()

	// The listener is up once a connection is accepted; retry until then.
	var next func() ([]string, error)
	var got []string
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited before listening: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("serve did not listen on %s in time", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	next = adsClusters(t, addr, insecure.NewCredentials())
	got, err := next()
	if want := clusterNamesOf(parseConfig(t, xdsOneProvider)); err != nil || !slices.Equal(got, want) {
		t.Fatalf("clusters = %v, %v; want %v", got, err, want)
	}
	if err := os.WriteFile(cfgPath, []byte(xdsTwoProviders), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	got, err = next()
	if want := clusterNamesOf(parseConfig(t, xdsTwoProviders)); err != nil || !slices.Equal(got, want) {
		t.Errorf("clusters after SIGHUP = %v, %v; want %v; log:\n%s", got, err, want, logs.String())
	}
}
