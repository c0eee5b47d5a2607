package config

// DefaultRoutes are envoy.routes' default: the OpenAI path of every client
// API (provider.ClientAPIs; a provider test keeps them in step) and the
// model list. Adding a client API adds its path here.
var DefaultRoutes = []string{"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/responses"}
