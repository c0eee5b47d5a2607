package provider

import (
	"bytes"
	"regexp"
	"strings"
)

// redacted replaces a secret in provider error text.
const redacted = "[redacted]"

// keyLike matches tokens that look like API keys or bearer credentials:
// OpenAI-style sk-/sk-proj-/sk-ant- keys and their cousins (pk-, rk-, gsk_,
// xai-), Google API keys (AIza...), and the value after "Bearer ".
var keyLike = regexp.MustCompile(`\b(?:sk|pk|rk|gsk|xai|key)[-_][A-Za-z0-9_\-*.]{6,}|\bAIza[0-9A-Za-z_\-]{20,}|(?i:\bbearer\s+)[A-Za-z0-9_\-.~+/=*]{6,}`)

// secret is the endpoint's key: AuthValue without its scheme; "" when too
// short to be told from ordinary text.
func (ep *Endpoint) secret() string {
	if ep == nil {
		return ""
	}
	v := strings.TrimSpace(ep.AuthValue)
	if i := strings.LastIndexByte(v, ' '); i >= 0 {
		v = v[i+1:]
	}
	if len(v) < 8 {
		return ""
	}
	return v
}

// Redact removes the endpoint's key and anything that looks like a key from
// provider text (an error message that echoes "Incorrect API key provided:
// sk-..."), before the server passes it on or logs it.
func (ep *Endpoint) Redact(s string) string {
	if k := ep.secret(); k != "" {
		s = strings.ReplaceAll(s, k, redacted)
	}
	if !keyLike.MatchString(s) {
		return s
	}
	return keyLike.ReplaceAllString(s, redacted)
}

// RedactBytes is Redact for a body; it reports whether anything was removed
// (b is returned unchanged otherwise).
func (ep *Endpoint) RedactBytes(b []byte) ([]byte, bool) {
	out := b
	if k := ep.secret(); k != "" && bytes.Contains(out, []byte(k)) {
		out = bytes.ReplaceAll(out, []byte(k), []byte(redacted))
	}
	if keyLike.Match(out) {
		out = keyLike.ReplaceAll(out, []byte(redacted))
	}
	return out, len(out) != len(b) || !bytes.Equal(out, b)
}
