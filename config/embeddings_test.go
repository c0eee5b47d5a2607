package config_test

import (
	"slices"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

const embedProviders = `
providers:
  - {name: openai, api: openai, host: api.openai.com}
  - {name: gem, api: gemini, host: generativelanguage.googleapis.com}
  - {name: claude, api: anthropic, host: api.anthropic.com}
`

// TestValidate_EmbeddingChains verifies what Validate asks of a chain's
// kind: embeddings targets on providers with an embeddings API, with
// dimensions that agree unless allowed to differ; no dimensions on chat
// chains. Each problem is reported with its path.
func TestValidate_EmbeddingChains(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chains string
		want   []string // nil: valid
	}{
		{"equal dimensions", `
  - name: e
    kind: embeddings
    targets: [{provider: openai, model: te3, dimensions: 768}, {provider: gem, model: ge1, dimensions: 768}]
`, nil},
		{"mixed dimensions allowed", `
  - name: e
    kind: embeddings
    allow_mixed_dimensions: true
    targets: [{provider: openai, model: te3, dimensions: 1536}, {provider: gem, model: ge1, dimensions: 3072}]
`, nil},
		{"mixed dimensions refused", `
  - name: e
    kind: embeddings
    targets: [{provider: openai, model: te3, dimensions: 1536}, {provider: gem, model: ge1, dimensions: 3072}]
`, []string{"chains[0].targets[1].dimensions"}},
		{"dimensions missing or out of bounds", `
  - name: e
    kind: embeddings
    targets: [{provider: openai, model: te3}, {provider: gem, model: ge1, dimensions: 65537}]
`, []string{"chains[0].targets[0].dimensions", "chains[0].targets[1].dimensions"}},
		{"a provider without embeddings", `
  - name: e
    kind: embeddings
    targets: [{provider: claude, model: c, dimensions: 8}]
`, []string{"chains[0].targets[0].provider"}},
		{"embeddings fields on a chat chain", `
  - name: c
    allow_mixed_dimensions: true
    targets: [{provider: openai, model: gpt-4o, dimensions: 8}]
`, []string{"chains[0].allow_mixed_dimensions", "chains[0].targets[0].dimensions"}},
		{"unknown kind", `
  - name: c
    kind: rerank
    targets: [{provider: openai, model: gpt-4o}]
`, []string{"chains[0].kind"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Parse([]byte(embedProviders + "chains:" + tc.chains))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				if c.Chains[0].Kind != config.KindEmbeddings {
					t.Fatalf("kind: got %q, want embeddings", c.Chains[0].Kind)
				}
				return
			}
			if got := fieldPaths(t, err); !slices.Equal(got, tc.want) {
				t.Fatalf("paths: got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// TestApplyDefaults_ChainKindIsChat verifies a chain without kind is a chat chain.
func TestApplyDefaults_ChainKindIsChat(t *testing.T) {
	c, err := config.Parse([]byte(embedProviders + "chains: [{name: c, targets: [{provider: openai, model: gpt-4o}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Chains[0].Kind != config.KindChat {
		t.Fatalf("got %q, want kind chat", c.Chains[0].Kind)
	}
}
