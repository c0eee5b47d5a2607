package contract

// The phases. Both ext_proc filters call the same gRPC service; the filter's
// grpc_service.initial_metadata tells the server which phase opens a stream.
const (
	// PhaseHeader is the gRPC initial metadata key naming the phase.
	PhaseHeader = "x-llm-failover-phase"
	// PhaseRoute is the HTTP connection manager's ext_proc filter: it reads
	// the request, plans the attempts and publishes the plan.
	PhaseRoute = "route"
	// PhaseAttempt is every provider cluster's upstream ext_proc filter: it
	// rewrites each attempt for its provider and judges the answer.
	PhaseAttempt = "attempt"
)

// Response headers the attempt phase sets.
const (
	// RetryHeader marks a response Envoy's router must retry: the route's
	// retry_policy.retriable_headers matches it (retry_on
	// retriable-headers), and no response is retried by status.
	RetryHeader = "x-llm-failover-retry"
	// RetryValue is RetryHeader's value on a response to retry; the
	// route's retriable_headers match exactly it.
	RetryValue = "1"

	HeaderProvider = "x-llm-failover-provider"
	HeaderModel    = "x-llm-failover-model"
	HeaderAttempt  = "x-llm-failover-attempt"
	HeaderTrace    = "x-llm-failover-trace"
	HeaderChain    = "x-llm-failover-chain"
)

// HeaderRegion is the request header naming the region a request prefers,
// read when the configuration's routing.region_header is on; the attempt
// phase removes it like every client header a provider does not need.
const HeaderRegion = "x-llm-failover-region"

// HeaderProbe is the request header of an active probe (package probe):
// "<exp unix ms>.<base64url HMAC-SHA256>.<provider/model>", signed with the
// plan key over the expiry, the target and the body's SHA-256. The route
// phase plans exactly that target for a request whose header verifies, and
// refuses one whose header does not (docs/security.md).
const HeaderProbe = "x-llm-failover-probe"

// Request headers the route phase sets for Envoy's router, which reads and
// removes them: every request's attempts are bounded by its own plan.
const (
	// HeaderMaxRetries is read by retry_state_impl.cc RetryStateImpl (when
	// the route's retry_on is set) and replaces num_retries.
	HeaderMaxRetries = "x-envoy-max-retries"
	// HeaderPerTryTimeout is read by router.cc FilterUtility::finalTimeout
	// and replaces the route's per_try_timeout.
	HeaderPerTryTimeout = "x-envoy-upstream-rq-per-try-timeout-ms"
	// PerRequestBoundsHeaders is the route-phase ext_proc filter's
	// mutation_rules.allow_expression: exactly HeaderMaxRetries and
	// HeaderPerTryTimeout (the default rules refuse x-envoy-* mutations).
	PerRequestBoundsHeaders = "^x-envoy-(max-retries|upstream-rq-per-try-timeout-ms)$"
)

// Dynamic metadata namespaces.
const (
	// DefaultNamespace is the default of the configuration's
	// metadata_namespace: the namespace the route phase writes the
	// priority_group override to (the cluster specifier's
	// override_metadata_namespace). The plan details go to
	// PlanNamespace(namespace).
	DefaultNamespace = "llm_failover"
	// planSuffix makes the plan namespace of a metadata namespace.
	planSuffix = ".plan"
	// JWTNamespace is the dynamic metadata namespace of Envoy's jwt_authn
	// filter (its payload_in_metadata key holds the verified payload); the
	// route phase reads it when the clients policy has jwt.
	JWTNamespace = "envoy.filters.http.jwt_authn"
)

// PlanNamespace is the namespace of the plan beside metadata namespace ns:
// the route phase publishes to both, the attempt phase reads the plan from
// it through the request attribute PlanAttribute(ns).
func PlanNamespace(ns string) string { return ns + planSuffix }

// Endpoint metadata: every provider endpoint names its provider, so the
// attempt phase knows which provider Envoy picked.
const (
	// EndpointNamespace is the endpoint filter_metadata namespace; it is
	// always this literal, whatever the configured metadata_namespace.
	EndpointNamespace = "llm_failover"
	// EndpointProviderKey is the key of the provider's name in it.
	EndpointProviderKey = "provider"
)

// Request attributes the phases ask for (request_attributes) and read.
const (
	// AttrNamespace is the key of the attributes in a ProcessingRequest.
	AttrNamespace = "envoy.filters.http.ext_proc"
	// AttrHostMetadata is the upstream host's metadata (attempt phase).
	AttrHostMetadata = "xds.upstream_host_metadata"
	// AttrAttemptCount is the router's attempt number, from 1 (attempt phase).
	AttrAttemptCount = "upstream.request_attempt_count"
	// AttrSourceAddress is the downstream peer's address, "ip:port"
	// (context.cc PeerWrapper: remoteAddress()->asStringView()); the route
	// phase asks for it with a clients policy.
	AttrSourceAddress = "source.address"
	// AttrURISAN is the first URI SAN of the verified client certificate
	// (context.cc SslExtractorsValues URISanPeerCertificate); absent
	// without downstream TLS or without a URI SAN. Route phase, with a
	// clients policy.
	AttrURISAN = "connection.uri_san_peer_certificate"
)

// AttemptAttributes are the attempt-phase filter's request_attributes for
// metadata namespace ns: the host metadata, the attempt count and the plan.
func AttemptAttributes(ns string) []string {
	return []string{AttrHostMetadata, AttrAttemptCount, PlanAttribute(ns)}
}

// ClientAttributes are the route-phase filter's request_attributes with a
// clients policy.
func ClientAttributes() []string { return []string{AttrSourceAddress, AttrURISAN} }

// DetailsPrefix starts the response code details of every local reply the
// server sends (an ImmediateResponse's details are "llm_failover_<code>"):
// the generated local_reply_config leaves such replies alone.
const DetailsPrefix = "llm_failover_"
