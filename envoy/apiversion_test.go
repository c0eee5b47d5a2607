package envoy

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// apiVersionsWant are the releases ValidateAPI has a schema for.
var apiVersionsWant = []string{"1.38", "1.39", "1.40"}

// TestValidateAPI_TodaysConfigsPerVersion verifies what each version refuses
// in the 1.40 bootstraps generated today: nothing on 1.40, the priority_group
// specifier on 1.39, and that plus refresh_cluster_on_retry on 1.38, each at
// its field path.
func TestValidateAPI_TodaysConfigsPerVersion(t *testing.T) {
	const route = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route"
	priorityGroup := route + ".inline_cluster_specifier_plugin.extension.typed_config: type envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier does not exist in Envoy "
	refresh := route + ".retry_policy: field refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not exist in Envoy 1.38"
	want := map[string][]string{
		"1.38": {priorityGroup + "1.38", refresh},
		"1.39": {priorityGroup + "1.39"},
		"1.40": nil,
	}
	for _, g := range append(append([]generated{}, repoFiles...), goldenFiles...) {
		b, err := Bootstrap(loadConfig(t, g.config))
		if err != nil {
			t.Fatalf("Bootstrap(%s): %v", g.config, err)
		}
		for _, v := range apiVersionsWant {
			t.Run(g.name+"/"+v, func(t *testing.T) {
				got := problemLines(ValidateAPI(v, b))
				if len(got) < len(want[v]) || (len(want[v]) == 0) != (len(got) == 0) {
					t.Fatalf("ValidateAPI(%s) = %q, want at least %q", v, got, want[v])
				}
				for i, w := range want[v] {
					if got[i] != w {
						t.Errorf("ValidateAPI(%s) problem %d = %q, want %q", v, i, got[i], w)
					}
				}
				for _, p := range got {
					if !strings.Contains(p, "priority_group") && !strings.Contains(p, "refresh_cluster_on_retry") {
						t.Errorf("ValidateAPI(%s) refuses %q; only priority_group and refresh_cluster_on_retry are missing from older versions", v, p)
					}
				}
			})
		}
	}
}

// TestValidateAPI_RefusesWhatTheVersionLacks verifies that a field, an enum
// value or an Any type a release lacks is refused with its path, wherever it
// sits (list element, map value, Any contents, TypedStruct), and that the
// same message passes on the release that has it.
func TestValidateAPI_RefusesWhatTheVersionLacks(t *testing.T) {
	protocolOptions := func(jitter bool) *clusterv3.Cluster {
		common := &corev3.HttpProtocolOptions{}
		if jitter {
			common.MaxConnectionDurationJitter = &typev3.Percent{Value: 10}
		}
		return &clusterv3.Cluster{
			Name: "p",
			TypedExtensionProtocolOptions: map[string]*anypb.Any{
				"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": anyOf(t, &upstreamhttpv3.HttpProtocolOptions{CommonHttpProtocolOptions: common}),
			},
		}
	}
	tlsCluster := &clusterv3.Cluster{
		Name: "p",
		TransportSocket: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: anyOf(t, &tlsv3.UpstreamTlsContext{
				CommonTlsContext: &tlsv3.CommonTlsContext{TlsParams: &tlsv3.TlsParameters{
					CompliancePolicies: []tlsv3.TlsParameters_CompliancePolicy{tlsv3.TlsParameters_FIPS_202205, tlsv3.TlsParameters_CNSA1_202603},
				}},
			})},
		},
	}
	tests := []struct {
		name    string
		version string
		msg     proto.Message
		want    []string // problem lines; nil means valid
	}{{
		name:    "field missing at the root",
		version: "1.38",
		msg:     &routev3.RetryPolicy{RefreshClusterOnRetry: true, NumRetries: wrapperspb.UInt32(2)},
		want:    []string{"field refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not exist in Envoy 1.38"},
	}, {
		name:    "field present in the next release",
		version: "1.39",
		msg:     &routev3.RetryPolicy{RefreshClusterOnRetry: true},
	}, {
		name:    "field inside a map value's Any",
		version: "1.38",
		msg:     protocolOptions(true),
		want:    []string{`typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].common_http_protocol_options: field max_connection_duration_jitter of envoy.config.core.v3.HttpProtocolOptions does not exist in Envoy 1.38`},
	}, {
		name:    "map value without the new field",
		version: "1.38",
		msg:     protocolOptions(false),
	}, {
		name:    "enum value inside a list",
		version: "1.38",
		msg:     tlsCluster,
		want:    []string{"transport_socket.typed_config.common_tls_context.tls_params.compliance_policies[1]: value CNSA1_202603 of envoy.extensions.transport_sockets.tls.v3.TlsParameters.CompliancePolicy does not exist in Envoy 1.38"},
	}, {
		name:    "enum value on the release that has it",
		version: "1.39",
		msg:     tlsCluster,
	}, {
		name:    "Any of a type the release lacks",
		version: "1.39",
		msg:     &anypb.Any{TypeUrl: "type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier"},
		want:    []string{"type envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier does not exist in Envoy 1.39"},
	}, {
		name:    "Any of a type no release has",
		version: "1.40",
		msg:     &clusterv3.Cluster{Name: "p", ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{Name: "x", TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/acme.Nope"}}}},
		want:    []string{"cluster_type.typed_config: type acme.Nope does not exist in Envoy 1.40"},
	}, {
		name:    "Any without a type",
		version: "1.40",
		msg:     &anypb.Any{},
		want:    []string{`type URL "" names no type`},
	}, {
		name:    "Any inside an Any",
		version: "1.38",
		msg:     anyOf(t, anyOf(t, &routev3.RetryPolicy{RefreshClusterOnRetry: true})),
		want:    []string{"field refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not exist in Envoy 1.38"},
	}, {
		name:    "Anys nested too deep",
		version: "1.40",
		msg:     nestedAnys(t, maxAnyDepth+1),
		want:    []string{"Anys nested more than 32 deep are not checked"},
	}, {
		name:    "TypedStruct naming a type the release lacks",
		version: "1.39",
		msg:     typedStruct(t, "type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier"),
		want:    []string{"type_url: type envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier does not exist in Envoy 1.39"},
	}, {
		name:    "TypedStruct naming a type the release has",
		version: "1.39",
		msg:     typedStruct(t, "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"),
	}, {
		name:    "unknown fields",
		version: "1.40",
		msg:     withUnknown(&routev3.RetryPolicy{}),
		want:    []string{"envoy.config.route.v3.RetryPolicy holds fields unknown to the Envoy 1.40 API, which cannot be checked for Envoy 1.40"},
	}, {
		name:    "nil message",
		version: "1.38",
		msg:     nil,
	}, {
		name:    "unset message",
		version: "1.38",
		msg:     (*clusterv3.Cluster)(nil),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAPI(tt.version, tt.msg)
			got := problemLines(err)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("ValidateAPI(%s) =\n%s\nwant\n%s", tt.version, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if err != nil && !errors.Is(err, ErrCheck) {
				t.Errorf("ValidateAPI(%s) = %v, not an ErrCheck", tt.version, err)
			}
		})
	}
}

// TestValidateAPI_UnknownVersion verifies that a release without a schema is
// an error naming the releases that have one.
func TestValidateAPI_UnknownVersion(t *testing.T) {
	for _, v := range []string{"", "1.37", "1.41", "v1.40", "1.40.0"} {
		err := ValidateAPI(v, &routev3.RetryPolicy{})
		if err == nil || !strings.Contains(err.Error(), "want one of 1.38, 1.39, 1.40") || !errors.Is(err, ErrCheck) {
			t.Errorf("ValidateAPI(%q) = %v, want an ErrCheck naming 1.38, 1.39, 1.40", v, err)
		}
	}
}

// TestAPISchema_Versions verifies that the embedded schemas are exactly the
// supported releases, each read from its own go-control-plane/envoy module.
func TestAPISchema_Versions(t *testing.T) {
	all, err := apiSchemas()
	if err != nil {
		t.Fatal(err)
	}
	if got := apiVersions(all); strings.Join(got, " ") != strings.Join(apiVersionsWant, " ") {
		t.Errorf("embedded schemas = %v, want %v", got, apiVersionsWant)
	}
	for v, s := range all {
		if want := "github.com/envoyproxy/go-control-plane/envoy@v" + v + ".0"; s.source != want {
			t.Errorf("schema %s was written from %q, want %q", v, s.source, want)
		}
		if len(s.messages) < 1000 || len(s.enums) < 100 {
			t.Errorf("schema %s has %d messages and %d enums, want a whole API", v, len(s.messages), len(s.enums))
		}
	}
}

// frozenV2 matches the proto packages of Envoy's frozen v2 API, which the
// schemas leave out (keep equal to schema.Loadable in tools/envoyapi/schema).
var frozenV2 = regexp.MustCompile(`^envoy\.(type|type\.matcher|api\.v2(\..*)?|.*\.v[12](alpha[0-9]*)?)$`)

// TestAPISchema_140HoldsTheLinkedAPI verifies that the 1.40 schema has every
// message, field, enum and value of the go-control-plane/envoy module this
// module links, so ValidateAPI("1.40", ...) never refuses what Check accepts
// and the data follows go.mod.
func TestAPISchema_140HoldsTheLinkedAPI(t *testing.T) {
	s, err := apiSchemaFor("1.40")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	var walkMessages func(protoreflect.MessageDescriptors)
	walkEnums := func(eds protoreflect.EnumDescriptors) {
		for i := 0; i < eds.Len(); i++ {
			ed := eds.Get(i)
			for j := 0; j < ed.Values().Len(); j++ {
				if !s.enums[ed.FullName()][ed.Values().Get(j).Name()] {
					missing = append(missing, string(ed.Values().Get(j).FullName()))
				}
			}
		}
	}
	walkMessages = func(mds protoreflect.MessageDescriptors) {
		for i := 0; i < mds.Len(); i++ {
			md := mds.Get(i)
			if md.IsMapEntry() {
				continue
			}
			fields, ok := s.messages[md.FullName()]
			if !ok {
				missing = append(missing, string(md.FullName()))
				continue
			}
			for j := 0; j < md.Fields().Len(); j++ {
				if !fields[md.Fields().Get(j).Name()] {
					missing = append(missing, string(md.Fields().Get(j).FullName()))
				}
			}
			walkMessages(md.Messages())
			walkEnums(md.Enums())
		}
	}
	files := 0
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if frozenV2.MatchString(string(fd.Package())) {
			return true
		}
		files++
		walkMessages(fd.Messages())
		walkEnums(fd.Enums())
		return true
	})
	if files < 50 {
		t.Fatalf("only %d proto files linked; the test sees too little", files)
	}
	if len(missing) > 0 {
		t.Errorf("the 1.40 schema lacks %d linked names (regenerate with tools/envoyapi/regen), e.g. %v", len(missing), missing[:min(len(missing), 10)])
	}
}

// problemLines splits a joined error into its lines, nil into none.
func problemLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func anyOf(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// nestedAnys returns n Anys inside one another around an empty RetryPolicy.
func nestedAnys(t testing.TB, n int) *anypb.Any {
	t.Helper()
	a := anyOf(t, &routev3.RetryPolicy{})
	for i := 1; i < n; i++ {
		a = anyOf(t, a)
	}
	return a
}

// typedStruct builds an xds.type.v3.TypedStruct naming url, through the
// registry (the module links the type but does not import it directly).
func typedStruct(t testing.TB, url string) proto.Message {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName("xds.type.v3.TypedStruct")
	if err != nil {
		t.Fatal(err)
	}
	m := mt.New()
	m.Set(m.Descriptor().Fields().ByName("type_url"), protoreflect.ValueOfString(url))
	return m.Interface()
}

// withUnknown adds the bytes of an unknown varint field 9999 to m.
func withUnknown(m proto.Message) proto.Message {
	m.ProtoReflect().SetUnknown(protoreflect.RawFields{0xf8, 0xf0, 0x04, 0x01})
	return m
}
