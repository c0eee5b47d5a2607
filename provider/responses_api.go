package provider

import "github.com/llm-failover/llm-failover/config"

// Responses is OpenAI's Responses API as a client API: OpenAI and Azure
// OpenAI targets take it natively, Anthropic and Gemini targets by
// translation (responses.go). A request that continues or stores state
// (Inspection.Stateful) may only go to the provider holding it (StateHolder).
var Responses = &ClientAPI{
	Name:   "responses",
	Path:   ResponsesPath,
	Suffix: "/responses",
	Kind:   config.KindChat,
	// gen_ai.operation.name: a Responses call is a chat operation in the
	// GenAI semantic conventions (no value of its own).
	Operation: "chat",
	Inspect:   InspectResponses,
	Adapters:  responsesAdapters(),
}

func responsesAdapters() map[config.API]Adapter {
	m := make(map[config.API]Adapter, len(formats))
	for api := range formats {
		a, err := ResponsesAdapter(api)
		if err == nil {
			m[api] = a
		}
	}
	return m
}
