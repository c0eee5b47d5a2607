package config

import (
	"fmt"
	"regexp"
	"strings"
)

// API is a provider's wire format.
type API string

// The provider APIs.
const (
	APIOpenAI           API = "openai"
	APIOpenAICompatible API = "openai-compatible"
	APIAnthropic        API = "anthropic"
	APIGemini           API = "gemini"
	APIAzureOpenAI      API = "azure-openai"
)

var knownAPIs = []API{APIOpenAI, APIOpenAICompatible, APIAnthropic, APIGemini, APIAzureOpenAI}

// Provider is one upstream API endpoint.
type Provider struct {
	// Name identifies the provider in chains, metrics and response headers.
	// Required; [a-z0-9_.-], at most 60 characters.
	Name string `json:"name"`
	// API is the wire format: openai, openai-compatible, anthropic, gemini, azure-openai. Required.
	API API `json:"api"`
	// Cluster is the Envoy cluster name. Default: Name.
	Cluster string `json:"cluster,omitempty"`
	// Host is the DNS name (or IP) Envoy connects to. Required.
	Host string `json:"host"`
	// Port defaults to 443 with TLS, 80 without.
	Port int `json:"port,omitempty"`
	// TLS toggles upstream TLS. Default true; set false for local models and tests.
	TLS *bool `json:"tls,omitempty"`
	// HTTP2 makes Envoy speak HTTP/2 to the provider. Default false (HTTP/1.1).
	HTTP2 bool `json:"http2,omitempty"`
	// BasePath is prefixed to the API's paths. Default per API: "/v1" for
	// openai, openai-compatible and anthropic, "/v1beta" for gemini, "/openai" for azure-openai.
	BasePath string `json:"base_path,omitempty"`
	// APIVersion is the Azure api-version query value (default "2024-10-21") or
	// the anthropic-version header (default "2023-06-01"). Ignored by other APIs.
	APIVersion string `json:"api_version,omitempty"`
	// Auth says where the provider's key comes from and how it is sent.
	Auth Auth `json:"auth"`
	// Reasoning is what happens to the provider's reasoning (Anthropic
	// thinking blocks, Gemini thought summaries): "pass" sends it to the
	// client as reasoning_content and asks for it when the client sets
	// reasoning_effort, "drop" discards it and never asks. Default "pass".
	// Ignored by openai, openai-compatible and azure-openai (passed through).
	Reasoning Reasoning `json:"reasoning,omitempty"`
	// StructuredOutput is how an anthropic provider is asked for a JSON
	// answer of a strict json_schema: "native" (Anthropic's
	// output_config.format, Claude 4.5 models and later) or "prompt" (an
	// instruction with the schema in the system prompt, for older models).
	// Default "native". Ignored by other APIs (Gemini always gets its native
	// responseJsonSchema).
	StructuredOutput StructuredOutput `json:"structured_output,omitempty"`
	// Region is the region (or deployment zone) the provider's endpoint
	// serves from, e.g. "eu-west"; its targets are in it unless they set
	// their own. Default none. A name ([a-z0-9_.-], at most 60 characters).
	Region string `json:"region,omitempty"`
}

// Per-API provider defaults. provider falls back on the same constants when
// an endpoint comes without a version.
const (
	// DefaultAnthropicVersion is the anthropic-version header of an
	// anthropic provider without api_version.
	DefaultAnthropicVersion = "2023-06-01"
	// DefaultAzureAPIVersion is the api-version query value of an
	// azure-openai provider without api_version.
	DefaultAzureAPIVersion = "2024-10-21"
)

// apiDefaults are the per-API defaults of base_path, auth.header and
// api_version (the API's own version header or query value; empty where
// the API has none).
var apiDefaults = map[API]struct{ basePath, authHeader, apiVersion string }{
	APIOpenAI:           {"/v1", "authorization", ""},
	APIOpenAICompatible: {"/v1", "authorization", ""},
	APIAnthropic:        {"/v1", "x-api-key", DefaultAnthropicVersion},
	APIGemini:           {"/v1beta", "x-goog-api-key", ""},
	APIAzureOpenAI:      {"/openai", "api-key", DefaultAzureAPIVersion},
}

func (p *Provider) applyDefaults() {
	setStr(&p.Cluster, p.Name)
	if p.TLS == nil {
		t := true
		p.TLS = &t
	}
	if p.Port == 0 {
		p.Port = 443
		if !*p.TLS {
			p.Port = 80
		}
	}
	d, known := apiDefaults[p.API]
	if !known {
		// An unknown API (reported by validate) keeps the openai header
		// default, as before, so validate's auth checks still run on it.
		d.authHeader = "authorization"
	}
	setStr(&p.BasePath, d.basePath)
	p.BasePath = strings.TrimRight(p.BasePath, "/")
	setStr(&p.Auth.Header, d.authHeader)
	setStr(&p.APIVersion, d.apiVersion)
	p.Auth.Header = strings.ToLower(p.Auth.Header)
	if p.Auth.Header == "authorization" {
		setStr(&p.Auth.Scheme, "Bearer")
	}
	applyAuthDefaults(&p.Auth)
	p.applyReasoningDefaults()
}

var authHeaderRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// validateProviders checks each provider: its name, cluster, API, address and credential.
func (c *Config) validateProviders(p *problems) {
	if len(c.Providers) == 0 {
		p.bad("providers", "at least one provider is required")
	}
	names := map[string]bool{}
	clusters := map[string]string{}
	for i := range c.Providers {
		pr := &c.Providers[i]
		path := fmt.Sprintf("providers[%d]", i)
		p.uniqueName(path+".name", pr.Name, names)
		if prev, ok := clusters[pr.Cluster]; ok {
			p.bad(path+".cluster", "%q is already the cluster of provider %q", pr.Cluster, prev)
		}
		clusters[pr.Cluster] = pr.Name
		if _, known := apiDefaults[pr.API]; !known {
			p.bad(path+".api", "%q is not one of %v", pr.API, knownAPIs)
		}
		if pr.Host == "" || strings.ContainsAny(pr.Host, "/: ") && !strings.HasPrefix(pr.Host, "[") {
			p.bad(path+".host", "%q must be a host name or IP address without scheme or port", pr.Host)
		}
		p.intIn(path+".port", pr.Port, 1, 65535)
		if pr.BasePath != "" && !strings.HasPrefix(pr.BasePath, "/") {
			p.bad(path+".base_path", "%q must start with '/'", pr.BasePath)
		}
		if pr.Auth.KeyEnv != "" && pr.Auth.KeyFile != "" {
			p.bad(path+".auth", "set key_env or key_file, not both")
		}
		if !authHeaderRE.MatchString(pr.Auth.Header) {
			p.bad(path+".auth.header", "%q is not a valid header name", pr.Auth.Header)
		}
		validateAuth(path+".auth", &pr.Auth, p.bad)
		pr.validateReasoning(path, p)
		validRegion(p, path+".region", pr.Region)
	}
}
