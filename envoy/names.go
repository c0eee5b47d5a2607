package envoy

// Names shared by the generator and the checker: names of the generated
// configuration itself and Envoy's well-known extension names. The names the
// server must agree with (phases, headers, metadata namespaces and keys,
// attributes) are package contract's (docs/envoy-contract.md).
const (
	// ExtProcCluster is the Envoy cluster that reaches the llm-failover gRPC service.
	ExtProcCluster = "llm_failover_ext_proc"
	// SystemCAFile is the system trust store in the Envoy image.
	SystemCAFile = "/etc/ssl/certs/ca-certificates.crt"

	listenerName    = "llm_failover"
	routeConfigName = "llm_failover"
	virtualHostName = "llm_failover"
	statPrefix      = "llm_failover"

	filterExtProc       = "envoy.filters.http.ext_proc"
	filterRouter        = "envoy.filters.http.router"
	filterUpstreamCodec = "envoy.filters.http.upstream_codec"
	filterHCM           = "envoy.filters.network.http_connection_manager"
	priorityGroupPlugin = "envoy.router.cluster_specifier_plugin.priority_group"
	matcherPlugin       = "envoy.router.cluster_specifier_plugin.matcher"
	aggregateCluster    = "envoy.clusters.aggregate"
	// previousPrioritiesPlugin is the retry priority plugin of the 1.38 topology.
	previousPrioritiesPlugin = "envoy.retry_priorities.previous_priorities"
	accessLogStdout          = "envoy.access_loggers.stdout"
	transportSocketTLS       = "envoy.transport_sockets.tls"
	transportSocketRaw       = "envoy.transport_sockets.raw_buffer"

	// UnavailableListener answers 503 on 127.0.0.1:envoy.unavailable_port,
	// every provider cluster's priority-1 endpoint.
	UnavailableListener = "llm_failover_unavailable"
	// transportSocketMatchNamespace is the endpoint metadata namespace a
	// cluster's transport_socket_matches read (upstream_impl.cc).
	transportSocketMatchNamespace = "envoy.transport_socket_match"
	// unavailableMatchKey marks the loopback endpoint in that namespace, and
	// names its plain-text transport socket match.
	unavailableMatchKey = "llm_failover_unavailable"

	// httpProtocolOptionsKey is the typed_extension_protocol_options key (and
	// type name) of envoy.extensions.upstreams.http.v3.HttpProtocolOptions.
	httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	upstreamCodecType      = "envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
	routerType             = "envoy.extensions.filters.http.router.v3.Router"
)

// retryOn is the route retry_policy.retry_on of the contract. Responses are
// retried only when the attempt phase marks them (retriable-headers), never by
// status: on the last planned attempt the server answers a 5xx or 429 in-band
// with its own error body, which Envoy must not retry on the repeated last
// group. (An ImmediateResponse from the attempt phase, an upstream ext_proc
// filter, is a local reply that reaches the client at once and is never
// retried: ext_proc.cc Filter::sendImmediateResponse, upstream_request.cc
// UpstreamFilterManager::sendLocalReply; the server keeps those for
// misconfiguration.) Resets, connect failures and per-try timeouts never
// reach the server, so Envoy retries them itself, within the request's
// x-envoy-max-retries.
const retryOn = "reset,connect-failure,retriable-headers"

// Circuit-breaker thresholds on provider clusters: high enough that Envoy's own
// overflow (503 UO, never retried) does not pre-empt failover.
const breakerLimit = 100000

// streamsPerRequest is how many ext_proc streams one LLM request holds at
// most at once: the route phase's, for the whole request, and the current
// attempt's.
const streamsPerRequest = 2
