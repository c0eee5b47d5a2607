package envoy

import (
	"errors"
	"os"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/config"
)

// brokenCase is one deliberately broken envoy.yaml: the minimal golden file
// with a text edit, or its bootstrap with a proto edit.
type brokenCase struct {
	name string
	text func(golden string) (string, bool)           // an edit of the golden file
	edit func(t *testing.T, b *bootstrapv3.Bootstrap) // or an edit of the bootstrap
	want []string                                     // substrings of the error
}

const (
	hcmPath       = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
	routePath     = hcmPath + ".route_config.virtual_hosts[0].routes[0]"
	upstreamPath  = `static_resources.clusters[0].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].http_filters`
	extProcClPath = "static_resources.clusters[1]"
)

var brokenCases = []brokenCase{
	{
		name: "unknown field",
		text: replace("stat_prefix: llm_failover", "stat_prefx: llm_failover"),
		want: []string{hcmPath + `: unknown field "stat_prefx" in envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`},
	},
	{
		name: "unknown field inside a nested Any",
		text: replace("allow_mode_override: true", "allow_mode_overide: true"),
		want: []string{hcmPath + `.http_filters[0].typed_config: unknown field "allow_mode_overide"`},
	},
	{
		name: "bad enum",
		text: replace("type: STRICT_DNS", "type: STRICT_DNZ"),
		want: []string{`static_resources.clusters[0].type: "STRICT_DNZ" is not a value of envoy.config.cluster.v3.Cluster.DiscoveryType`, "STRICT_DNS"},
	},
	{
		name: "bad enum inside an Any",
		text: replace("request_body_mode: BUFFERED", "request_body_mode: BUFFER"),
		want: []string{hcmPath + `.http_filters[0].typed_config.processing_mode.request_body_mode: "BUFFER" is not a value`},
	},
	{
		name: "unknown Any type",
		text: replace("envoy.extensions.filters.http.router.v3.Router", "envoy.extensions.filters.http.router.v3.Routr"),
		want: []string{hcmPath + `.http_filters[1].typed_config.@type: unknown type "type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr"`},
	},
	{
		name: "invalid Any content",
		text: replace("message_timeout: 2s", "message_timeout: 7200s"),
		want: []string{hcmPath + ".http_filters[0].typed_config.message_timeout: value must be inside range"},
	},
	{
		name: "invalid field outside any Any",
		text: replace("connect_timeout: 5s", "connect_timeout: -5s"),
		want: []string{"static_resources.clusters[0].connect_timeout: value must be greater than 0s"},
	},
	{
		name: "missing cluster in a priority group",
		text: replace("- cluster_name: openai\n", "- cluster_name: opena1\n"),
		want: []string{routePath + `.route.inline_cluster_specifier_plugin.extension.typed_config.priority_groups[0].clusters[0].cluster_name: the priority group names cluster "opena1"`},
	},
	{
		name: "missing ext_proc cluster",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			b.StaticResources.Clusters[1].Name = "llm_failover_grpc"
			b.StaticResources.Clusters[1].LoadAssignment.ClusterName = "llm_failover_grpc"
		},
		want: []string{
			hcmPath + `.http_filters[0].typed_config.grpc_service.envoy_grpc.cluster_name: the ext_proc gRPC service names cluster "llm_failover_ext_proc", which static_resources.clusters does not define`,
			upstreamPath + `[0].typed_config.grpc_service.envoy_grpc.cluster_name: the ext_proc gRPC service names cluster "llm_failover_ext_proc"`,
		},
	},
	{
		name: "upstream_codec not last",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			editHTTPOptions(t, b, 0, func(o *upstreamhttpv3.HttpProtocolOptions) {
				f := o.HttpFilters
				f[0], f[1] = f[1], f[0]
			})
		},
		want: []string{
			upstreamPath + "[0]: upstream_codec must be the last upstream HTTP filter, but 1 filter(s) follow it",
			upstreamPath + `[1]: the last upstream HTTP filter is "envoy.filters.http.ext_proc"`,
		},
	},
	{
		name: "credential_injector before the attempt phase",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			p := &config.Provider{Name: "openai", Auth: config.Auth{Header: "authorization", Scheme: "Bearer", HeldBy: config.KeyHeldByEnvoy, SecretFile: "/k/openai.yaml"}}
			ci, err := credentialInjector(p)
			if err != nil {
				t.Fatal(err)
			}
			editHTTPOptions(t, b, 0, func(o *upstreamhttpv3.HttpProtocolOptions) {
				o.HttpFilters = append([]*hcmv3.HttpFilter{ci}, o.HttpFilters...)
			})
		},
		want: []string{upstreamPath + "[1]: this ext_proc filter follows the credential_injector at http_filters[0]: its server would receive the injected key"},
	},
	{
		name: "router not last",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			hcm := unpackHCM(t, b)
			hcm.HttpFilters[0], hcm.HttpFilters[1] = hcm.HttpFilters[1], hcm.HttpFilters[0]
			repackHCM(t, b, hcm)
		},
		want: []string{hcmPath + ".http_filters[0]: the router must be the last HTTP filter"},
	},
	{
		name: "attempt phase reads another namespace's plan",
		text: replace("- metadata.filter_metadata['llm_failover.plan']['p']", "- metadata.filter_metadata['llm_failover.plans']['p']"),
		want: []string{upstreamPath + `[0].typed_config.request_attributes: ["xds.upstream_host_metadata" "upstream.request_attempt_count" "metadata.filter_metadata['llm_failover.plans']['p']"] lacks "metadata.filter_metadata['llm_failover.plan']['p']", the plan of the cluster specifier's namespace`},
	},
	{
		name: "route phase receives another namespace",
		text: replace("receiving_namespaces:\n                  untyped:\n                  - llm_failover\n", "receiving_namespaces:\n                  untyped:\n                  - llm-failover\n"),
		want: []string{routePath + `.route.inline_cluster_specifier_plugin.extension.typed_config.override_metadata_namespace: namespace "llm_failover" is not in the route-phase ext_proc metadata_options.receiving_namespaces.untyped`},
	},
	{
		name: "cluster specifier overrides from another namespace",
		text: replace("override_metadata_namespace: llm_failover", "override_metadata_namespace: failover"),
		want: []string{
			`namespace "failover" is not in the route-phase ext_proc metadata_options.receiving_namespaces.untyped`,
			`lacks "metadata.filter_metadata['failover.plan']['p']", the plan of the cluster specifier's namespace`,
		},
	},
	{
		name: "HTTP/1 ext_proc cluster",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			editHTTPOptions(t, b, 1, func(o *upstreamhttpv3.HttpProtocolOptions) {
				o.GetExplicitHttpConfig().ProtocolConfig = &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}}
			})
		},
		want: []string{extProcClPath + `: cluster "llm_failover_ext_proc" serves the ext_proc gRPC service (` + hcmPath + ".http_filters[0].typed_config.grpc_service.envoy_grpc.cluster_name) but does not speak HTTP/2"},
	},
	{
		name: "ext_proc cluster without protocol options",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			b.StaticResources.Clusters[1].TypedExtensionProtocolOptions = nil
		},
		want: []string{extProcClPath + `: cluster "llm_failover_ext_proc" serves the ext_proc gRPC service`},
	},
	{
		name: "retries keep the first cluster",
		text: replace("refresh_cluster_on_retry: true", "refresh_cluster_on_retry: false"),
		want: []string{routePath + ".route.retry_policy.refresh_cluster_on_retry: must be true with the priority_group cluster specifier"},
	},
	{
		name: "no retry policy",
		edit: func(t *testing.T, b *bootstrapv3.Bootstrap) {
			hcm := unpackHCM(t, b)
			hcm.GetRouteConfig().VirtualHosts[0].Routes[0].GetRoute().RetryPolicy = nil
			repackHCM(t, b, hcm)
		},
		want: []string{routePath + ".route.retry_policy.refresh_cluster_on_retry: must be true"},
	},
	{
		name: "wrong scalar type",
		text: replace("port_value: 9901", "port_value: nine"),
		want: []string{`admin.address.socket_address.port_value: want a number, got "nine"`},
	},
	{
		name: "empty file",
		text: func(string) (string, bool) { return " \n", true },
		want: []string{"empty file"},
	},
	{
		name: "not YAML",
		text: replace("static_resources:", "static_resources: ["),
		want: []string{"not YAML"},
	},
}

// editedBootstrap returns the YAML of the bootstrap built from the config at
// path after edit changed it.
func editedBootstrap(t *testing.T, path string, edit func(*testing.T, *bootstrapv3.Bootstrap)) []byte {
	t.Helper()
	b, err := Bootstrap(loadConfig(t, path))
	if err != nil {
		t.Fatal(err)
	}
	edit(t, b)
	y, err := marshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestCheck_RejectsBrokenFiles verifies that each deliberately broken file
// is rejected with an error naming the field path and the problem.
func TestCheck_RejectsBrokenFiles(t *testing.T) {
	golden, err := os.ReadFile("testdata/minimal.envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range brokenCases {
		t.Run(tc.name, func(t *testing.T) {
			file := string(golden)
			switch {
			case tc.edit != nil:
				file = string(editedBootstrap(t, "testdata/minimal.config.yaml", tc.edit))
			default:
				var ok bool
				if file, ok = tc.text(file); !ok {
					t.Fatal("the golden file lacks the text to edit")
				}
			}
			err := Check([]byte(file))
			if err == nil {
				t.Fatalf("Check() = nil, want an error containing %q", tc.want)
			}
			if !errors.Is(err, ErrCheck) {
				t.Errorf("errors.Is(err, ErrCheck) = false for %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check() error:\n%v\nwant it to contain:\n%s", err, w)
				}
			}
		})
	}
}

// TestCheck_ReportsEveryProblem verifies that independent problems are all
// reported, not just the first.
func TestCheck_ReportsEveryProblem(t *testing.T) {
	golden, err := os.ReadFile("testdata/minimal.envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := strings.Replace(string(golden), "type: STRICT_DNS", "type: STRICT_DNZ", 1)
	file = strings.Replace(file, "stat_prefix: llm_failover", "stat_prefx: llm_failover", 1)
	err = Check([]byte(file))
	for _, w := range []string{`"STRICT_DNZ"`, `"stat_prefx"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check() = %v, want it to mention %s", err, w)
		}
	}
	file = strings.Replace(string(golden), "message_timeout: 2s", "message_timeout: 7200s", 1)
	file = strings.Replace(file, "refresh_cluster_on_retry: true", "refresh_cluster_on_retry: false", 1)
	err = Check([]byte(file))
	for _, w := range []string{"message_timeout", "refresh_cluster_on_retry"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check() = %v, want it to mention %s", err, w)
		}
	}
}

// TestCheck_AcceptsHandWrittenFile verifies that a plain hand-written
// bootstrap without llm-failover's filters passes.
func TestCheck_AcceptsHandWrittenFile(t *testing.T) {
	b, err := os.ReadFile("testdata/handwritten.envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(b); err != nil {
		t.Errorf("Check(handwritten.envoy.yaml) = %v, want nil", err)
	}
}

func editHTTPOptions(t *testing.T, b *bootstrapv3.Bootstrap, cluster int, edit func(*upstreamhttpv3.HttpProtocolOptions)) {
	t.Helper()
	cl := b.StaticResources.Clusters[cluster]
	var o upstreamhttpv3.HttpProtocolOptions
	if err := cl.TypedExtensionProtocolOptions[httpProtocolOptionsKey].UnmarshalTo(&o); err != nil {
		t.Fatal(err)
	}
	edit(&o)
	a, err := anypb.New(&o)
	if err != nil {
		t.Fatal(err)
	}
	cl.TypedExtensionProtocolOptions[httpProtocolOptionsKey] = a
}

func unpackHCM(t *testing.T, b *bootstrapv3.Bootstrap) *hcmv3.HttpConnectionManager {
	t.Helper()
	var h hcmv3.HttpConnectionManager
	if err := b.StaticResources.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&h); err != nil {
		t.Fatal(err)
	}
	return &h
}

func repackHCM(t *testing.T, b *bootstrapv3.Bootstrap, h *hcmv3.HttpConnectionManager) {
	t.Helper()
	a, err := anypb.New(h)
	if err != nil {
		t.Fatal(err)
	}
	f := b.StaticResources.Listeners[0].FilterChains[0].Filters[0]
	f.ConfigType.(*listenerv3.Filter_TypedConfig).TypedConfig = a
}

// replace edits the first occurrence of old; ok is false when old is absent.
func replace(old, new string) func(string) (string, bool) {
	return func(s string) (string, bool) {
		return strings.Replace(s, old, new, 1), strings.Contains(s, old)
	}
}
