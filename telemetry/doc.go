// Package telemetry is llm-failover's OpenTelemetry: a MeterProvider whose
// metrics are served on /metrics by the OTel Prometheus exporter (and pushed
// over OTLP/gRPC when configured), a TracerProvider that is off unless
// telemetry.traces.enabled, and the instruments the processor records into:
// the GenAI semantic conventions (open-telemetry/semantic-conventions-genai,
// status Development: gen_ai.client.operation.duration,
// gen_ai.client.inference.usage.*, gen_ai.client.inference.operation.*,
// gen_ai.client.token.usage behind a setting, gen_ai.server.time_to_first_token)
// and the product's own llm_failover.* failover metrics. Every attribute value
// is sanitized and, when it comes from outside the configuration, bounded
// (labels.go). docs/observability.md lists every name.
package telemetry
