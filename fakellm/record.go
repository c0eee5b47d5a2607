package fakellm

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Recorded is one provider request as the Server received it. Secrets are
// masked: the credential headers (authorization, proxy-authorization,
// x-api-key, api-key, x-goog-api-key) and the Gemini "key" query parameter
// keep only their first 4 characters and "…" (a "Bearer " prefix is kept
// and not counted; secrets of 8 characters or fewer become "…"). To check
// WHICH key arrived, compare KeySHA256 with KeyHash(key), or read the full
// value in-process with Server.ReceivedKey.
type Recorded struct {
	// Seq numbers the requests from 0 since the last Reset.
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	// Method and Path as received; Path includes the query, masked.
	Method string `json:"method"`
	Path   string `json:"path"`
	// Shape is the provider API the path selected; ShapeUnknown for
	// paths no shape answers (they get 404 and are still recorded).
	Shape Shape `json:"shape"`
	// Model is the model named by the body, the Azure deployment or the
	// Gemini path.
	Model  string `json:"model,omitempty"`
	Stream bool   `json:"stream,omitempty"`
	// Header is the request header, credentials masked.
	Header http.Header `json:"header"`
	// KeySHA256 maps each credential header name (lower case), or
	// "query:key", to KeyHash of its secret.
	KeySHA256 map[string]string `json:"key_sha256,omitempty"`
	// Body is the request body.
	Body string `json:"body"`
	// Fault is the fault applied to the request, if any, and FaultSource
	// where it came from: "header" or "schedule".
	Fault       *Fault `json:"fault,omitempty"`
	FaultSource string `json:"fault_source,omitempty"`

	secret string // full secret of the first credential, for ReceivedKey
}

// credentialHeaders are masked in records, in the order ReceivedKey
// looks for a secret.
var credentialHeaders = []string{"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization"}

// KeyHash is the hex SHA-256 prefix (16 characters) that Recorded.KeySHA256
// holds for a secret. For "Authorization: Bearer sk-x" the secret is "sk-x".
func KeyHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// splitScheme splits "Bearer sk-x" into "Bearer " and "sk-x"; other values
// have no scheme.
func splitScheme(v string) (scheme, secret string) {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return v[:7], v[7:]
	}
	return "", v
}

// maskSecret keeps the first 4 characters of secrets longer than 8.
func maskSecret(secret string) string {
	if len(secret) <= 8 {
		return "…"
	}
	return secret[:4] + "…"
}

// record builds the Recorded of r with masked secrets.
func record(r *http.Request, body []byte, now time.Time) Recorded {
	rec := Recorded{
		Time:   now,
		Method: r.Method,
		Header: r.Header.Clone(),
		Body:   string(body),
	}
	if rec.Header == nil {
		rec.Header = http.Header{}
	}
	for _, name := range credentialHeaders {
		key := http.CanonicalHeaderKey(name)
		vals := rec.Header[key]
		for i, v := range vals {
			scheme, secret := splitScheme(v)
			if rec.KeySHA256 == nil {
				rec.KeySHA256 = map[string]string{}
			}
			if i == 0 {
				rec.KeySHA256[name] = KeyHash(secret)
				if rec.secret == "" {
					rec.secret = secret
				}
			}
			vals[i] = scheme + maskSecret(secret)
		}
	}
	rec.Path = r.URL.EscapedPath()
	if r.URL.RawQuery == "" {
		return rec
	}
	parts := strings.Split(r.URL.RawQuery, "&")
	for i, p := range parts {
		name, val, ok := strings.Cut(p, "=")
		if !ok || name != "key" {
			continue
		}
		k, err := url.QueryUnescape(val)
		if err != nil {
			k = val
		}
		if rec.KeySHA256 == nil {
			rec.KeySHA256 = map[string]string{}
		}
		if _, seen := rec.KeySHA256["query:key"]; !seen {
			rec.KeySHA256["query:key"] = KeyHash(k)
		}
		if rec.secret == "" {
			rec.secret = k
		}
		parts[i] = "key=" + maskSecret(k)
	}
	rec.Path += "?" + strings.Join(parts, "&")
	return rec
}
