package istio

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// loadConfig loads testdata/config.yaml (envoy.version 1.39, Istio
// 1.31's) with envoy.version set to istio's Envoy release.
func loadConfig(t *testing.T, istio string) *config.Config {
	t.Helper()
	c, err := config.Load(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c.Envoy.Version = EnvoyVersion(istio)
	return c
}

// TestGenerate_Golden checks the objects written for each Istio release
// against testdata/istio-<version>.yaml (refresh with -update).
func TestGenerate_Golden(t *testing.T) {
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			got, err := Generate(loadConfig(t, v), Options{IstioVersion: v, Hosts: []string{"llm.example.com"}, SourceName: "istio/testdata/config.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "istio-"+v+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("istio-config output differs from %s; run go test ./istio -run TestGenerate_Golden -update and review the diff", path)
			}
		})
	}
}

// TestGenerate_EveryExtProcCallGoesToTheService checks that no patch
// names the bootstrap's own ext_proc cluster: every ext_proc filter calls
// the Service's Istio cluster, with its FQDN as authority.
func TestGenerate_EveryExtProcCallGoesToTheService(t *testing.T) {
	for _, v := range Versions() {
		out, err := Generate(loadConfig(t, v), Options{IstioVersion: v, Hosts: []string{"llm.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		if strings.Contains(s, envoy.ExtProcCluster) {
			t.Errorf("istio %s: output names %s", v, envoy.ExtProcCluster)
		}
		const want = "cluster_name: outbound|50051||llm-failover.llm-failover.svc.cluster.local"
		if calls, auth := strings.Count(s, want), strings.Count(s, "authority: llm-failover.llm-failover.svc.cluster.local"); calls < 2 || calls != auth {
			t.Errorf("istio %s: %d ext_proc calls to the Service, %d with its authority; want the route phase and every attempt phase, each with it", v, calls, auth)
		}
		if !strings.Contains(s, "name: "+RouteFilterName+"\n") || !strings.Contains(s, "disabled: true\n") {
			t.Errorf("istio %s: the route-phase filter is not %s disabled by default", v, RouteFilterName)
		}
	}
}

// TestBuild_RefusesWhatItCannotWrite checks that options and
// configurations istio-config cannot serve are refused with every problem
// named.
func TestBuild_RefusesWhatItCannotWrite(t *testing.T) {
	good := Options{IstioVersion: V131, Hosts: []string{"llm.example.com"}}
	tests := []struct {
		name  string
		edit  func(*Options, *config.Config)
		wants []string
	}{
		{"unsupported Istio", func(o *Options, _ *config.Config) { o.IstioVersion = "1.29" }, []string{`istio version "1.29" is not supported`}},
		{"no host", func(o *Options, _ *config.Config) { o.Hosts = nil }, []string{"hosts: name at least one host"}},
		{"wildcard host", func(o *Options, _ *config.Config) { o.Hosts = []string{"*"} }, []string{`host "*"`}},
		{"bad gateway labels", func(o *Options, _ *config.Config) { o.GatewaySelector = map[string]string{"a b": "c"} }, []string{"gateway selector"}},
		{"sidecar namespace without selector", func(o *Options, _ *config.Config) { o.SidecarNamespace = "apps" }, []string{"sidecar selector: required"}},
		{"server for another Envoy", func(_ *Options, c *config.Config) { c.Envoy.Version = "1.40" }, []string{`envoy.version: "1.40", but Istio 1.31 runs Envoy 1.39`}},
		{"ext_proc address not a Service", func(_ *Options, c *config.Config) { c.Envoy.ExtProcAddress = "127.0.0.1:50051" }, []string{"envoy.ext_proc_address"}},
		{"ext_proc TLS", func(_ *Options, c *config.Config) { c.Envoy.ExtProcTLS = &config.ExtProcTLS{SNI: "x"} }, []string{"envoy.ext_proc_tls"}},
		{"every problem at once", func(o *Options, c *config.Config) {
			o.IstioVersion, o.Hosts, c.Envoy.ExtProcAddress = "2", nil, "unix:/s"
		}, []string{"istio version", "hosts:", "envoy.ext_proc_address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, c := good, loadConfig(t, good.IstioVersion)
			tt.edit(&o, c)
			_, err := Build(c, o)
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

// FuzzServiceOf checks that any envoy.ext_proc_address is either read as
// a Service or refused, never a panic, and that a Service read has a name,
// namespace and port Kubernetes accepts.
func FuzzServiceOf(f *testing.F) {
	for _, s := range []string{"llm-failover.llm-failover.svc.cluster.local:50051", "a.b.svc:1", "127.0.0.1:50051", "unix:/x", "a.b.svc.cluster.local:99999", ".b.svc.c:1", "a.b.svc.c:"} {
		f.Add(s, ":9464")
	}
	f.Fuzz(func(t *testing.T, addr, admin string) {
		c := &config.Config{}
		c.Envoy.ExtProcAddress, c.Server.AdminAddress = addr, admin
		s, err := serviceOf(c)
		if err != nil {
			return
		}
		if !dnsLabel.MatchString(s.name) || !dnsLabel.MatchString(s.namespace) || s.port < 1 || s.port > 65535 || s.adminPort < 1 || s.adminPort > 65535 || s.adminPort == s.port {
			t.Fatalf("serviceOf(%q, %q) = %+v: not a Service Kubernetes accepts", addr, admin, s)
		}
	})
}

// TestGenerate_ListsTheSDSFilesOfKeysHeldByEnvoy checks that a provider
// whose key Envoy holds gets its credential injector in the patches and
// its SDS file named in the header, for the operator to mount.
func TestGenerate_ListsTheSDSFilesOfKeysHeldByEnvoy(t *testing.T) {
	c := loadConfig(t, V131)
	c.Providers[0].Auth = config.Auth{HeldBy: config.KeyHeldByEnvoy, SecretFile: "/etc/envoy/keys/openai.yaml"}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := Generate(c, Options{IstioVersion: V131, Hosts: []string{"llm.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "#   /etc/envoy/keys/openai.yaml: secret openai-key\n"; !strings.Contains(string(out), want) {
		t.Errorf("header lacks %q:\n%s", want, out[:min(len(out), 800)])
	}
	if !strings.Contains(string(out), "envoy.filters.http.credential_injector") {
		t.Errorf("no credential injector in the patches")
	}
}

// TestGenerate_AddsTheUnavailableListenerOnlyWhereAClusterUsesIt checks
// that the loopback 503 listener is added for Envoy 1.39 (provider
// clusters fall back to it) and not for 1.38 (none does).
func TestGenerate_AddsTheUnavailableListenerOnlyWhereAClusterUsesIt(t *testing.T) {
	for v, want := range map[string]int{V130: 0, V131: 1} {
		out, err := Generate(loadConfig(t, v), Options{IstioVersion: v, Hosts: []string{"llm.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(out), "applyTo: LISTENER"); got != want {
			t.Errorf("istio %s: %d LISTENER patches, want %d", v, got, want)
		}
	}
}
