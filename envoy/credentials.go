package envoy

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	credinjectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/credential_injector/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	genericv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/injected_credentials/generic/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/llm-failover/llm-failover/config"
)

const (
	filterCredentialInjector = "envoy.filters.http.credential_injector"
	credentialGeneric        = "envoy.http.injected_credentials.generic"
)

// SecretName is the name of the SDS generic_secret Envoy injects as p's key
// (held_by: envoy); the file at p.Auth.SecretFile must hold a secret of this
// name (sds_api.cc SdsApi::onConfigUpdate rejects any other).
func SecretName(p *config.Provider) string { return p.Name + "-key" }

// credentialInjector is the upstream HTTP filter that sets a provider's key
// held by Envoy: the generic credential (header p.Auth.Header, value
// p.Auth.Scheme + " " + the secret) read from the SDS file p.Auth.SecretFile,
// which Envoy re-reads when a file is moved onto the path.
//
// It comes after the attempt-phase ext_proc filter, so the key is never in
// an ext_proc message and the attempt phase's removal of every credential
// header cannot remove it; overwrite replaces any value that got past that
// removal (generic_impl.cc inject keeps an existing header otherwise).
// allow_request_without_credential sends the request without a key when
// Envoy has none (file missing or invalid at start): the provider's 401
// then goes through the attempt phase, which opens the target's breaker and
// fails over; without it the filter's own 401 is an upstream local reply
// that goes to the client at once, past the attempt phase
// (credential_injector_filter.cc decodeHeaders, upstream_request.cc
// UpstreamFilterManager::sendLocalReply).
func credentialInjector(p *config.Provider) (*hcmv3.HttpFilter, error) {
	prefix := ""
	if p.Auth.Scheme != "" {
		prefix = p.Auth.Scheme + " "
	}
	cred, err := anypb.New(&genericv3.Generic{
		Credential: &tlsv3.SdsSecretConfig{
			Name: SecretName(p),
			SdsConfig: &corev3.ConfigSource{
				ResourceApiVersion: corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{
					PathConfigSource: &corev3.PathConfigSource{Path: p.Auth.SecretFile},
				},
			},
		},
		Header:            p.Auth.Header,
		HeaderValuePrefix: prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: provider %q: %v", ErrGenerate, p.Name, err)
	}
	return &hcmv3.HttpFilter{
		Name: filterCredentialInjector,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&credinjectorv3.CredentialInjector{
			Overwrite:                     true,
			AllowRequestWithoutCredential: true,
			Credential:                    &corev3.TypedExtensionConfig{Name: credentialGeneric, TypedConfig: cred},
		})},
	}, nil
}

// hiddenCredentials is the attempt-phase ext_proc filter's forward_rules:
// the header of every key Envoy injects is never sent to the ext_proc
// server (mutation_utils.cc headersToProto, headerCanBeForwarded). Upstream
// filters share one request header map across a request's attempts
// (docs/design.md, "Per-attempt rewrite"), so after an attempt on such a provider its key is
// in the headers the next attempt's ext_proc filter sends, on any cluster.
// The header stays in the request; the attempt phase removes it without
// seeing it. Nil (every header forwarded) when Envoy holds no key.
func hiddenCredentials(c *config.Config) *extprocv3.HeaderForwardingRules {
	var pats []*matcherv3.StringMatcher
	seen := map[string]bool{}
	for i := range c.Providers {
		a := &c.Providers[i].Auth
		if a.HeldByEnvoy() && !seen[a.Header] {
			seen[a.Header] = true
			pats = append(pats, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: a.Header}})
		}
	}
	if pats == nil {
		return nil
	}
	return &extprocv3.HeaderForwardingRules{DisallowedHeaders: &matcherv3.ListStringMatcher{Patterns: pats}}
}

// SecretFile renders the SDS file Envoy reads p's key from (held_by: envoy):
// a DiscoveryResponse holding one Secret named SecretName(p) whose
// generic_secret is key, inline. Envoy parses a path ending in .yaml or
// .yml as YAML and any other as JSON (protobuf/utility.cc
// MessageUtil::loadFromFile); the result follows p.Auth.SecretFile's
// extension. Envoy uses the key byte for byte: pass it without scheme or
// trailing newline.
func SecretFile(p *config.Provider, key string) ([]byte, error) {
	res, err := anypb.New(&tlsv3.Secret{
		Name: SecretName(p),
		Type: &tlsv3.Secret_GenericSecret{GenericSecret: &tlsv3.GenericSecret{
			Secret: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: key}},
		}},
	})
	if err != nil {
		return nil, err
	}
	m := &discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{res}}
	if f := strings.ToLower(p.Auth.SecretFile); !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".yml") {
		b, err := protojson.MarshalOptions{UseProtoNames: true, Multiline: true}.Marshal(m)
		return append(b, '\n'), err
	}
	return marshalYAML(m)
}

// SecretTemplates renders, for every provider whose key Envoy holds, a
// template of its secret file with a placeholder key, each after a "#"
// comment line naming the file (remove it from a .json file) and separated
// by "---" lines; nil when no provider's key is held by Envoy.
func SecretTemplates(c *config.Config) ([]byte, error) {
	var out []byte
	for i := range c.Providers {
		p := &c.Providers[i]
		if !p.Auth.HeldByEnvoy() {
			continue
		}
		b, err := SecretFile(p, "REPLACE-WITH-THE-"+p.Name+"-KEY")
		if err != nil {
			return nil, err
		}
		if out != nil {
			out = append(out, "---\n"...)
		}
		out = fmt.Appendf(out, "# %s: the key Envoy injects as %s for provider %q.\n"+
			"# The bare key (no scheme, no newline). Rotate by renaming a new file onto this path.\n",
			p.Auth.SecretFile, p.Auth.Header, p.Name)
		out = append(out, b...)
	}
	return out, nil
}
