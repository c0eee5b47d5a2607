package deploy

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/llm-failover/llm-failover/config"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/llm-failover.yaml from the chart's defaults")

// manifestsFile is the plain manifests: the chart rendered with its defaults.
var manifestsFile = filepath.Join("kubernetes", "llm-failover.yaml")

// manifestsHeader starts the plain manifests file.
const manifestsHeader = `# llm-failover for Kubernetes without Helm: the chart deploy/helm/llm-failover
# rendered with its default values for release llm-failover in namespace
# llm-failover (a test keeps the two equal; regenerate with
# cd deploy && go test -run TestManifests -update). Before applying it:
#   kubectl create namespace llm-failover
#   kubectl -n llm-failover create secret generic llm-failover-plan-key \
#     --from-literal=plan.key="$(openssl rand -base64 48)"
#   kubectl -n llm-failover create secret generic llm-failover-provider-keys \
#     --from-literal=OPENAI_API_KEY=... --from-literal=GROQ_API_KEY=...
# then edit the ConfigMap's config.yaml (docs/configuration.md) and
#   kubectl apply -f deploy/kubernetes/llm-failover.yaml
`

// TestChart_RendersValidObjects renders the chart with value sets a user
// would choose and checks that every object passes the Kubernetes schema,
// strict decoding and the cross-object checks, with the objects expected.
func TestChart_RendersValidObjects(t *testing.T) {
	tests := []struct {
		name   string
		values string
		kinds  string // the kinds rendered, sorted
		check  func(t *testing.T, s *objects, cfg *config.Config)
	}{
		{
			name:  "defaults",
			kinds: "ConfigMap,Deployment,NetworkPolicy,PodDisruptionBudget,Service,ServiceAccount",
			check: func(t *testing.T, s *objects, cfg *config.Config) {
				if !cfg.Server.InsecureGRPC || cfg.Server.TLS != nil {
					t.Errorf("server: insecure_grpc %v, tls %v; want plain gRPC acknowledged", cfg.Server.InsecureGRPC, cfg.Server.TLS)
				}
				if got, want := cfg.Server.PlanKeyFile, "/etc/llm-failover/plan-key/plan.key"; got != want {
					t.Errorf("server.plan_key_file = %q, want %q", got, want)
				}
				if got, want := cfg.Envoy.ExtProcAddress, "llm-failover.llm-failover.svc.cluster.local:50051"; got != want {
					t.Errorf("envoy.ext_proc_address = %q, want %q", got, want)
				}
				c := s.deployments[0].Spec.Template.Spec.Containers[0]
				if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != "llm-failover-provider-keys" {
					t.Errorf("envFrom = %+v, want the Secret llm-failover-provider-keys", c.EnvFrom)
				}
				if g := *s.deployments[0].Spec.Template.Spec.TerminationGracePeriodSeconds; g != 35 {
					t.Errorf("terminationGracePeriodSeconds = %d, want 35 (5 preStop + 20 drain + 10)", g)
				}
				np := s.netpols[0].Spec.Ingress[0].From[0]
				if np.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "istio-system" || np.PodSelector.MatchLabels["istio"] != "ingressgateway" {
					t.Errorf("NetworkPolicy gRPC peer = %+v, want istio-system's ingressgateway pods", np)
				}
			},
		},
		{
			name: "mutual TLS from a Secret",
			values: `
grpc: {insecure: false, tls: {secretName: llm-failover-tls, clientSANs: ["spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway"]}}`,
			kinds: "ConfigMap,Deployment,NetworkPolicy,PodDisruptionBudget,Service,ServiceAccount",
			check: func(t *testing.T, s *objects, cfg *config.Config) {
				tls := cfg.Server.TLS
				if tls == nil || tls.CertFile != "/etc/llm-failover/tls/tls.crt" || tls.ClientCAFile != "/etc/llm-failover/tls/ca.crt" || len(tls.ClientSANs) != 1 {
					t.Fatalf("server.tls = %+v, want mutual TLS from the mounted Secret", tls)
				}
				if cfg.Server.InsecureGRPC {
					t.Errorf("insecure_grpc is set with TLS")
				}
				found := false
				for _, v := range s.deployments[0].Spec.Template.Spec.Volumes {
					found = found || (v.Secret != nil && v.Secret.SecretName == "llm-failover-tls")
				}
				if !found {
					t.Errorf("the Secret llm-failover-tls is not a volume")
				}
			},
		},
		{
			name:   "ServiceMonitor on",
			values: `serviceMonitor: {enabled: true, labels: {release: prometheus}}`,
			kinds:  "ConfigMap,Deployment,NetworkPolicy,PodDisruptionBudget,Service,ServiceAccount,ServiceMonitor",
			check: func(t *testing.T, s *objects, _ *config.Config) {
				sm := s.serviceMonitors[0]
				if sm.Labels["release"] != "prometheus" || sm.Spec.Endpoints[0].Path != "/metrics" {
					t.Errorf("ServiceMonitor = %+v, want label release=prometheus and path /metrics", sm)
				}
			},
		},
		{
			name: "one replica, nothing optional",
			values: `
replicaCount: 1
planKey: {secretName: ""}
providerKeys: {secretName: ""}
podDisruptionBudget: {enabled: false}
networkPolicy: {enabled: false}
serviceAccount: {create: false}
topologySpread: false
config:
  server: {stream_first_event_timeout: 15s, grpc_address: "127.0.0.1:1"}
  providers: [{name: local, api: openai-compatible, host: vllm.models.svc, port: 8000, tls: false}]
  chains: [{name: main, targets: [{provider: local, model: m}]}]
  default_chain: null
  envoy: {ext_proc_address: "ext-proc.example:50051"}`,
			kinds: "ConfigMap,Deployment,Service",
			check: func(t *testing.T, s *objects, cfg *config.Config) {
				if cfg.Server.PlanKeyFile != "" || len(s.deployments[0].Spec.Template.Spec.Containers[0].EnvFrom) != 0 {
					t.Errorf("plan key %q, envFrom %v; want neither", cfg.Server.PlanKeyFile, s.deployments[0].Spec.Template.Spec.Containers[0].EnvFrom)
				}
				if cfg.Server.StreamFirstEventTimeout.D().String() != "15s" {
					t.Errorf("server.stream_first_event_timeout = %s, want the value given (15s)", cfg.Server.StreamFirstEventTimeout.D())
				}
				if cfg.Envoy.ExtProcAddress != "ext-proc.example:50051" {
					t.Errorf("envoy.ext_proc_address = %q, want the value given", cfg.Envoy.ExtProcAddress)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := splitManifest(t, mustRender(t, tt.values))
			if got := kinds(objs); got != tt.kinds {
				t.Errorf("kinds = %s, want %s", got, tt.kinds)
			}
			s, err := checkObjects(objs)
			if err != nil {
				t.Fatalf("invalid objects:\n%v", err)
			}
			cfg, err := config.Parse([]byte(s.configMaps[0].Data["config.yaml"]))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s, cfg)
		})
	}
}

// TestChart_RefusesContradictoryValues checks that values the chart cannot
// honour fail the rendering with a message naming the value.
func TestChart_RefusesContradictoryValues(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{"plain gRPC not acknowledged", `grpc: {insecure: false}`, "grpc: set grpc.tls.secretName"},
		{"TLS and insecure together", `grpc: {tls: {secretName: s}}`, "grpc.insecure: must be false"},
		{"replicas without a shared plan key", `planKey: {secretName: ""}`, "planKey.secretName"},
		{"SANs without mutual TLS", `grpc: {insecure: false, tls: {secretName: s, mutual: false, clientSANs: [x]}}`, "grpc.tls.clientSANs"},
		{"gRPC port out of range", `grpc: {port: 70000}`, "/grpc/port"},
		{"admin port equal to gRPC", `admin: {port: 50051}`, "admin.port"},
		{"drain beyond the server's bound", `drain: {timeoutSeconds: 601}`, "/drain/timeoutSeconds"},
		{"config not a map", `config: "providers: []"`, "/config"},
		{"gateway labels empty", `networkPolicy: {gateway: {podLabels: null}}`, "networkPolicy.gateway.podLabels"},
		{"misspelt value (values.schema.json)", `replicas: 3`, "replicas"},
		{"wrong type (values.schema.json)", `replicaCount: two`, "replicaCount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(tt.values)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("render(%q) error = %v, want one containing %q", tt.values, err, tt.want)
			}
		})
	}
}

// TestManifests_EqualChartDefaults checks that deploy/kubernetes is the
// chart rendered with its default values, and valid like it.
func TestManifests_EqualChartDefaults(t *testing.T) {
	want := manifestsHeader + mustRender(t, "")
	if *update {
		if err := os.WriteFile(manifestsFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(manifestsFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the chart rendered with its defaults; run: cd deploy && go test -run TestManifests -update", manifestsFile)
	}
	if _, err := checkObjects(splitManifest(t, string(got))); err != nil {
		t.Fatalf("%s: invalid objects:\n%v", manifestsFile, err)
	}
}

// TestKubeSchema_RefusesBrokenObjects checks that the schema validation
// refuses what the API server would: an unknown field, a missing required
// field, a value of the wrong type.
func TestKubeSchema_RefusesBrokenObjects(t *testing.T) {
	var deployment string
	for _, o := range splitManifest(t, mustRender(t, "")) {
		if o.kind == "Deployment" {
			deployment = string(o.yaml)
		}
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown field", "      automountServiceAccountToken: false", "      automountServiceAccountToken: false\n      hostNetwrok: true", "hostNetwrok"},
		{"missing required container name", "        - name: llm-failover\n", "        - \n", "name"},
		{"wrong type", "  replicas: 2", "  replicas: two", "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := strings.Replace(deployment, tt.old, tt.new, 1)
			if broken == deployment {
				t.Fatalf("the Deployment has no %q to break", tt.old)
			}
			err := validateKube("apps/v1", "Deployment", []byte(broken))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("validateKube error = %v, want one naming %q", err, tt.want)
			}
		})
	}
	if err := validateKube("apps/v1", "Deployment", []byte(deployment)); err != nil {
		t.Fatalf("the rendered Deployment is refused: %v", err)
	}
}

// TestChart_LintsClean runs Helm's chart linter (helm lint --strict):
// no warning and no error.
func TestChart_LintsClean(t *testing.T) {
	l := lint.AllWithKubeVersion(chartDir, nil, releaseNamespace, &minKubeVersion)
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}
