package config

import "fmt"

// ChainKind is what a chain's targets are: it decides which client APIs
// the chain serves.
type ChainKind string

// The chain kinds.
const (
	// KindChat chains serve chat completions (and the client APIs
	// translated to them).
	KindChat ChainKind = "chat"
	// KindEmbeddings chains serve /v1/embeddings.
	KindEmbeddings ChainKind = "embeddings"
)

// MaxDimensions bounds a target's dimensions.
const MaxDimensions = 65536

// EmbeddingAPIs are the provider APIs with an embeddings endpoint (the
// formats provider.Embeddings has adapters for; a provider test keeps the
// two lists equal).
var EmbeddingAPIs = []API{APIOpenAI, APIOpenAICompatible, APIAzureOpenAI, APIGemini}

// validateKind checks a chain's kind and what it asks of the targets: the
// targets of an embeddings chain are on providers with an embeddings API
// and declare their dimensions, equal unless allow_mixed_dimensions; a chat
// chain's targets declare none. path names the chain.
func (c *Config) validateKind(p *problems, path string, ch *Chain) {
	switch ch.Kind {
	case KindChat:
		if ch.AllowMixedDimensions {
			p.bad(path+".allow_mixed_dimensions", "only for a chain of kind %q", KindEmbeddings)
		}
		for j, t := range ch.Targets {
			if t.Dimensions != 0 {
				p.bad(fmt.Sprintf("%s.targets[%d].dimensions", path, j), "only for the targets of a chain of kind %q", KindEmbeddings)
			}
		}
		return
	case KindEmbeddings:
	default:
		p.bad(path+".kind", "%q must be %q or %q", ch.Kind, KindChat, KindEmbeddings)
		return
	}
	first := 0
	for j, t := range ch.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", path, j)
		if pr := c.Provider(t.Provider); pr != nil && !embeddingAPI(pr.API) {
			p.bad(tp+".provider", "%q has api %q, which has no embeddings endpoint (embeddings chains take %v)", t.Provider, pr.API, EmbeddingAPIs)
		}
		if t.Dimensions < 1 || t.Dimensions > MaxDimensions {
			p.bad(tp+".dimensions", "required on an embeddings target: the size of its vectors, 1..%d", MaxDimensions)
			continue
		}
		if first == 0 {
			first = t.Dimensions
		} else if t.Dimensions != first && !ch.AllowMixedDimensions {
			p.bad(tp+".dimensions", "%d differs from the chain's first target (%d): a failover would change the vectors' size; set allow_mixed_dimensions: true to allow it", t.Dimensions, first)
		}
	}
}

func embeddingAPI(api API) bool {
	for _, a := range EmbeddingAPIs {
		if a == api {
			return true
		}
	}
	return false
}
