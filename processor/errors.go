package processor

import (
	"encoding/json"

	"github.com/llm-failover/llm-failover/provider"
)

// apiError is an OpenAI-style error body:
// {"error": {"message", "type", "param", "code", "attempts"?}}.
type apiError struct {
	Message  string        `json:"message"`
	Type     string        `json:"type"`
	Param    *string       `json:"param"`
	Code     string        `json:"code"`
	Provider string        `json:"provider,omitempty"`
	Attempts []attemptJSON `json:"attempts,omitempty"`
}

// attemptJSON is one attempt in an error body.
type attemptJSON struct {
	Attempt   int    `json:"attempt"`
	Provider  string `json:"provider"`
	Model     string `json:"model"`
	Outcome   string `json:"outcome"`
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Message   string `json:"message,omitempty"`
}

// errorBody renders e as an OpenAI-style JSON error.
func errorBody(e apiError) []byte {
	b, err := json.Marshal(struct {
		Error apiError `json:"error"`
	}{e})
	if err != nil { // cannot happen: every field marshals
		return []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	return b
}

// apiErrorOf is the client-facing form of an adapter's refusal.
func apiErrorOf(pe *provider.Error) apiError {
	e := apiError{Message: pe.Message, Type: pe.Type, Code: pe.Code}
	if pe.Param != "" {
		e.Param = ptr(pe.Param)
	}
	return e
}

// errorTypeFor gives the OpenAI error type of a status.
func errorTypeFor(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 429:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}
