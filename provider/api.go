package provider

import (
	"strings"

	"github.com/llm-failover/llm-failover/config"
)

// ClientAPI is one API clients call through the failover routes (OpenAI's
// Chat Completions, Embeddings, ...): how the route phase reads a request
// to it, and each wire format's adapter for it. The route phase picks the
// API by the request's path (APIForPath) and names it in the plan; the
// attempt phase takes the target's adapter from the API the plan names
// (APINamed). Adding a client API is one ClientAPI value in its own file and
// one line in clientAPIs.
type ClientAPI struct {
	// Name identifies the API in the plan ("embeddings"). Unique.
	Name string
	// Path is the path OpenAI serves the API on ("/v1/embeddings"): the
	// default envoy.routes entry for it.
	Path string
	// Suffix selects the API for a route path: a configured route serves the
	// API whose Suffix its path ends with ("/embeddings" for both
	// "/v1/embeddings" and "/openai/v1/embeddings"). Unique.
	Suffix string
	// Kind is the kind of chain that serves the API: a request whose model
	// selects a chain of another kind is answered 404 model_not_found.
	Kind config.ChainKind
	// Operation is the GenAI semantic conventions' gen_ai.operation.name
	// of a request to the API ("chat", "embeddings") in metrics and spans.
	Operation string
	// Inspect reads what the route phase needs from a request body, or
	// refuses the body with an OpenAI-style 4xx.
	Inspect func(body []byte) (Inspection, *Error)
	// Adapters is each wire format's adapter for the API; a format without
	// one cannot serve it (the route phase leaves its targets out).
	Adapters map[config.API]Adapter
}

// Adapter returns the adapter of wire format api for c, or nil when the
// format cannot serve c.
func (c *ClientAPI) Adapter(api config.API) Adapter { return c.Adapters[api] }

// clientAPIs is every client API served through the failover routes.
var clientAPIs = []*ClientAPI{
	ChatCompletions,
	Embeddings,
	Responses,
}

// ChatCompletions is OpenAI's Chat Completions API: every wire format
// serves it (provider.go's formats).
var ChatCompletions = &ClientAPI{
	Name:      "chat.completions",
	Path:      "/v1/chat/completions",
	Suffix:    "/chat/completions",
	Kind:      config.KindChat,
	Operation: "chat",
	Inspect:   Inspect,
	Adapters:  chatAdapters(),
}

func chatAdapters() map[config.API]Adapter {
	m := make(map[config.API]Adapter, len(formats))
	for api, f := range formats {
		m[api] = f.adapter
	}
	return m
}

// ClientAPIs lists the client APIs in registration order. The slice is the
// caller's.
func ClientAPIs() []*ClientAPI {
	return append([]*ClientAPI(nil), clientAPIs...)
}

// APIForPath returns the client API a request path (without its query)
// serves: the one whose Suffix the path ends with, or nil.
func APIForPath(path string) *ClientAPI {
	for _, c := range clientAPIs {
		if strings.HasSuffix(path, c.Suffix) {
			return c
		}
	}
	return nil
}

// APINamed returns the client API a plan names, or nil for a name no API
// has. The empty name is ChatCompletions: a plan names another API only.
func APINamed(name string) *ClientAPI {
	if name == "" {
		return ChatCompletions
	}
	for _, c := range clientAPIs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// PlanName is the name the plan carries for c: empty for ChatCompletions,
// so a chat completions plan reads (and is signed) as before plans named
// their API.
func (c *ClientAPI) PlanName() string {
	if c == ChatCompletions {
		return ""
	}
	return c.Name
}
