package envoy

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
)

// composeFile is the part of docker-compose.yml these tests read. Decoding
// is strict, so a field the file gains must be added here.
type composeFile struct {
	Name     string                    `json:"name"`
	Services map[string]composeService `json:"services"`
}

type composeService struct {
	Image string `json:"image,omitempty"`
	Build *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build,omitempty"`
	Command   []string `json:"command,omitempty"`
	Volumes   []string `json:"volumes,omitempty"`
	Ports     []string `json:"ports,omitempty"`
	Expose    []string `json:"expose,omitempty"`
	DependsOn []string `json:"depends_on,omitempty"`
}

const (
	composePath        = "../docker-compose.yml"
	composeConfigPath  = "../examples/compose-config.yaml"
	composeEnvoyPath   = "compose-envoy.yaml"
	envoyImage         = "envoyproxy/envoy:v1.40.0"
	envoyService       = "envoy"
	llmFailoverService = "llm-failover"
)

func loadCompose(t *testing.T) (*composeFile, *config.Config) {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("parse %s: %v", composePath, err)
	}
	return &f, loadConfig(t, composeConfigPath)
}

// mount returns the container path that host path src is mounted at.
func mount(s composeService, src string) (string, bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[0] == src {
			return parts[1], true
		}
	}
	return "", false
}

// publishes reports whether the service publishes container port port.
func publishes(s composeService, port int) bool {
	for _, p := range s.Ports {
		p, _, _ = strings.Cut(p, "/")
		if p[strings.LastIndex(p, ":")+1:] == strconv.Itoa(port) {
			return true
		}
	}
	return false
}

// flagValue returns the argument after name in args.
func flagValue(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// TestCompose_EnvoyServiceMatchesGeneratedConfig verifies that the envoy
// service runs the pinned Envoy 1.40 image on the generated compose
// envoy.yaml and publishes the configured listener port.
func TestCompose_EnvoyServiceMatchesGeneratedConfig(t *testing.T) {
	f, c := loadCompose(t)
	s, ok := f.Services[envoyService]
	if !ok {
		t.Fatalf("%s has no %q service", composePath, envoyService)
	}
	if s.Image != envoyImage {
		t.Errorf("envoy image = %q, want %q", s.Image, envoyImage)
	}
	cfgPath := flagValue(s.Command, "-c")
	if cfgPath == "" {
		cfgPath = "/etc/envoy/envoy.yaml" // the image's default command
	}
	if got, ok := mount(s, "./envoy/"+composeEnvoyPath); !ok || got != cfgPath {
		t.Errorf("envoy mounts ./envoy/%s at %q (mounted: %v), want it at %q, the path envoy -c reads", composeEnvoyPath, got, ok, cfgPath)
	}
	if !publishes(s, c.Envoy.ListenPort) {
		t.Errorf("envoy ports %v do not publish envoy.listen_port %d", s.Ports, c.Envoy.ListenPort)
	}
	if publishes(s, c.Envoy.AdminPort) {
		t.Errorf("envoy ports %v publish the admin port %d, which listens on 127.0.0.1 only", s.Ports, c.Envoy.AdminPort)
	}
	for name := range f.Services {
		if name != envoyService && !slices.Contains(s.DependsOn, name) {
			t.Errorf("envoy depends_on %v lacks %q", s.DependsOn, name)
		}
	}
}

// TestCompose_LLMFailoverServiceMatchesConfig verifies that the llm-failover
// service serves the compose config at the address Envoy's ext_proc cluster uses.
func TestCompose_LLMFailoverServiceMatchesConfig(t *testing.T) {
	f, c := loadCompose(t)
	s, ok := f.Services[llmFailoverService]
	if !ok {
		t.Fatalf("%s has no %q service", composePath, llmFailoverService)
	}
	if s.Build == nil || s.Build.Dockerfile != "Dockerfile" {
		t.Errorf("llm-failover build = %+v, want dockerfile Dockerfile", s.Build)
	}
	if len(s.Command) == 0 || s.Command[0] != "serve" {
		t.Errorf("llm-failover command = %q, want serve --config ...", s.Command)
	}
	cfgPath := flagValue(s.Command, "--config")
	if got, ok := mount(s, "./examples/compose-config.yaml"); !ok || got != cfgPath {
		t.Errorf("llm-failover mounts ./examples/compose-config.yaml at %q (mounted: %v), want it at %q, the --config path", got, ok, cfgPath)
	}
	host, port, err := net.SplitHostPort(c.Envoy.ExtProcAddress)
	if err != nil {
		t.Fatalf("envoy.ext_proc_address %q: %v", c.Envoy.ExtProcAddress, err)
	}
	if host != llmFailoverService {
		t.Errorf("envoy.ext_proc_address host = %q, want the service name %q", host, llmFailoverService)
	}
	_, grpcPort, err := net.SplitHostPort(c.Server.GRPCAddress)
	if err != nil || grpcPort != port {
		t.Errorf("server.grpc_address %q listens on another port than envoy.ext_proc_address %q", c.Server.GRPCAddress, c.Envoy.ExtProcAddress)
	}
	if !slices.Contains(s.Expose, port) {
		t.Errorf("llm-failover expose %v lacks the ext_proc port %s", s.Expose, port)
	}
}

// TestCompose_FakeProvidersMatchConfig verifies that every provider of the
// compose config is a fakellm service of that name, on that port, over plain HTTP.
func TestCompose_FakeProvidersMatchConfig(t *testing.T) {
	f, c := loadCompose(t)
	if len(c.Providers) < 2 {
		t.Errorf("the compose config has %d providers, want at least 2 to show a failover", len(c.Providers))
	}
	for _, p := range c.Providers {
		s, ok := f.Services[p.Host]
		if !ok {
			t.Errorf("provider %q: host %q is not a service of %s", p.Name, p.Host, composePath)
			continue
		}
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile.fakellm" {
			t.Errorf("service %q build = %+v, want dockerfile Dockerfile.fakellm", p.Host, s.Build)
		}
		if got, want := flagValue(s.Command, "-listen"), ":"+strconv.Itoa(p.Port); got != want {
			t.Errorf("service %q listens on %q, want %q (provider %q port)", p.Host, got, want, p.Name)
		}
		if got := flagValue(s.Command, "-name"); got != p.Name {
			t.Errorf("service %q is named %q, want the provider name %q", p.Host, got, p.Name)
		}
		if *p.TLS {
			t.Errorf("provider %q uses TLS; fakellm serves plain HTTP", p.Name)
		}
		if p.Auth.KeyEnv != "" || p.Auth.KeyFile != "" {
			t.Errorf("provider %q needs a key; the demo must run without one", p.Name)
		}
	}
}

// TestCompose_FilesExist verifies that every Dockerfile and mounted file the
// compose file names is in the repository.
func TestCompose_FilesExist(t *testing.T) {
	f, _ := loadCompose(t)
	for name, s := range f.Services {
		if s.Build != nil {
			if s.Build.Context != "." {
				t.Errorf("service %q build context = %q, want \".\" (the module root)", name, s.Build.Context)
			}
			if _, err := os.Stat("../" + s.Build.Dockerfile); err != nil {
				t.Errorf("service %q: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if _, err := os.Stat("../" + strings.TrimPrefix(src, "./")); err != nil {
				t.Errorf("service %q volume %q: %v", name, v, err)
			}
		}
	}
}

// TestCompose_EnvoyYAMLReachesServices verifies, on the committed compose
// envoy.yaml itself, that its listener, ext_proc cluster and provider
// clusters point at the compose services and ports.
func TestCompose_EnvoyYAMLReachesServices(t *testing.T) {
	f, c := loadCompose(t)
	raw, err := os.ReadFile(composeEnvoyPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := decode(raw)
	if err != nil {
		t.Fatalf("decode %s: %v", composeEnvoyPath, err)
	}
	if got := b.GetStaticResources().GetListeners()[0].GetAddress().GetSocketAddress().GetPortValue(); int(got) != c.Envoy.ListenPort {
		t.Errorf("listener port = %d, want envoy.listen_port %d", got, c.Envoy.ListenPort)
	}
	endpoints := map[string]string{} // cluster -> host:port
	for _, cl := range b.GetStaticResources().GetClusters() {
		sa := cl.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		endpoints[cl.GetName()] = net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
	}
	if got, want := endpoints[ExtProcCluster], c.Envoy.ExtProcAddress; got != want {
		t.Errorf("cluster %s reaches %q, want %q", ExtProcCluster, got, want)
	}
	for _, p := range c.Providers {
		host, port, _ := net.SplitHostPort(endpoints[p.Cluster])
		if _, ok := f.Services[host]; !ok {
			t.Errorf("cluster %q reaches host %q, which is not a compose service", p.Cluster, host)
		}
		if port != strconv.Itoa(p.Port) {
			t.Errorf("cluster %q reaches port %s, want %d", p.Cluster, port, p.Port)
		}
	}
}
