// Package config is the llm-failover configuration model: one YAML file with
// providers, fallback chains, breaker settings and limits. Parse decodes it
// strictly, ApplyDefaults fills every default in one place, and Validate lists
// every problem with its field path. docs/configuration.md documents each field.
//
// Each section of the file has its own source file (server.go, provider.go,
// auth.go, chain.go, routing.go, breaker.go, limits.go, envoy.go, channel.go,
// clients.go) holding its types, its applyDefaults and its validate
// function; config.go holds Config, Parse and the two entry points that call
// the sections in order. The breaker section takes its defaults from the
// breaker package, and breaker.CheckRecoveryStages states the recovery-stage
// rule for both.
package config
