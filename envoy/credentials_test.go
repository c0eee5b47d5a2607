package envoy

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	credinjectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/credential_injector/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/injected_credentials/generic/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
)

// TestGenerate_CredentialInjectorWhereEnvoyHoldsTheKey verifies each
// Envoy-held provider's cluster runs ext_proc, then the credential injector
// with the API's header and prefix from the provider's SDS file, then
// upstream_codec; and a server-held provider's cluster has no injector.
func TestGenerate_CredentialInjectorWhereEnvoyHoldsTheKey(t *testing.T) {
	c := loadConfig(t, "../examples/mesh-config.yaml")
	c.Providers[3].Auth = config.Auth{KeyEnv: "AZURE_KEY"} // held by the server
	c.ApplyDefaults()
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ header, prefix, file string }{
		"openai":    {"authorization", "Bearer ", "/etc/envoy/keys/openai.yaml"},
		"anthropic": {"x-api-key", "", "/etc/envoy/keys/anthropic.yaml"},
		"gemini":    {"x-goog-api-key", "", "/etc/envoy/keys/gemini.yaml"},
	}
	for _, cl := range b.StaticResources.Clusters {
		opts, ok := httpOptions(cl)
		if !ok || cl.Name == ExtProcCluster {
			continue
		}
		var names []string
		for _, f := range opts.GetHttpFilters() {
			names = append(names, f.GetName())
		}
		w, held := want[cl.Name]
		if !held {
			if got := strings.Join(names, ","); got != filterExtProc+","+filterUpstreamCodec {
				t.Errorf("cluster %s (key held by the server): filters %s, want ext_proc, upstream_codec", cl.Name, got)
			}
			continue
		}
		if got := strings.Join(names, ","); got != filterExtProc+","+filterCredentialInjector+","+filterUpstreamCodec {
			t.Fatalf("cluster %s: filters %s, want ext_proc, credential_injector, upstream_codec", cl.Name, got)
		}
		var ci credinjectorv3.CredentialInjector
		if err := opts.GetHttpFilters()[1].GetTypedConfig().UnmarshalTo(&ci); err != nil {
			t.Fatal(err)
		}
		var g genericv3.Generic
		if err := ci.GetCredential().GetTypedConfig().UnmarshalTo(&g); err != nil {
			t.Fatal(err)
		}
		if !ci.Overwrite || !ci.AllowRequestWithoutCredential || g.Header != w.header || g.HeaderValuePrefix != w.prefix ||
			g.GetCredential().GetName() != cl.Name+"-key" || g.GetCredential().GetSdsConfig().GetPathConfigSource().GetPath() != w.file {
			t.Errorf("cluster %s: got overwrite %v, allow_request_without_credential %v, header %q, prefix %q, secret %q from %q; want true, true, %q, %q, %q from %q",
				cl.Name, ci.Overwrite, ci.AllowRequestWithoutCredential, g.Header, g.HeaderValuePrefix,
				g.GetCredential().GetName(), g.GetCredential().GetSdsConfig().GetPathConfigSource().GetPath(), w.header, w.prefix, cl.Name+"-key", w.file)
		}
	}
}

// TestSecretFile_IsTheSDSResourceEnvoyReads verifies the secret file decodes
// strictly as the DiscoveryResponse Envoy's file subscription loads (YAML
// for .yaml, JSON for .json), with one valid Secret named as the injector
// asks and the key byte for byte.
func TestSecretFile_IsTheSDSResourceEnvoyReads(t *testing.T) {
	for _, file := range []string{"/k/p.yaml", "/k/p.yml", "/k/p.json"} {
		t.Run(file, func(t *testing.T) {
			p := &config.Provider{Name: "p", Auth: config.Auth{HeldBy: config.KeyHeldByEnvoy, SecretFile: file}}
			b, err := SecretFile(p, `sk-"quoted"\key`)
			if err != nil {
				t.Fatal(err)
			}
			js := b
			if !strings.HasSuffix(file, ".json") {
				if js, err = yaml.YAMLToJSON(b); err != nil {
					t.Fatal(err)
				}
			}
			var dr discoveryv3.DiscoveryResponse
			if err := protojson.Unmarshal(js, &dr); err != nil {
				t.Fatalf("decoding %s: %v\n%s", file, err, b)
			}
			if len(dr.Resources) != 1 {
				t.Fatalf("resources: got %d, want 1", len(dr.Resources))
			}
			var s tlsv3.Secret
			if err := dr.Resources[0].UnmarshalTo(&s); err != nil {
				t.Fatal(err)
			}
			if err := s.ValidateAll(); err != nil {
				t.Errorf("Secret.ValidateAll: %v", err)
			}
			if s.Name != "p-key" || s.GetGenericSecret().GetSecret().GetInlineString() != `sk-"quoted"\key` {
				t.Errorf("got secret %q = %q, want p-key = the key", s.Name, s.GetGenericSecret().GetSecret().GetInlineString())
			}
		})
	}
}

// TestSecretTemplates_OnePerEnvoyHeldProvider verifies the template names
// every Envoy-held provider's file and secret, and is nil when Envoy holds
// no key.
func TestSecretTemplates_OnePerEnvoyHeldProvider(t *testing.T) {
	b, err := SecretTemplates(loadConfig(t, "../examples/mesh-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"/etc/envoy/keys/openai.yaml", "name: openai-key", "name: anthropic-key", "name: gemini-key", "name: azure-key"} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("template: got no %q in\n%s", w, b)
		}
	}
	if n := bytes.Count(b, []byte("\n---\n")); n != 3 {
		t.Errorf("separators: got %d, want 3", n)
	}
	if b, err := SecretTemplates(loadConfig(t, "testdata/minimal.config.yaml")); b != nil || err != nil {
		t.Errorf("no Envoy-held key: got %q, %v; want nil, nil", b, err)
	}
}

// TestCheck_InjectedHeaderMustBeHiddenFromEveryAttemptPhase verifies the
// generated attempt-phase filters keep every injected header from the
// ext_proc server, on every provider cluster, and that Check refuses a
// file where one does not (a later attempt would send it the key).
func TestCheck_InjectedHeaderMustBeHiddenFromEveryAttemptPhase(t *testing.T) {
	c := loadConfig(t, "../examples/mesh-config.yaml")
	c.Providers[3].Auth = config.Auth{KeyEnv: "AZURE_KEY"} // held by the server, still hides the others
	c.ApplyDefaults()
	b, err := Bootstrap(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range b.StaticResources.Clusters {
		opts, ok := httpOptions(cl)
		if !ok || cl.Name == ExtProcCluster {
			continue
		}
		var ep extprocv3.ExternalProcessor
		if err := opts.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&ep); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"authorization", "x-api-key", "x-goog-api-key"} {
			if !hidesHeader(ep.GetForwardRules(), h) {
				t.Errorf("cluster %s: attempt phase forward_rules %v do not hide %s", cl.Name, ep.GetForwardRules(), h)
			}
		}
		if hidesHeader(ep.GetForwardRules(), "api-key") {
			t.Errorf("cluster %s: hides api-key, which Envoy injects for no provider here", cl.Name)
		}
	}
	editHTTPOptions(t, b, 1, func(o *upstreamhttpv3.HttpProtocolOptions) {
		var ep extprocv3.ExternalProcessor
		if err := o.HttpFilters[0].GetTypedConfig().UnmarshalTo(&ep); err != nil {
			t.Fatal(err)
		}
		ep.ForwardRules = nil
		o.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ep)}
	})
	y, err := marshalYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	err = Check(y)
	for _, w := range []string{`static_resources.clusters[1].typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].http_filters[0].typed_config.forward_rules: does not keep header "authorization"`, `header "x-api-key"`, `header "x-goog-api-key"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check() = %v, want it to contain %s", err, w)
		}
	}
}

// FuzzSecretFile verifies any valid UTF-8 key survives the secret file byte
// for byte, as YAML and as JSON, and decodes strictly as Envoy's SDS file.
func FuzzSecretFile(f *testing.F) {
	for _, k := range []string{"sk-abc", "", "null", "yes", "- a", "'\"", "a: b", "#x", "\t\n", "ключ", "0x1F", "~"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !utf8.ValidString(key) {
			t.Skip("protobuf strings are UTF-8")
		}
		for _, file := range []string{"/k/p.yaml", "/k/p.json"} {
			p := &config.Provider{Name: "p", Auth: config.Auth{HeldBy: config.KeyHeldByEnvoy, SecretFile: file}}
			b, err := SecretFile(p, key)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			js := b
			if strings.HasSuffix(file, ".yaml") {
				if js, err = yaml.YAMLToJSON(b); err != nil {
					t.Fatalf("%s: %v\n%s", file, err, b)
				}
			}
			var dr discoveryv3.DiscoveryResponse
			if err := protojson.Unmarshal(js, &dr); err != nil || len(dr.Resources) != 1 {
				t.Fatalf("%s: %v (%d resources)\n%s", file, err, len(dr.Resources), b)
			}
			var s tlsv3.Secret
			if err := dr.Resources[0].UnmarshalTo(&s); err != nil {
				t.Fatal(err)
			}
			if got := s.GetGenericSecret().GetSecret().GetInlineString(); got != key {
				t.Fatalf("%s: key %q came back as %q\n%s", file, key, got, b)
			}
		}
	})
}

// TestCheck_NoAttributeCarriesAnInjectedKey verifies Check refuses what
// would hand an injected key to the ext_proc server past forward_rules:
// attributes (CEL on the request header map) that read the request headers,
// on an attempt-phase filter or in any filter's response attributes, and a
// credential_injector in the connection manager; request fields that are
// single non-credential headers stay allowed.
func TestCheck_NoAttributeCarriesAnInjectedKey(t *testing.T) {
	attempt := func(req, resp string) func(*testing.T, *bootstrapv3.Bootstrap) {
		return func(t *testing.T, b *bootstrapv3.Bootstrap) {
			editHTTPOptions(t, b, 1, func(o *upstreamhttpv3.HttpProtocolOptions) {
				var ep extprocv3.ExternalProcessor
				if err := o.HttpFilters[0].GetTypedConfig().UnmarshalTo(&ep); err != nil {
					t.Fatal(err)
				}
				if req != "" {
					ep.RequestAttributes = append(ep.RequestAttributes, req)
				}
				if resp != "" {
					ep.ResponseAttributes = append(ep.ResponseAttributes, resp)
				}
				o.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ep)}
			})
		}
	}
	route := func(resp string) func(*testing.T, *bootstrapv3.Bootstrap) {
		return func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			var ep extprocv3.ExternalProcessor
			if err := h.HttpFilters[0].GetTypedConfig().UnmarshalTo(&ep); err != nil {
				t.Fatal(err)
			}
			ep.ResponseAttributes = append(ep.ResponseAttributes, resp)
			h.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ep)}
			repackHCM(t, b, h)
		}
	}
	hcmInjector := func(t *testing.T, b *bootstrapv3.Bootstrap) {
		var inj *hcmv3.HttpFilter
		editHTTPOptions(t, b, 0, func(o *upstreamhttpv3.HttpProtocolOptions) { inj = o.HttpFilters[1] })
		h := unpackHCM(t, b)
		h.HttpFilters = append([]*hcmv3.HttpFilter{inj}, h.HttpFilters...)
		repackHCM(t, b, h)
	}
	tests := []meshEdit{
		{"attempt request_attributes request.headers", attempt("request.headers", ""), `request_attributes[3]: "request.headers" reads the request headers`},
		{"attempt request_attributes one header by index", attempt(`request.headers["authorization"]`, ""), "reads the request headers"},
		{"attempt request_attributes the whole request", attempt("request", ""), "reads the request headers"},
		{"attempt request_attributes request by index", attempt(`has(request["headers"])`, ""), "reads the request headers"},
		{"attempt response_attributes request.headers", attempt("", "request . headers"), "response_attributes[0]"},
		{"route response_attributes request.headers", route("request.headers"), "http_filters[0].typed_config.response_attributes[0]"},
		{"credential_injector in the connection manager", hcmInjector, "a credential_injector in the HTTP connection manager"},
		{"attempt request_attributes request.id", attempt("request.id", ""), ""},
		{"attempt attribute naming another request field", attempt("upstream.request_attempt_count > 1", "response.headers"), ""},
	}
	checkMeshEdits(t, tests)
}

// TestCheck_NoRequestSkipsThePhases verifies Check refuses what lets a
// request reach a provider past the ext_proc phases: failure_mode_allow on
// an attempt-phase filter (the attempt goes on with the client's
// credentials and an earlier attempt's injected key), and ext_proc disabled
// per route or per virtual host on a route to a cluster (no client policy,
// the Envoy-held key for anyone); disabled on a direct response stays fine.
func TestCheck_NoRequestSkipsThePhases(t *testing.T) {
	disabled := mustAny(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true}})
	tests := []meshEdit{
		{"attempt failure_mode_allow", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			editHTTPOptions(t, b, 2, func(o *upstreamhttpv3.HttpProtocolOptions) {
				var ep extprocv3.ExternalProcessor
				if err := o.HttpFilters[0].GetTypedConfig().UnmarshalTo(&ep); err != nil {
					t.Fatal(err)
				}
				ep.FailureModeAllow = true
				o.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ep)}
			})
		}, "http_filters[0].typed_config.failure_mode_allow: must be false"},
		{"route to the clusters with ext_proc disabled", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			h.GetRouteConfig().VirtualHosts[0].Routes[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_proc": disabled}
			repackHCM(t, b, h)
		}, `routes[0].typed_per_filter_config["envoy.filters.http.ext_proc"]: disables ext_proc`},
		{"virtual host with ext_proc disabled", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			h.GetRouteConfig().VirtualHosts[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_proc": disabled}
			repackHCM(t, b, h)
		}, `routes[0].typed_per_filter_config["envoy.filters.http.ext_proc"]: disables ext_proc`},
		{"generic filter config disabled", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			h.GetRouteConfig().VirtualHosts[0].Routes[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_proc": mustAny(&routev3.FilterConfig{Disabled: true})}
			repackHCM(t, b, h)
		}, "disables ext_proc on a route to a cluster"},
		{"per-route failure_mode_allow", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			h.GetRouteConfig().VirtualHosts[0].Routes[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_proc": mustAny(&extprocv3.ExtProcPerRoute{
				Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{FailureModeAllow: wrapperspb.Bool(true)}}})}
			repackHCM(t, b, h)
		}, "overrides.failure_mode_allow: must not be true"},
		{"per-route attribute reading the request headers", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			h.GetRouteConfig().VirtualHosts[0].Routes[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_proc": mustAny(&extprocv3.ExtProcPerRoute{
				Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{RequestAttributes: []string{"request.headers['authorization']"}}}})}
			repackHCM(t, b, h)
		}, "overrides: an attribute reads the request headers"},
		{"attempt request body not buffered", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			editHTTPOptions(t, b, 0, func(o *upstreamhttpv3.HttpProtocolOptions) {
				var ep extprocv3.ExternalProcessor
				if err := o.HttpFilters[0].GetTypedConfig().UnmarshalTo(&ep); err != nil {
					t.Fatal(err)
				}
				ep.ProcessingMode.RequestBodyMode = extprocv3.ProcessingMode_NONE
				o.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&ep)}
			})
		}, "processing_mode: an attempt-phase filter needs request headers sent and request_body_mode BUFFERED"},
		{"per-route processing_mode", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			h := unpackHCM(t, b)
			h.GetRouteConfig().VirtualHosts[0].Routes[0].TypedPerFilterConfig = map[string]*anypb.Any{"envoy.filters.http.ext_proc": mustAny(&extprocv3.ExtProcPerRoute{
				Override: &extprocv3.ExtProcPerRoute_Overrides{Overrides: &extprocv3.ExtProcOverrides{ProcessingMode: &extprocv3.ProcessingMode{RequestBodyMode: extprocv3.ProcessingMode_NONE}}}})}
			repackHCM(t, b, h)
		}, "overrides.processing_mode: must not be set"},
		{"generated file", func(*testing.T, *bootstrapv3.Bootstrap) {}, ""},
	}
	checkMeshEdits(t, tests)
}

// meshEdit is an edit of the bootstrap generated from
// examples/mesh-config.yaml and what Check says of the result.
type meshEdit struct {
	name string
	edit func(*testing.T, *bootstrapv3.Bootstrap)
	want string // "" when Check accepts the file, else a part of its error
}

// checkMeshEdits runs Check on each edit's bootstrap.
func checkMeshEdits(t *testing.T, tests []meshEdit) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(editedBootstrap(t, "../examples/mesh-config.yaml", tc.edit))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check() = %v, want it to contain %s", err, tc.want)
			}
		})
	}
}
