package provider

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/tidwall/gjson"
)

// Tool call ids across APIs. A client speaking chat completions sends back
// the ids it got: OpenAI's call_..., Anthropic's toolu_... (passed through
// by the Anthropic translation), Gemini's own ids or call_<answer>_<n>
// (gemini_response.go geminiToolID). OpenAI takes any string, and Gemini
// gets no ids (its functionCall and functionResponse parts pair by name
// and order, gemini.go), but Anthropic refuses a tool_use id that does not
// match ^[a-zA-Z0-9_-]+$ ("String should match pattern"), which ids of some
// OpenAI-compatible providers do not ("functions.get_weather:0"). Such an
// id goes to Anthropic as anthropicToolID makes it, the same for the
// tool_use and its tool_result, so the pair still matches; the client
// never sees it (Anthropic does not echo the ids of earlier turns).

// anthropicToolIDOK reports whether id matches ^[a-zA-Z0-9_-]+$.
func anthropicToolIDOK(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return id != ""
}

// anthropicToolID is id when Anthropic takes it; else id with each refused
// byte replaced by '_' and "_" plus 12 hex digits of its SHA-256 appended,
// so two ids differing only in refused bytes stay apart.
func anthropicToolID(id string) string {
	if anthropicToolIDOK(id) {
		return id
	}
	b := []byte(id)
	for i, c := range b {
		if !anthropicToolIDOK(string(c)) {
			b[i] = '_'
		}
	}
	sum := sha256.Sum256([]byte(id))
	return string(b) + "_" + hex.EncodeToString(sum[:6])
}

// appendAnthropicToolID writes the tool call id r as Anthropic takes it.
func appendAnthropicToolID(b []byte, r gjson.Result) []byte {
	if id := r.String(); !anthropicToolIDOK(id) {
		return appendString(b, anthropicToolID(id))
	}
	return appendRawString(b, r)
}
