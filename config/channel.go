package config

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// ServerTLS is the gRPC listener's TLS (docs/security.md). The files are
// read at start and again when they change (their size or modification
// time), with no restart; a bad new file keeps the previous certificate.
type ServerTLS struct {
	// CertFile is the server's PEM certificate chain. Required.
	CertFile string `json:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Required.
	KeyFile string `json:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates. Set: mutual TLS, a client without a certificate these
	// CAs signed is refused in the handshake. Unset: any client may connect.
	ClientCAFile string `json:"client_ca_file,omitempty"`
	// ClientSANs are the subject alternative names (DNS names or URIs, such
	// as a SPIFFE ID) a client certificate must carry one of, on top of
	// being signed by ClientCAFile: with a CA that also signs other
	// workloads' certificates, only Envoy's is accepted. Needs
	// client_ca_file. Default none: any certificate the CAs signed.
	ClientSANs []string `json:"client_sans,omitempty"`
}

// ExtProcTLS is Envoy's side of the ext_proc channel's TLS: the
// llm_failover_ext_proc cluster's UpstreamTlsContext, with its certificate
// and validation context read by Envoy from SDS secret files
// (docs/security.md shows their content; Envoy reloads them when they are
// replaced by a rename).
type ExtProcTLS struct {
	// SNI is the server name Envoy sends and, in the generated
	// validation, the DNS SAN the server certificate must carry. Required.
	SNI string `json:"sni"`
	// ValidationSDSFile is the absolute path of the SDS file holding the
	// secret "llm_failover_ext_proc_ca": a validation_context with the CA
	// that signed llm-failover's certificate. Required.
	ValidationSDSFile string `json:"validation_sds_file"`
	// CertificateSDSFile is the absolute path of the SDS file holding the
	// secret "llm_failover_ext_proc_client": Envoy's client certificate and
	// key (a tls_certificate). Required when llm-failover requires mutual
	// TLS (server.tls.client_ca_file); unset: no client certificate.
	CertificateSDSFile string `json:"certificate_sds_file,omitempty"`
}

// minPlanKeyBytes is the shortest plan key accepted (HMAC-SHA256's block
// of security: 256 bits).
const minPlanKeyBytes = 32

// IsLoopback reports whether a gRPC listen address stays on this machine:
// a unix socket, "localhost", or a loopback IP. An empty host (all
// interfaces) is not loopback.
func IsLoopback(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateChannel checks the server's listener security and Envoy's side
// of it.
func (c *Config) validateChannel(p *problems) {
	c.Server.validateListener(p)
	if e := c.Envoy.ExtProcTLS; e != nil {
		e.validate(p, c.Server.TLS)
	}
}

// validateListener checks that the gRPC listener is on loopback or secured,
// and server.tls.
func (s *Server) validateListener(p *problems) {
	if s.TLS == nil && !s.InsecureGRPC && !IsLoopback(s.GRPCAddress) {
		p.bad("server.grpc_address", "%q listens beyond loopback without TLS: anyone who reaches it can open ext_proc streams; set server.tls, listen on 127.0.0.1 or a unix socket, or set server.insecure_grpc: true to accept that", s.GRPCAddress)
	}
	if t := s.TLS; t != nil {
		if t.CertFile == "" {
			p.bad("server.tls.cert_file", "required")
		}
		if t.KeyFile == "" {
			p.bad("server.tls.key_file", "required")
		}
		if len(t.ClientSANs) > 0 && t.ClientCAFile == "" {
			p.bad("server.tls.client_sans", "needs server.tls.client_ca_file (no client certificate is asked without it)")
		}
		for i, san := range t.ClientSANs {
			if san == "" {
				p.bad(fmt.Sprintf("server.tls.client_sans[%d]", i), "empty")
			}
		}
	}
}

// validate checks envoy.ext_proc_tls against the server's TLS (server may be nil).
func (e *ExtProcTLS) validate(p *problems, server *ServerTLS) {
	if e.SNI == "" || strings.ContainsAny(e.SNI, "/: ") {
		p.bad("envoy.ext_proc_tls.sni", "%q must be a DNS name", e.SNI)
	}
	if !filepath.IsAbs(e.ValidationSDSFile) {
		p.bad("envoy.ext_proc_tls.validation_sds_file", "%q must be an absolute path", e.ValidationSDSFile)
	}
	if e.CertificateSDSFile != "" && !filepath.IsAbs(e.CertificateSDSFile) {
		p.bad("envoy.ext_proc_tls.certificate_sds_file", "%q must be an absolute path", e.CertificateSDSFile)
	}
	if server != nil && server.ClientCAFile != "" && e.CertificateSDSFile == "" {
		p.bad("envoy.ext_proc_tls.certificate_sds_file", "required: server.tls.client_ca_file requires a client certificate")
	}
}

// ReadPlanKey returns the plan-signing key from PlanKeyFile with
// surrounding white space trimmed, or nil when no file is set. A file that
// is unreadable or shorter than 32 bytes is an error naming the file; the
// key is never part of an error.
func (s Server) ReadPlanKey() ([]byte, error) {
	return readSecretFile("server.plan_key_file", s.PlanKeyFile, minPlanKeyBytes)
}

// readSecretFile returns the content of the secret file at path (the
// config field field) with surrounding white space trimmed, or nil when
// path is empty. An unreadable file or one shorter than min bytes is an
// error naming the field and the file, never the secret.
func readSecretFile(field, path string, min int) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < min {
		return nil, fmt.Errorf("%s %s: %d bytes, want at least %d (e.g. openssl rand -base64 48)", field, path, len(b), min)
	}
	return b, nil
}
