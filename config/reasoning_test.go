package config_test

import (
	"reflect"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestProvider_ReasoningSettings verifies the defaults of providers[].reasoning
// and providers[].structured_output, that both documented values of each
// are accepted, and that any other value is refused at its path.
func TestProvider_ReasoningSettings(t *testing.T) {
	const head = `
chains:
  - {name: main, match: {models: [m]}, targets: [{provider: claude, model: m}]}
providers:
  - {name: claude, api: anthropic, host: api.anthropic.com`
	tests := []struct {
		name      string
		extra     string
		reasoning config.Reasoning
		output    config.StructuredOutput
		badPaths  []string
	}{
		{"defaults", "", config.ReasoningPass, config.StructuredOutputNative, nil},
		{"drop and prompt", ", reasoning: drop, structured_output: prompt", config.ReasoningDrop, config.StructuredOutputPrompt, nil},
		{"pass and native spelt out", ", reasoning: pass, structured_output: native", config.ReasoningPass, config.StructuredOutputNative, nil},
		{"unknown values", ", reasoning: hide, structured_output: tool", "", "",
			[]string{"providers[0].reasoning", "providers[0].structured_output"}},
		{"case matters", ", reasoning: Drop", "", "", []string{"providers[0].reasoning"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(head + tc.extra + "}\n"))
			if tc.badPaths != nil {
				if got := fieldPaths(t, err); !reflect.DeepEqual(got, tc.badPaths) {
					t.Fatalf("problems: got %v, want %v (%v)", got, tc.badPaths, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: got %v, want nil", err)
			}
			p := c.Providers[0]
			if p.Reasoning != tc.reasoning || p.StructuredOutput != tc.output {
				t.Errorf("got reasoning %s, structured_output %s; want %s, %s", p.Reasoning, p.StructuredOutput,
					tc.reasoning, tc.output)
			}
		})
	}
}

// TestReasoning_StringNamesUnknownValues verifies the enums' String.
func TestReasoning_StringNamesUnknownValues(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{config.ReasoningDrop.String(), "drop"},
		{config.Reasoning("x").String(), `Reasoning("x")`},
		{config.StructuredOutputPrompt.String(), "prompt"},
		{config.StructuredOutput("").String(), `StructuredOutput("")`},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}
