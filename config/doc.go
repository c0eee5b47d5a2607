// Package config is the llm-failover configuration model: one YAML file with
// providers, fallback chains, breaker settings and limits. Parse decodes it
// strictly, ApplyDefaults fills every default in one place, and Validate lists
// every problem with its field path. docs/configuration.md documents each field.
package config
