package config

import "fmt"

// Reasoning is what happens to a provider's reasoning: Anthropic thinking
// blocks and Gemini thought summaries.
type Reasoning string

// The reasoning settings.
const (
	// ReasoningPass sends the reasoning on as reasoning_content (message and
	// stream deltas) in chat completions, and asks for it (Anthropic
	// thinking, Gemini includeThoughts) when the client sets
	// reasoning_effort. The default.
	ReasoningPass Reasoning = "pass"
	// ReasoningDrop discards it: the client gets the answer only, and a
	// client's reasoning_effort is not passed on.
	ReasoningDrop Reasoning = "drop"
)

// String returns the setting's YAML name, or a quoted unknown value.
func (r Reasoning) String() string {
	switch r {
	case ReasoningPass, ReasoningDrop:
		return string(r)
	}
	return fmt.Sprintf("Reasoning(%q)", string(r))
}

// StructuredOutput is how a JSON answer (response_format json_schema) is
// asked of an anthropic provider.
type StructuredOutput string

// The structured output settings.
const (
	// StructuredOutputNative sends a strict json_schema as Anthropic's
	// output_config.format (constrained decoding; Claude Sonnet 4.5, Opus
	// 4.5, Haiku 4.5 and later). The default.
	StructuredOutputNative StructuredOutput = "native"
	// StructuredOutputPrompt asks for JSON in the system prompt, with the
	// schema, for models without structured outputs.
	StructuredOutputPrompt StructuredOutput = "prompt"
)

// String returns the setting's YAML name, or a quoted unknown value.
func (s StructuredOutput) String() string {
	switch s {
	case StructuredOutputNative, StructuredOutputPrompt:
		return string(s)
	}
	return fmt.Sprintf("StructuredOutput(%q)", string(s))
}

// applyReasoningDefaults fills reasoning and structured_output.
func (p *Provider) applyReasoningDefaults() {
	if p.Reasoning == "" {
		p.Reasoning = ReasoningPass
	}
	if p.StructuredOutput == "" {
		p.StructuredOutput = StructuredOutputNative
	}
}

// validateReasoning checks reasoning and structured_output of the provider at path.
func (p *Provider) validateReasoning(path string, probs *problems) {
	switch p.Reasoning {
	case ReasoningPass, ReasoningDrop:
	default:
		probs.bad(path+".reasoning", "%q is not one of [%s %s]", string(p.Reasoning), ReasoningPass, ReasoningDrop)
	}
	switch p.StructuredOutput {
	case StructuredOutputNative, StructuredOutputPrompt:
	default:
		probs.bad(path+".structured_output", "%q is not one of [%s %s]", string(p.StructuredOutput),
			StructuredOutputNative, StructuredOutputPrompt)
	}
}
