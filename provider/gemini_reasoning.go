package provider

// This file asks Gemini for thought summaries
// (https://ai.google.dev/gemini-api/docs/thinking: generationConfig.
// thinkingConfig.includeThoughts and thinkingBudget), which the response
// translators pass on as reasoning (reasoning.go). Structured output needs
// nothing here: Gemini's native form, responseMimeType with
// responseJsonSchema (https://ai.google.dev/gemini-api/docs/structured-output),
// is written by Prepare.

// appendGeminiThinking writes a generationConfig thinkingConfig member for
// the client's reasoning_effort when ep passes reasoning: thought summaries
// on, and the budget Gemini's own OpenAI compatibility layer maps the
// effort to (reasoningBudget). Without a reasoning_effort (or with "none",
// which some Gemini models cannot honour) nothing is written: the model
// thinks as it does by default and sends no summaries.
func appendGeminiThinking(b []byte, ep *Endpoint, c chatRequest) []byte {
	budget := reasoningBudget(c.get("reasoning_effort"))
	if budget == 0 || !passReasoning(ep) {
		return b
	}
	b = appendKey(b, "thinkingConfig")
	b = append(b, `{"includeThoughts":true,"thinkingBudget":`...)
	b = appendInt(b, budget)
	return append(b, '}')
}
