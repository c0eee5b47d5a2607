package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
)

// tlsCheckInterval is how often, at most, a handshake checks the TLS files
// for a change (three stat calls).
const tlsCheckInterval = time.Second

// certStore serves the gRPC listener's TLS configuration from
// server.tls's files and reloads them when one changes (its size or
// modification time), checked at most every tlsCheckInterval when a client
// connects: a rotated certificate is served from the next handshake, with
// no restart. A change that does not load keeps the previous
// configuration and is logged once.
type certStore struct {
	files config.ServerTLS
	clock clock.Clock // the time source of the reloads
	log   *slog.Logger

	mu      sync.Mutex
	checked time.Time
	loaded  [3]fileStamp // the files the current config was built from
	failed  [3]fileStamp // the files of the last load that failed
	cfg     *tls.Config
}

// fileStamp identifies a version of a file without reading it.
type fileStamp struct {
	size  int64
	mtime time.Time
}

// newCertStore loads the files once; a failure here is fatal (no previous
// configuration to keep).
func newCertStore(files config.ServerTLS, c clock.Clock, log *slog.Logger) (*certStore, error) {
	if c == nil {
		c = clock.Wall{}
	}
	s := &certStore{files: files, clock: c, log: log}
	stamps := s.stamps()
	cfg, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cfg, s.loaded, s.checked = cfg, stamps, c.Now()
	return s, nil
}

// serverOption is the grpc.Creds of the store: every handshake gets the
// current configuration.
func (s *certStore) serverOption() grpc.ServerOption {
	return grpc.Creds(credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current(), nil
		},
	}))
}

// current returns the configuration to serve now, reloading the files first
// when they changed since the last check.
func (s *certStore) current() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if now.Sub(s.checked) < tlsCheckInterval {
		return s.cfg
	}
	s.checked = now
	stamps := s.stamps()
	if stamps == s.loaded || stamps == s.failed {
		return s.cfg
	}
	cfg, err := s.load()
	if err != nil {
		s.failed = stamps
		s.log.Error("TLS files changed but do not load; serving the previous certificate", "error", err.Error(),
			"cert_file", s.files.CertFile, "key_file", s.files.KeyFile, "client_ca_file", s.files.ClientCAFile)
		return s.cfg
	}
	s.cfg, s.loaded, s.failed = cfg, stamps, [3]fileStamp{}
	s.log.Info("TLS files reloaded", "cert_file", s.files.CertFile, "client_ca_file", s.files.ClientCAFile)
	return s.cfg
}

// stamps are the current stamps of the three files (zero for a file that
// is not set or cannot be read: the load reports why).
func (s *certStore) stamps() [3]fileStamp {
	var out [3]fileStamp
	for i, p := range []string{s.files.CertFile, s.files.KeyFile, s.files.ClientCAFile} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fileStamp{size: fi.Size(), mtime: fi.ModTime()}
		}
	}
	return out
}

// load builds a configuration from the files: the certificate and key, and
// with a client CA, mutual TLS that refuses clients without a certificate
// one of its CAs signed.
func (s *certStore) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.files.CertFile, s.files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: certificate %s, key %s: %w", s.files.CertFile, s.files.KeyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if s.files.ClientCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(s.files.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls.client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("server.tls.client_ca_file %s: %w", s.files.ClientCAFile, errNoCertificates)
	}
	cfg.ClientCAs = pool
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	if sans := s.files.ClientSANs; len(sans) > 0 {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 && hasSAN(cs.PeerCertificates[0], sans) {
				return nil
			}
			return errClientSAN
		}
	}
	return cfg, nil
}

var errClientSAN = errors.New("the client certificate has none of server.tls.client_sans")

// hasSAN reports whether the verified client certificate c carries one of
// sans as a DNS or URI subject alternative name.
func hasSAN(c *x509.Certificate, sans []string) bool {
	for _, want := range sans {
		if slices.Contains(c.DNSNames, want) {
			return true
		}
		for _, u := range c.URIs {
			if u.String() == want {
				return true
			}
		}
	}
	return false
}

var errNoCertificates = errors.New("no PEM certificate in the file")
