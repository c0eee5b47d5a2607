package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestValidate_ChannelSecurity verifies the ext_proc listener rules: loopback
// and unix sockets need nothing, any other address needs TLS or an explicit
// insecure_grpc, and Envoy's TLS side is complete.
func TestValidate_ChannelSecurity(t *testing.T) {
	const tlsFiles = "tls: {cert_file: /etc/llm/tls.crt, key_file: /etc/llm/tls.key"
	tests := []struct {
		name   string
		server string
		envoy  string
		want   []string
	}{
		{"default loopback", "", "", nil},
		{"explicit loopback", `{grpc_address: "127.0.0.2:50051"}`, "", nil},
		{"ipv6 loopback", `{grpc_address: "[::1]:50051"}`, "", nil},
		{"localhost", `{grpc_address: "localhost:50051"}`, "", nil},
		{"unix socket", `{grpc_address: "unix:/run/llm.sock"}`, "", nil},
		{"every interface without TLS", `{grpc_address: ":50051"}`, "", []string{"server.grpc_address"}},
		{"a routable address without TLS", `{grpc_address: "10.0.0.5:50051"}`, "", []string{"server.grpc_address"}},
		{"every interface, insecure on purpose", `{grpc_address: ":50051", insecure_grpc: true}`, "", nil},
		{"every interface with TLS", `{grpc_address: ":50051", ` + tlsFiles + `}}`, "", nil},
		{"TLS without files", `{grpc_address: ":50051", tls: {client_ca_file: /ca.pem}}`, "",
			[]string{"server.tls.cert_file", "server.tls.key_file"}},
		{"envoy TLS complete", "", `{ext_proc_tls: {sni: llm-failover.internal, validation_sds_file: /etc/envoy/ca.yaml, certificate_sds_file: /etc/envoy/cert.yaml}}`, nil},
		{"envoy TLS incomplete", "", `{ext_proc_tls: {sni: "a b", validation_sds_file: ca.yaml, certificate_sds_file: cert.yaml}}`,
			[]string{"envoy.ext_proc_tls.sni", "envoy.ext_proc_tls.validation_sds_file", "envoy.ext_proc_tls.certificate_sds_file"}},
		{"client SANs without a client CA", `{grpc_address: ":50051", ` + tlsFiles + `, client_sans: [envoy.edge, ""]}}`, "",
			[]string{"server.tls.client_sans", "server.tls.client_sans[1]"}},
		{"client SANs with a client CA", `{grpc_address: ":50051", ` + tlsFiles + `, client_ca_file: /ca.pem, client_sans: ["spiffe://mesh/envoy"]}}`,
			`{ext_proc_tls: {sni: llm-failover.internal, validation_sds_file: /etc/envoy/ca.yaml, certificate_sds_file: /etc/envoy/cert.yaml}}`, nil},
		{"mutual TLS without Envoy's certificate", `{grpc_address: ":50051", ` + tlsFiles + `, client_ca_file: /ca.pem}}`,
			`{ext_proc_tls: {sni: llm-failover.internal, validation_sds_file: /etc/envoy/ca.yaml}}`,
			[]string{"envoy.ext_proc_tls.certificate_sds_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := minimal
			if tt.server != "" {
				y += "server: " + tt.server + "\n"
			}
			if tt.envoy != "" {
				y += "envoy: " + tt.envoy + "\n"
			}
			_, err := config.Parse([]byte(y))
			var got []string
			if err != nil {
				got = fieldPaths(t, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("paths: got %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}

// TestReadPlanKey verifies the plan key file: trimmed, at least 32 bytes,
// and errors that name the file but never hold its content.
func TestReadPlanKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	long := strings.Repeat("k", 32)
	tests := []struct {
		name    string
		file    string
		want    string
		wantErr bool
	}{
		{"unset", "", "", false},
		{"exactly 32 bytes, newline trimmed", write("ok", long+"\n"), long, false},
		{"31 bytes", write("short", "short-secret-"+strings.Repeat("s", 18)), "", true},
		{"missing", filepath.Join(dir, "none"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.Server{PlanKeyFile: tt.file}.ReadPlanKey()
			if (err != nil) != tt.wantErr || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "short-secret") {
				t.Errorf("error %q holds the key", err)
			}
		})
	}
}

// FuzzIsLoopback verifies IsLoopback never panics and never calls an
// address loopback whose host is not a loopback IP, localhost or a unix socket.
func FuzzIsLoopback(f *testing.F) {
	for _, s := range []string{":50051", "127.0.0.1:1", "[::1]:2", "unix:/x", "localhost:3", "0.0.0.0:4", "[::]:5", "10.0.0.1", "127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if !config.IsLoopback(addr) || strings.HasPrefix(addr, "unix:") {
			return
		}
		host := addr[:strings.LastIndex(addr, ":")]
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host != "localhost" && !strings.HasPrefix(host, "127.") && host != "::1" && !strings.Contains(host, ":") {
			t.Errorf("IsLoopback(%q) = true, want false", addr)
		}
	})
}
