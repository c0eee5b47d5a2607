package telemetry

import "go.opentelemetry.io/otel/attribute"

// Instrument names: the GenAI semantic conventions' and ours.
const (
	MetricOperationDuration  = "gen_ai.client.operation.duration"
	MetricUsageInputTokens   = "gen_ai.client.inference.usage.input_tokens"
	MetricUsageOutputTokens  = "gen_ai.client.inference.usage.output_tokens"
	MetricOperationInput     = "gen_ai.client.inference.operation.input_tokens"
	MetricOperationOutput    = "gen_ai.client.inference.operation.output_tokens"
	MetricTokenUsage         = "gen_ai.client.token.usage" // legacy, behind telemetry.metrics.legacy_token_usage
	MetricTimeToFirstToken   = "gen_ai.server.time_to_first_token"
	MetricAttempts           = "llm_failover.attempts"
	MetricAttemptsRefused    = "llm_failover.attempts.refused"
	MetricRequestsPlanned    = "llm_failover.requests.planned"
	MetricRequestsRejected   = "llm_failover.requests.rejected"
	MetricFailovers          = "llm_failover.failovers"
	MetricFailoverAddedDelay = "llm_failover.failover.added_latency"
	MetricPlanLength         = "llm_failover.plan.length"
	MetricBreakerState       = "llm_failover.breaker.state"
	MetricBreakerShare       = "llm_failover.breaker.traffic_share"
	MetricBreakerTransitions = "llm_failover.breaker.transitions"
	MetricStreams            = "llm_failover.streams"
	MetricShapeFallbacks     = "llm_failover.shape_fallbacks"
	MetricTargetSelected     = "llm_failover.target.selected"
	MetricRegionOutage       = "llm_failover.region.outage"
	MetricRegionOpenShare    = "llm_failover.region.open_share"
	MetricRegionOutages      = "llm_failover.region.outages"
)

// Attribute keys: the GenAI semantic conventions' and ours. Ours keep the
// label names the hand-written /metrics had (provider, model, outcome,
// chain, code, reason).
const (
	AttrOperationName = attribute.Key("gen_ai.operation.name")
	AttrProviderName  = attribute.Key("gen_ai.provider.name")
	AttrRequestModel  = attribute.Key("gen_ai.request.model")
	AttrResponseModel = attribute.Key("gen_ai.response.model")
	AttrTokenType     = attribute.Key("gen_ai.token.type")
	AttrErrorType     = attribute.Key("error.type")
	AttrInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	AttrOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	AttrStatusCode    = attribute.Key("http.response.status_code")

	// AttrTarget is the configured provider name (several may share a
	// gen_ai.provider.name).
	AttrTarget   = attribute.Key("llm_failover.provider")
	AttrChain    = attribute.Key("llm_failover.chain")
	AttrAttempt  = attribute.Key("llm_failover.attempt")
	AttrReason   = attribute.Key("llm_failover.reason")
	AttrPlanSize = attribute.Key("llm_failover.plan.length")

	labelProvider     = attribute.Key("provider")
	labelModel        = attribute.Key("model")
	labelOutcome      = attribute.Key("outcome")
	labelChain        = attribute.Key("chain")
	labelCode         = attribute.Key("code")
	labelReason       = attribute.Key("reason")
	labelFromProvider = attribute.Key("from_provider")
	labelFromModel    = attribute.Key("from_model")
	labelToProvider   = attribute.Key("to_provider")
	labelToModel      = attribute.Key("to_model")
	labelFrom         = attribute.Key("from")
	labelTo           = attribute.Key("to")
	labelRegion       = attribute.Key("region")
)

// OperationChat is gen_ai.operation.name for a chat completion.
const OperationChat = "chat"

// OperationEmbeddings is gen_ai.operation.name for an embeddings request.
const OperationEmbeddings = "embeddings"

// Span event names (docs/observability.md).
const (
	EventTargetSkipped = "llm_failover.target_skipped"
	EventProbe         = "llm_failover.probe"
	EventFailover      = "llm_failover.failover"
	EventRejected      = "llm_failover.rejected"
)

// wellKnownProviders are gen_ai.provider.name's well-known values a
// configured provider may be named after.
var wellKnownProviders = map[string]bool{
	"openai": true, "anthropic": true, "gcp.gemini": true, "gcp.vertex_ai": true, "gcp.gen_ai": true,
	"azure.ai.openai": true, "azure.ai.inference": true, "aws.bedrock": true, "cohere": true,
	"deepseek": true, "groq": true, "ibm.watsonx.ai": true, "mistral_ai": true, "perplexity": true, "x_ai": true,
}

// GenAIProvider is gen_ai.provider.name for a configured provider called
// name speaking api (config.API): the provider's own name when it is one of
// the well-known values (a provider called "groq"), else the API's: openai,
// anthropic, gcp.gemini, azure.ai.openai; "_OTHER" for an API it does not know.
func GenAIProvider(name, api string) string {
	if wellKnownProviders[name] {
		return name
	}
	switch api {
	case "openai", "openai-compatible":
		return "openai"
	case "anthropic":
		return "anthropic"
	case "gemini":
		return "gcp.gemini"
	case "azure-openai":
		return "azure.ai.openai"
	}
	return "_OTHER"
}
