package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/llm-failover/llm-failover/config"
)

const serverName = "llm-failover.internal"

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a leaf certificate: a server's (with serverName as DNS SAN)
// or a client's. It returns the PEM certificate and key and the serial.
func (ca *testCA) issue(t *testing.T, server bool) (certPEM, keyPEM []byte, sn *big.Int) {
	t.Helper()
	tmpl := leafTemplate("leaf")
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{serverName}
	}
	certPEM, keyPEM = ca.sign(t, tmpl)
	return certPEM, keyPEM, tmpl.SerialNumber
}

// leafTemplate is a client certificate valid for an hour either side of now.
func leafTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// sign makes tmpl a certificate signed by ca, with a new key; it returns
// the PEM certificate and key.
func (ca *testCA) sign(t *testing.T, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func keyPair(t *testing.T, certPEM, keyPEM []byte) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replace writes b to path by a rename, as an operator's rotation would,
// with a modification time later than any before.
func replace(t *testing.T, path string, b []byte, mtime time.Time) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tlsServer is runServer with server.tls over files in a temp dir.
type tlsServer struct {
	addr              string
	dir               string
	clock             *stepClock
	logs              *bytes.Buffer
	logMu             *sync.Mutex
	certFile, keyFile string
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startTLSServer(t *testing.T, ca *testCA, clientCA []byte) *tlsServer {
	t.Helper()
	return startTLSServerWith(t, ca, clientCA, "")
}

// startTLSServerWith is startTLSServer with extra server.tls fields
// ("client_sans: [...]").
func startTLSServerWith(t *testing.T, ca *testCA, clientCA []byte, extra string) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	s := &tlsServer{dir: dir, clock: &stepClock{now: time.Unix(1_000_000, 0)}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{},
		certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	certPEM, keyPEM, _ := ca.issue(t, true)
	replace(t, s.certFile, certPEM, time.Unix(1_000_000, 0))
	replace(t, s.keyFile, keyPEM, time.Unix(1_000_000, 0))
	tlsYAML := fmt.Sprintf("{cert_file: %s, key_file: %s}", s.certFile, s.keyFile)
	if clientCA != nil {
		caFile := filepath.Join(dir, "clients.pem")
		replace(t, caFile, clientCA, time.Unix(1_000_000, 0))
		tlsYAML = fmt.Sprintf("{cert_file: %s, key_file: %s, client_ca_file: %s}", s.certFile, s.keyFile, caFile)
	}
	if extra != "" {
		tlsYAML = tlsYAML[:len(tlsYAML)-1] + ", " + extra + "}"
	}
	cfg, srv := newServer(t, ", tls: "+tlsYAML, "")
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(lockedWriter{s.logMu, s.logs}, nil))
	bound, done := startServer(ctx, cfg, srv, log, runOptions{clock: s.clock})
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runServer: %v", err)
		}
	})
	select {
	case l := <-bound:
		s.addr = l.grpc
	case err := <-done:
		t.Fatalf("runServer: %v", err)
	}
	return s
}

func (s *tlsServer) logText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logs.String()
}

// healthCheck calls the gRPC health service over TLS trusting ca, with
// client certificate cert (nil: none).
func healthCheck(t *testing.T, addr string, ca *testCA, cert *tls.Certificate) error {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return checkHealth(addr, credentials.NewTLS(cfg))
}

// servedSerial is the serial of the certificate the server presents now.
func servedSerial(t *testing.T, addr string, ca *testCA, cert tls.Certificate) *big.Int {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: serverName, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// TestServe_MutualTLSRefusesClientsWithoutAValidCertificate verifies the
// gRPC listener with server.tls.client_ca_file: a client whose certificate
// the client CA signed is served; a certificate from another CA, no
// certificate, and a plain-text client are refused.
func TestServe_MutualTLSRefusesClientsWithoutAValidCertificate(t *testing.T) {
	ca, other := newCA(t, "llm-failover CA"), newCA(t, "someone else's CA")
	s := startTLSServer(t, ca, ca.pem)
	good := ca.issueClient(t)
	wrong := other.issueClient(t)
	tests := []struct {
		name string
		cert *tls.Certificate
		ok   bool
	}{
		{"client certificate from the client CA", &good, true},
		{"client certificate from another CA", &wrong, false},
		{"no client certificate", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := healthCheck(t, s.addr, ca, tc.cert)
			if (err == nil) != tc.ok {
				t.Fatalf("health check: got error %v, want success %v", err, tc.ok)
			}
		})
	}
	t.Run("plain text", func(t *testing.T) {
		if err := insecureHealthCheck(s.addr); err == nil {
			t.Fatal("plain-text health check: got success, want refused")
		}
	})
}

// TestServe_TLSWithoutClientCA verifies server.tls without client_ca_file
// serves clients with no certificate.
func TestServe_TLSWithoutClientCA(t *testing.T) {
	ca := newCA(t, "llm-failover CA")
	s := startTLSServer(t, ca, nil)
	if err := healthCheck(t, s.addr, ca, nil); err != nil {
		t.Fatalf("health check: %v, want served", err)
	}
}

// TestServe_RotatedServerCertificateIsServedWithoutRestart verifies a
// certificate replaced on disk is served from the first handshake after the
// next check, a broken replacement keeps the previous certificate (logged),
// and a later good one is taken again.
func TestServe_RotatedServerCertificateIsServedWithoutRestart(t *testing.T) {
	ca := newCA(t, "llm-failover CA")
	s := startTLSServer(t, ca, ca.pem)
	client := ca.issueClient(t)
	first := servedSerial(t, s.addr, ca, client)

	certPEM, keyPEM, second := ca.issue(t, true)
	replace(t, s.keyFile, keyPEM, time.Unix(1_000_100, 0))
	replace(t, s.certFile, certPEM, time.Unix(1_000_100, 0))
	if got := servedSerial(t, s.addr, ca, client); got.Cmp(first) != 0 {
		t.Fatalf("before the next check: got serial %v, want the first certificate's %v", got, first)
	}
	s.clock.Advance(tlsCheckInterval)
	if got := servedSerial(t, s.addr, ca, client); got.Cmp(second) != 0 {
		t.Fatalf("after rotation: got serial %v, want the new certificate's %v", got, second)
	}
	if err := healthCheck(t, s.addr, ca, &client); err != nil {
		t.Fatalf("health check on the rotated certificate: %v", err)
	}

	replace(t, s.certFile, []byte("-----BEGIN CERTIFICATE-----\nhalf written"), time.Unix(1_000_200, 0))
	s.clock.Advance(tlsCheckInterval)
	if got := servedSerial(t, s.addr, ca, client); got.Cmp(second) != 0 {
		t.Fatalf("after a broken file: got serial %v, want the previous certificate's %v", got, second)
	}
	if logs := s.logText(); strings.Count(logs, "do not load") != 1 {
		t.Fatalf("logs: got %s, want one error line for the broken file", logs)
	}
	s.clock.Advance(tlsCheckInterval)
	servedSerial(t, s.addr, ca, client)
	if logs := s.logText(); strings.Count(logs, "do not load") != 1 {
		t.Fatalf("logs: got %s, want the broken file logged once", logs)
	}

	certPEM, keyPEM, third := ca.issue(t, true)
	replace(t, s.keyFile, keyPEM, time.Unix(1_000_300, 0))
	replace(t, s.certFile, certPEM, time.Unix(1_000_300, 0))
	s.clock.Advance(tlsCheckInterval)
	if got := servedSerial(t, s.addr, ca, client); got.Cmp(third) != 0 {
		t.Fatalf("after a good file again: got serial %v, want %v", got, third)
	}
}

// TestServe_TLSStartFailsOnBadFiles verifies a certificate that does not
// load at start stops the server with an error naming the file.
func TestServe_TLSStartFailsOnBadFiles(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tls.crt")
	replace(t, bad, []byte("not a certificate"), time.Now())
	_, err := newCertStore(config.ServerTLS{CertFile: bad, KeyFile: bad}, nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("got %v, want an error naming %s", err, bad)
	}
}

// issueClient makes a client certificate signed by ca.
func (ca *testCA) issueClient(t *testing.T) tls.Certificate {
	c, k, _ := ca.issue(t, false)
	return keyPair(t, c, k)
}

// issueClientWith makes a client certificate from tmpl's edits of a valid
// one (SANs, validity, key usage).
func (ca *testCA) issueClientWith(t *testing.T, edit func(*x509.Certificate)) tls.Certificate {
	t.Helper()
	tmpl := leafTemplate("client")
	edit(tmpl)
	c, k := ca.sign(t, tmpl)
	return keyPair(t, c, k)
}

// TestServe_MutualTLSChecksTheClientCertificate verifies the client
// certificate checks beyond its CA: an expired certificate and one not made
// for client authentication are refused; with server.tls.client_sans only a
// certificate carrying one of them (DNS or URI) is served, so other
// workloads whose certificates the same CA signed get nothing.
func TestServe_MutualTLSChecksTheClientCertificate(t *testing.T) {
	ca := newCA(t, "mesh CA")
	envoyID, _ := url.Parse("spiffe://mesh/ns/edge/sa/envoy")
	otherID, _ := url.Parse("spiffe://mesh/ns/apps/sa/worker")
	tests := []struct {
		name  string
		extra string
		edit  func(*x509.Certificate)
		ok    bool
	}{
		{"expired", "", func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) }, false},
		{"not yet valid", "", func(c *x509.Certificate) {
			c.NotBefore = time.Now().Add(time.Hour)
			c.NotAfter = time.Now().Add(2 * time.Hour)
		}, false},
		{"server authentication only", "", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, false},
		{"no client_sans: any SAN", "", func(c *x509.Certificate) { c.URIs = []*url.URL{otherID} }, true},
		{"client_sans: the URI SAN", `client_sans: ["spiffe://mesh/ns/edge/sa/envoy"]`, func(c *x509.Certificate) { c.URIs = []*url.URL{otherID, envoyID} }, true},
		{"client_sans: the DNS SAN", `client_sans: [envoy.edge]`, func(c *x509.Certificate) { c.DNSNames = []string{"envoy.edge"} }, true},
		{"client_sans: another workload", `client_sans: ["spiffe://mesh/ns/edge/sa/envoy", envoy.edge]`, func(c *x509.Certificate) { c.URIs = []*url.URL{otherID}; c.DNSNames = []string{"worker"} }, false},
		{"client_sans: no SAN", `client_sans: [envoy.edge]`, func(*x509.Certificate) {}, false},
		{"client_sans: the name as common name only", `client_sans: [envoy.edge]`, func(c *x509.Certificate) { c.Subject.CommonName = "envoy.edge" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startTLSServerWith(t, ca, ca.pem, tc.extra)
			cert := ca.issueClientWith(t, tc.edit)
			err := healthCheck(t, s.addr, ca, &cert)
			if (err == nil) != tc.ok {
				t.Fatalf("health check: got error %v, want success %v", err, tc.ok)
			}
		})
	}
}

// insecureHealthCheck calls the health service in plain text.
func insecureHealthCheck(addr string) error {
	return checkHealth(addr, insecure.NewCredentials())
}

// checkHealth calls the gRPC health service at addr over creds.
func checkHealth(addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// TestPlainBeyondLoopback verifies which listeners are warned about at
// start: plain gRPC beyond loopback only.
func TestPlainBeyondLoopback(t *testing.T) {
	withTLS := &config.ServerTLS{CertFile: "c", KeyFile: "k"}
	tests := []struct {
		name string
		s    config.Server
		want bool
	}{
		{"loopback", config.Server{GRPCAddress: "127.0.0.1:50051"}, false},
		{"unix socket", config.Server{GRPCAddress: "unix:/run/x.sock"}, false},
		{"every interface, insecure", config.Server{GRPCAddress: ":50051", InsecureGRPC: true}, true},
		{"every interface, TLS", config.Server{GRPCAddress: ":50051", TLS: withTLS}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := plainBeyondLoopback(tc.s); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCheckBound verifies a plain-text listener whose address resolved
// beyond loopback (a "localhost" that is not) is refused at start, and that
// loopback, TLS, insecure_grpc and unix sockets are not.
func TestCheckBound(t *testing.T) {
	withTLS := &config.ServerTLS{CertFile: "c", KeyFile: "k"}
	outside := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 50051}
	tests := []struct {
		name string
		s    config.Server
		a    net.Addr
		ok   bool
	}{
		{"localhost bound to loopback", config.Server{GRPCAddress: "localhost:50051"}, &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 50051}, true},
		{"ipv6 loopback", config.Server{GRPCAddress: "localhost:50051"}, &net.TCPAddr{IP: net.IPv6loopback, Port: 50051}, true},
		{"localhost bound beyond loopback", config.Server{GRPCAddress: "localhost:50051"}, outside, false},
		{"beyond loopback with TLS", config.Server{GRPCAddress: "localhost:50051", TLS: withTLS}, outside, true},
		{"beyond loopback, insecure on purpose", config.Server{GRPCAddress: ":50051", InsecureGRPC: true}, outside, true},
		{"unix socket", config.Server{GRPCAddress: "unix:/run/x.sock"}, &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkBound(tc.s, tc.a); (err == nil) != tc.ok {
				t.Errorf("checkBound = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
