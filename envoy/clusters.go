package envoy

import (
	"fmt"
	"net"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rawbufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// providerCluster is one provider's cluster: a DNS-resolved endpoint
// (priority 0) whose hostname drives auto_host_rewrite and whose metadata
// names the provider for the attempt phase; the loopback "unavailable"
// listener as a priority-1 endpoint, used only when priority 0 has no
// healthy host (see unavailableEndpoints); TLS with SNI and certificate
// checks against the system store unless tls: false; the attempt-phase
// ext_proc as an upstream filter, followed by the credential injector when
// Envoy holds the key (credentialInjector); breakers raised; no outlier detection
// (llm-failover's own breakers decide).
//
// The cluster is STRICT_DNS: LOGICAL_DNS accepts exactly one endpoint and
// rewrites every priority to 0 (clusters/dns/dns_cluster.cc DnsClusterImpl,
// "LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single
// lb_endpoint"). STRICT_DNS keeps a host per resolved address, each with
// its own connection pool.
func providerCluster(c *config.Config, p *config.Provider) (*clusterv3.Cluster, error) {
	if p.Cluster == "" || p.Host == "" || p.Port < 1 || p.Port > 65535 || p.TLS == nil {
		return nil, fmt.Errorf("%w: provider %q: cluster, host, port and tls must be set (run config.ApplyDefaults first)", ErrGenerate, p.Name)
	}
	meta, err := structpb.NewStruct(map[string]any{contract.EndpointProviderKey: p.Name})
	if err != nil {
		return nil, fmt.Errorf("%w: provider %q: %v", ErrGenerate, p.Name, err)
	}
	filters := []*hcmv3.HttpFilter{
		{Name: filterExtProc, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(attemptPhaseExtProc(c))}},
	}
	if p.Auth.HeldByEnvoy() {
		ci, err := credentialInjector(p)
		if err != nil {
			return nil, err
		}
		filters = append(filters, ci) // after the attempt phase: its messages never hold the key
	}
	var opts *upstreamhttpv3.HttpProtocolOptions
	if p.HTTP2 {
		opts = http2Options(filters)
	} else {
		opts = &upstreamhttpv3.HttpProtocolOptions{
			UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
			}},
			HttpFilters: withCodec(filters),
		}
	}
	la := loadAssignment(p.Cluster, socketAddress(p.Host, p.Port), p.Host, &corev3.Metadata{
		FilterMetadata: map[string]*structpb.Struct{contract.EndpointNamespace: meta},
	})
	if unavailableFallback(c) {
		la.Endpoints = append(la.Endpoints, unavailableEndpoints(c, p, meta))
	}
	cl := &clusterv3.Cluster{
		Name:                 p.Cluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS},
		DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
		ConnectTimeout:       durationpb.New(5 * time.Second),
		LoadAssignment:       la,
		CircuitBreakers: &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
			Priority:           corev3.RoutingPriority_DEFAULT,
			MaxConnections:     u32(breakerLimit),
			MaxPendingRequests: u32(breakerLimit),
			MaxRequests:        u32(breakerLimit),
			MaxRetries:         u32(breakerLimit),
		}}},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: mustAny(opts)},
	}
	if *p.TLS {
		cl.TransportSocket = &corev3.TransportSocket{
			Name:       transportSocketTLS,
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(upstreamTLS(p))},
		}
	}
	if *p.TLS && unavailableFallback(c) {
		// The loopback listener speaks plain HTTP: its endpoint's
		// envoy.transport_socket_match metadata selects raw_buffer.
		cl.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{{
			Name:  unavailableMatchKey,
			Match: &structpb.Struct{Fields: map[string]*structpb.Value{unavailableMatchKey: structpb.NewBoolValue(true)}},
			TransportSocket: &corev3.TransportSocket{
				Name:       transportSocketRaw,
				ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&rawbufferv3.RawBuffer{})},
			},
		}}
	}
	return cl, nil
}

// unavailableEndpoints is a provider cluster's priority-1 locality: the
// loopback listener that answers 503 (unavailableListener), with the
// provider's endpoint metadata so the attempt phase knows whose attempt
// failed. Envoy routes to priority 1 only when priority 0 has no healthy
// host (load_balancer.cc priority load, overprovisioning factor 1.4), e.g.
// when the provider's DNS name resolves to nothing; the router's own
// "no healthy upstream" 503 (router.cc sendNoHealthyUpstreamResponse) is a
// local reply that is never retried, while this 503 goes through the
// attempt phase, counts against the provider's breaker and fails over.
func unavailableEndpoints(c *config.Config, p *config.Provider, meta *structpb.Struct) *endpointv3.LocalityLbEndpoints {
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{contract.EndpointNamespace: meta}}
	if *p.TLS {
		md.FilterMetadata[transportSocketMatchNamespace] = &structpb.Struct{Fields: map[string]*structpb.Value{
			unavailableMatchKey: structpb.NewBoolValue(true),
		}}
	}
	return &endpointv3.LocalityLbEndpoints{
		Priority: 1,
		LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address:  socketAddress("127.0.0.1", c.Envoy.UnavailablePort),
				Hostname: p.Host,
			}},
			Metadata: md,
		}},
	}
}

// upstreamTLS verifies the provider's certificate against the system trust
// store and its name (DNS or IP SAN) against the configured host.
func upstreamTLS(p *config.Provider) *tlsv3.UpstreamTlsContext {
	san := tlsv3.SubjectAltNameMatcher_DNS
	if net.ParseIP(p.Host) != nil {
		san = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	alpn := []string{"http/1.1"}
	if p.HTTP2 {
		alpn = []string{"h2"}
	}
	ctx := &tlsv3.UpstreamTlsContext{
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols: alpn,
			ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: SystemCAFile}},
				MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
					SanType: san,
					Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: p.Host}},
				}},
			}},
		},
	}
	if net.ParseIP(p.Host) == nil {
		ctx.Sni = p.Host // SNI carries names only (RFC 6066 section 3)
	}
	return ctx
}

// http2Options speaks HTTP/2 to the cluster; filters, when given, become the
// upstream HTTP filters with upstream_codec appended last.
func http2Options(filters []*hcmv3.HttpFilter) *upstreamhttpv3.HttpProtocolOptions {
	o := &upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	}
	if len(filters) > 0 {
		o.HttpFilters = withCodec(filters)
	}
	return o
}

func withCodec(filters []*hcmv3.HttpFilter) []*hcmv3.HttpFilter {
	return append(filters, &hcmv3.HttpFilter{
		Name:       filterUpstreamCodec,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&upstreamcodecv3.UpstreamCodec{})},
	})
}

func loadAssignment(cluster string, addr *corev3.Address, hostname string, md *corev3.Metadata) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address:  addr,
					Hostname: hostname,
				}},
				Metadata: md,
			}},
		}},
	}
}

func u32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }
