package provider

import (
	"encoding/json"
	"fmt"
	"strings"
)

// This file is the one writer of OpenAI-style errors: the client's format
// for every refusal and failure, the server's own and the providers'.

// Error is a client-facing error in OpenAI's shape.
type Error struct {
	Status  int
	Type    string // OpenAI error type: invalid_request_error, rate_limit_error, ...
	Code    string
	Param   string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// ErrorObject is an OpenAI-style error body's object, for the server's own
// answers (attempts listed):
// {"error": {"message", "type", "param", "code", "attempts"?}}.
type ErrorObject struct {
	Message  string         `json:"message"`
	Type     string         `json:"type"`
	Param    *string        `json:"param"`
	Code     string         `json:"code"`
	Provider string         `json:"provider,omitempty"`
	Attempts []ErrorAttempt `json:"attempts,omitempty"`
}

// ErrorAttempt is one attempt in an error body: a field of our own, beside
// OpenAI's.
type ErrorAttempt struct {
	Attempt   int    `json:"attempt"`
	Provider  string `json:"provider"`
	Model     string `json:"model"`
	Outcome   string `json:"outcome"`
	Status    int    `json:"status"`
	LatencyMS int64  `json:"latency_ms"`
	Message   string `json:"message,omitempty"`
}

// ErrorJSON renders e as an OpenAI-style JSON error: {"error": e}.
func ErrorJSON(e ErrorObject) []byte {
	b, err := json.Marshal(struct {
		Error ErrorObject `json:"error"`
	}{e})
	if err != nil { // cannot happen: every field marshals
		return []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	return b
}

// Object is e as an error body's object.
func (pe *Error) Object() ErrorObject {
	e := ErrorObject{Message: pe.Message, Type: pe.Type, Code: pe.Code}
	if pe.Param != "" {
		p := pe.Param
		e.Param = &p
	}
	return e
}

// ErrorType is the OpenAI error type of a status: the one table of them
// (a class's type is its status's, classStatus).
func ErrorType(status int) string {
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

// unsupported is the 400 for a request field the target cannot express.
func unsupported(ep *Endpoint, field, detail string) *Error {
	return &Error{Status: 400, Type: "invalid_request_error", Code: "unsupported_parameter", Param: field,
		Message: fmt.Sprintf("provider %q (%s) cannot express %q: %s", ep.Name, ep.API, field, detail)}
}

// badRequest is the 400 for a client body that is not a chat request.
func badRequest(param, msg string) *Error {
	return &Error{Status: 400, Type: "invalid_request_error", Param: param, Message: msg}
}

// StreamErrorEvent is the OpenAI-style error event (then [DONE]) that ends
// a client's stream the provider ended badly: SDKs raise on it.
func StreamErrorEvent(ep *Endpoint, c Classification) []byte {
	msg := c.Message
	if msg == "" {
		msg = "the stream ended abnormally"
	}
	return appendErrorEvent(nil, ep, openAIType(c.Class), "stream_incomplete", msg)
}

// appendErrorEvent writes an OpenAI-style in-stream error event naming the
// provider, then the stream's end.
func appendErrorEvent(b []byte, ep *Endpoint, typ, code, msg string) []byte {
	b = append(b, "data: "...)
	b = appendError(b, ep, typ, code, msg)
	b = append(b, "\n\n"...)
	return append(b, doneEvent...)
}

// appendError writes the OpenAI error object
// {"error":{"message","type","param":null,"code"}}, the message naming the
// provider; code "" is null. With ep, type and code are redacted like the
// message (Endpoint.Redact).
func appendError(b []byte, ep *Endpoint, typ, code, msg string) []byte {
	if ep != nil { // type and code may come from the provider's error too
		typ, code = ep.Redact(typ), ep.Redact(code)
	}
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, providerMessage(ep, msg))
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if code == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, code)
	}
	return append(b, "}}"...)
}

// providerMessage prefixes msg with the provider's name and API.
// The message is redacted (Endpoint.Redact): providers echo keys in errors.
func providerMessage(ep *Endpoint, msg string) string {
	if ep == nil {
		return msg
	}
	return fmt.Sprintf("%s (%s): %s", ep.Name, ep.API, ep.Redact(msg))
}

// ErrorBody renders a provider's classified error as the client-facing
// OpenAI error JSON: {"error":{"message","type","param","code"}}. The message
// names the provider; type is the provider's error type when it is
// snake_case like OpenAI's (Anthropic's are), else one derived from the
// class (rate_limit_error, authentication_error, invalid_request_error,
// server_error); code is the provider's code, else its type (Gemini's
// status, e.g. RESOURCE_EXHAUSTED).
func ErrorBody(ep *Endpoint, c Classification) []byte {
	typ := c.Type
	if typ == "" || strings.ToLower(typ) != typ { // Gemini's RESOURCE_EXHAUSTED and the like
		typ = openAIType(c.Class)
	}
	code := c.Code
	if code == "" && c.Type != "" {
		code = c.Type
	}
	msg := c.Message
	if msg == "" {
		msg = fmt.Sprintf("upstream returned status %d (%s)", c.Status, c.Class)
	}
	return appendError(nil, ep, typ, code, msg)
}

// openAIType is the OpenAI error type that best names a class: that of
// the status the class stands for.
func openAIType(c Class) string { return ErrorType(classStatus(c)) }

// classStatus is the HTTP status a class stands for when naming its type.
func classStatus(c Class) int {
	switch c {
	case ClassRateLimited, ClassQuotaExhausted:
		return 429
	case ClassAuth:
		return 401
	case ClassInvalidRequest, ClassContextLength, ClassContentPolicy, ClassClientError:
		return 400
	}
	return 500
}

// ClientError is the body of an error answer that ends the request without
// failover (invalid request, content policy), as the client gets it: nil
// passes the provider's body unchanged (the client's own format, held
// whole, nothing to redact), else the body to send. A body held only in
// part is rebuilt (ErrorBody): its unseen rest cannot be redacted.
func ClientError(ep *Endpoint, c Classification, body []byte, whole bool) []byte {
	if !clientFormat(ep.API) || !whole {
		return ErrorBody(ep, c)
	}
	if b, changed := ep.RedactBytes(body); changed {
		return b
	}
	return nil
}

// errBadUpstream is a 2xx provider body that cannot be translated.
func errBadUpstream(msg string) *Error {
	return &Error{Status: 502, Type: "server_error", Code: "bad_upstream_response", Message: msg}
}
