package processor

import "github.com/llm-failover/llm-failover/contract"

// Names of the contract between the generated Envoy configuration and the
// server, as processor and its callers spell them; package contract owns
// them (docs/envoy-contract.md).
const (
	// PhaseHeader is the gRPC initial metadata key that tells the phase.
	PhaseHeader = contract.PhaseHeader
	// The phases.
	PhaseRoute   = contract.PhaseRoute
	PhaseAttempt = contract.PhaseAttempt

	// Response headers the attempt phase sets.
	HeaderProvider = contract.HeaderProvider
	HeaderModel    = contract.HeaderModel
	HeaderAttempt  = contract.HeaderAttempt
	HeaderTrace    = contract.HeaderTrace
	HeaderChain    = contract.HeaderChain
	// HeaderRetry marks a response the router must retry (retriable_headers).
	HeaderRetry = contract.RetryHeader

	// Request headers the route phase sets for Envoy's router, which reads
	// and removes them (docs/envoy-contract.md, "Route phase"): every
	// request's attempts are bounded by its own plan. The route-phase
	// filter's mutation_rules.allow_expression must allow exactly these two
	// x-envoy-* names (contract.PerRequestBoundsHeaders).
	HeaderMaxRetries    = contract.HeaderMaxRetries
	HeaderPerTryTimeout = contract.HeaderPerTryTimeout

	// EndpointNamespace is the endpoint metadata namespace naming the provider.
	EndpointNamespace = contract.EndpointNamespace

	// The request attributes and metadata the route phase reads to identify
	// a caller (docs/envoy-contract.md, "Route phase"). Envoy sends the
	// attributes with the request headers message only, and the forwarded
	// metadata with every message.
	AttrSourceAddress = contract.AttrSourceAddress
	AttrURISAN        = contract.AttrURISAN
	JWTNamespace      = contract.JWTNamespace

	// Attribute names the attempt phase reads.
	attrNamespace    = contract.AttrNamespace
	attrHostMetadata = contract.AttrHostMetadata
	attrAttemptCount = contract.AttrAttemptCount
)
