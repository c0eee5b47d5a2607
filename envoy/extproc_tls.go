package envoy

import (
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/config"
)

// The names of the secrets in the ext_proc channel's SDS files
// (envoy.ext_proc_tls, docs/security.md). Envoy rejects a file whose secret
// has another name (secret/sds_api.cc SdsApi::onConfigUpdate, "Unexpected
// SDS secret").
const (
	ExtProcClientSecret = "llm_failover_ext_proc_client"
	ExtProcCASecret     = "llm_failover_ext_proc_ca"
)

// extProcTransportSocket is the llm_failover_ext_proc cluster's upstream
// TLS: HTTP/2 by ALPN, the SNI, the server certificate checked against the
// CA of the validation SDS file (a combined validation context: the static
// part requires the SNI as DNS SAN and Envoy merges the file's context into
// it, tls/context_config_impl.cc getCombinedValidationContextConfig), and
// the client certificate of the certificate SDS file when set. Each SDS
// file is a path config source: Envoy reads it as a DiscoveryResponse
// holding one Secret and rereads it when a file is moved onto the path
// (config_subscription/filesystem/filesystem_subscription_impl.cc), and
// rereads the certificate files it names when one is moved into their
// directory (secret/sds_api.cc SdsApi::onConfigUpdate).
func extProcTransportSocket(t *config.ExtProcTLS) *corev3.TransportSocket {
	ctx := &tlsv3.UpstreamTlsContext{
		Sni: t.SNI,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: []string{"h2"},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: &tlsv3.CertificateValidationContext{
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_DNS,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: t.SNI}},
					}},
				},
				ValidationContextSdsSecretConfig: sdsFile(ExtProcCASecret, t.ValidationSDSFile),
			}},
		},
	}
	if t.CertificateSDSFile != "" {
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsFile(ExtProcClientSecret, t.CertificateSDSFile)}
	}
	return &corev3.TransportSocket{
		Name:       transportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)},
	}
}

// sdsFile is secret name read from the SDS file at path.
func sdsFile(name, path string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{
		Name: name,
		SdsConfig: &corev3.ConfigSource{
			ResourceApiVersion:    corev3.ApiVersion_V3,
			ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{Path: path}},
		},
	}
}

// CheckSecretFile validates an SDS secret file as Envoy reads one from a
// path config source: a DiscoveryResponse, decoded strictly, with exactly
// one resource, a Secret named name (secret/sds_api.cc
// SdsApi::validateUpdateSize and onConfigUpdate), valid by its proto rules.
func CheckSecretFile(yamlBytes []byte, name string) error {
	js, err := yaml.YAMLToJSON(yamlBytes)
	if err != nil {
		return &Problem{Reason: "not YAML: " + err.Error()}
	}
	var dr discoveryv3.DiscoveryResponse
	if err := protojson.Unmarshal(js, &dr); err != nil {
		return &Problem{Reason: "does not decode as envoy.service.discovery.v3.DiscoveryResponse: " + err.Error()}
	}
	if len(dr.GetResources()) != 1 {
		return &Problem{Path: "resources", Reason: fmt.Sprintf("%d resources, want exactly one Secret", len(dr.GetResources()))}
	}
	var s tlsv3.Secret
	if err := dr.GetResources()[0].UnmarshalTo(&s); err != nil {
		return &Problem{Path: "resources[0]", Reason: "not an envoy.extensions.transport_sockets.tls.v3.Secret: " + err.Error()}
	}
	if s.GetName() != name {
		return &Problem{Path: "resources[0].name", Reason: fmt.Sprintf("%q, want %q", s.GetName(), name)}
	}
	return errors.Join(validateTree(s.ProtoReflect(), "resources[0]")...)
}
