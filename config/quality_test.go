package config

import (
	"strings"
	"testing"
)

// TestValidate_QualityBounds verifies a chain's quality block is checked:
// truncated_below within 0..1, and only on a chat chain.
func TestValidate_QualityBounds(t *testing.T) {
	_, err := Parse([]byte(`
providers: [{name: p, api: openai, host: h}]
chains:
  - {name: c, match: {models: [m]}, targets: [{provider: p, model: m}], quality: {truncated_below: 1.5}}
  - {name: e, kind: embeddings, match: {models: [e]}, targets: [{provider: p, model: e, dimensions: 3}], quality: {empty: true}}
`))
	for _, want := range []string{"chains[0].quality.truncated_below", "chains[1].quality: quality checks judge chat answers"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want a problem at %s", err, want)
		}
	}
}
