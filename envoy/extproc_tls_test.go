package envoy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestCheckSecretFile verifies the example SDS files of the ext_proc
// channel are what Envoy accepts from a path config source, and that the
// mistakes Envoy rejects are caught.
func TestCheckSecretFile(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "examples", "sds", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	client, ca := read("ext_proc_client.yaml"), read("ext_proc_ca.yaml")
	tests := []struct {
		name, file, secret, wantErr string
	}{
		{"client certificate example", client, ExtProcClientSecret, ""},
		{"CA example", ca, ExtProcCASecret, ""},
		{"secret of another name", client, ExtProcCASecret, "resources[0].name"},
		{"no resource", "resources: []\n", ExtProcCASecret, "0 resources"},
		{"two resources", ca + strings.Join(strings.SplitAfter(ca, "resources:\n")[1:], ""), ExtProcCASecret, "2 resources"},
		{"unknown field", strings.Replace(ca, "trusted_ca:", "trusted_cas:", 1), ExtProcCASecret, "does not decode"},
		{"not a secret", strings.Replace(ca, "tls.v3.Secret", "tls.v3.UpstreamTlsContext", 1), ExtProcCASecret, "unknown field \"name\""},
		{"empty file name", strings.Replace(ca, "/etc/envoy/ext_proc/ca.crt", "", 1), ExtProcCASecret, "trusted_ca"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSecretFile([]byte(tc.file), tc.secret)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestGenerate_ExtProcTLSOnlyWhenConfigured verifies the ext_proc cluster
// has the upstream TLS transport socket with both SDS files under
// envoy.ext_proc_tls, none without it, and no client certificate when
// certificate_sds_file is unset.
func TestGenerate_ExtProcTLSOnlyWhenConfigured(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
		absent []string
	}{
		{"mutual TLS", "testdata/mtls.config.yaml",
			[]string{"path: /etc/envoy/sds/ext_proc_client.yaml", "path: /etc/envoy/sds/ext_proc_ca.yaml", "sni: llm-failover.internal", "exact: llm-failover.internal"}, nil},
		{"plain", "testdata/minimal.config.yaml", nil, []string{"sds_config", "llm_failover_ext_proc_ca"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := loadConfig(t, tc.config)
			out, err := Generate(c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ext := string(out[strings.Index(string(out), "- name: "+ExtProcCluster):])
			for _, w := range tc.want {
				if !strings.Contains(ext, w) {
					t.Errorf("ext_proc cluster: got no %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(string(out), a) {
					t.Errorf("got %q, want none", a)
				}
			}
		})
	}
	c := loadConfig(t, "testdata/mtls.config.yaml")
	c.Envoy.ExtProcTLS.CertificateSDSFile = ""
	c.Server.TLS.ClientCAFile = ""
	out, err := Generate(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), ExtProcClientSecret) || !strings.Contains(string(out), ExtProcCASecret) {
		t.Errorf("server-only TLS: got a client certificate or no CA:\n%s", out)
	}
	if err := Check(out); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestDocs_SecurityQuotesTheSDSExamples verifies docs/security.md shows
// the example SDS files as they are (without their comment lines).
func TestDocs_SecurityQuotesTheSDSExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ext_proc_client.yaml", "ext_proc_ca.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "sds", name))
		if err != nil {
			t.Fatal(err)
		}
		var body []string
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if !strings.HasPrefix(l, "#") {
				body = append(body, l)
			}
		}
		if want := "```yaml\n" + strings.Join(body, "") + "```\n"; !strings.Contains(string(doc), want) {
			t.Errorf("docs/security.md: got no copy of examples/sds/%s, want\n%s", name, want)
		}
	}
}

// TestGenerate_RefusesOneSidedTLS verifies envoy-config refuses a config
// whose two sides of the ext_proc channel disagree on TLS.
func TestGenerate_RefusesOneSidedTLS(t *testing.T) {
	tests := map[string]func(c *config.Config){
		"server TLS only": func(c *config.Config) { c.Envoy.ExtProcTLS = nil },
		"Envoy TLS only":  func(c *config.Config) { c.Server.TLS = nil },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			c := loadConfig(t, "testdata/mtls.config.yaml")
			change(c)
			if _, err := Generate(c, Options{}); !errors.Is(err, ErrGenerate) {
				t.Fatalf("got %v, want an ErrGenerate", err)
			}
		})
	}
}
