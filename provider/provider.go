package provider

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// Endpoint is a provider as one attempt sees it: its wire format, paths and
// credential. AuthValue is secret: never log it or put it in an error.
type Endpoint struct {
	Name       string
	API        config.API
	BasePath   string
	APIVersion string
	AuthHeader string
	AuthValue  string // scheme + key, ready to send; "" sends no credential
	// DefaultMaxTokens is the output-token limit sent to targets that require
	// one (Anthropic) when the client gives neither max_completion_tokens nor
	// max_tokens. Default (0): DefaultMaxTokens (4096). Bounds: > 0.
	DefaultMaxTokens int
	// Reasoning is config providers[].reasoning: "" or ReasoningPass sends
	// Anthropic thinking and Gemini thoughts on as ReasoningField,
	// ReasoningDrop discards them (reasoning.go).
	Reasoning config.Reasoning
	// StructuredOutput is config providers[].structured_output: "" or
	// StructuredOutputNative sends a strict json_schema to Anthropic as
	// output_config.format, StructuredOutputPrompt as an instruction.
	StructuredOutput config.StructuredOutput
}

// Request is the client's request as the attempt phase has it.
type Request struct {
	// Body is the client's OpenAI Chat Completions JSON.
	Body []byte
	// Model is the model (or Azure deployment) this target is asked for.
	Model string
	// Stream reports whether the client asked for a streamed answer.
	Stream bool
	// IncludeUsage reports stream_options.include_usage.
	IncludeUsage bool
	// inspected reports that Inspect accepted Body (a valid JSON object),
	// so parsing it for a target need not validate it again.
	inspected bool
}

// Inspected is req for a body Inspect accepted, from a caller that has its
// proof without the Inspection: the attempt phase, whose signed plan the
// route phase made after inspecting this very body (Envoy sends each attempt
// the request's buffered body, which the route phase does not change).
// Check and Prepare then read the body without validating it again.
func (req Request) Inspected() Request {
	req.inspected = true
	return req
}

// wallNow is the clock translators use when Env.Now is nil.
func wallNow() time.Time { return time.Now() }

// Header is one header to set.
type Header struct{ Key, Value string }

// Prepared is the request rewritten for one target.
type Prepared struct {
	// Path is the request :path, query included.
	Path string
	// Headers are set on the attempt, replacing any earlier value. The caller
	// first removes every name in CredentialHeaders.
	Headers []Header
	// Body is the body to send.
	Body []byte
	// Unchanged reports that Body is the client's body as it came: the
	// attempt phase sends no body back (Envoy forwards its buffered body
	// when a body response carries no body mutation).
	Unchanged bool
}

// CredentialHeaders are the request headers any provider reads credentials or
// versions from. The attempt phase removes all of them on every attempt, since
// Envoy's upstream filters share one header map across attempts.
var CredentialHeaders = []string{
	"authorization", "x-api-key", "api-key", "x-goog-api-key",
	"anthropic-version", "anthropic-beta", "openai-organization", "openai-project",
}

// Env carries what translators must not take from globals: the clock and the
// id source, so golden files match byte for byte.
type Env struct {
	Now func() time.Time
	ID  func() string
}

// ResponseTranslator turns one attempt's response body into the client's
// format. It is per attempt, fed the body chunks in order.
type ResponseTranslator interface {
	// Translate consumes the next chunk and returns what the client gets now.
	// eos marks the last chunk.
	Translate(chunk []byte, eos bool) ([]byte, error)
	// ContentType is the client-facing content type; "" when the translator
	// passes the body through unchanged (it may still reject a body that is
	// not an answer).
	ContentType() string
}

// Adapter is one wire format.
type Adapter interface {
	// Prepare rewrites the client's request for ep and model. An *Error with
	// Status 400 reports a request the target cannot express.
	Prepare(ep *Endpoint, req Request) (*Prepared, error)
	// Check returns the refusal Prepare would return for a request body that
	// Inspect accepted, or nil, without building the rewritten body: the
	// route phase leaves out the targets that refuse.
	Check(ep *Endpoint, req Request) error
	// NewResponseTranslator translates a successful (2xx) response.
	NewResponseTranslator(ep *Endpoint, req Request, env Env) ResponseTranslator
	// JudgeEvent says what one event of a 200 event stream is: content,
	// the stream's terminal event, an error (classified) or neither.
	JudgeEvent(ev Event) Verdict
	// Classify an error response (status >= 400) from this provider.
	Classify(status int, h http.Header, body []byte, now time.Time) Classification
}

// For returns the adapter of api.
func For(api config.API) (Adapter, error) {
	if f, ok := formats[api]; ok {
		return f.adapter, nil
	}
	return nil, fmt.Errorf("provider: %w: %q", ErrUnsupportedAPI, api)
}

// format is one API's adapter; native marks the client's own format (OpenAI
// Chat Completions), whose requests and answers pass through.
type format struct {
	adapter Adapter
	native  bool
}

// formats is every API's adapter: adding a wire format is one line here
// and its adapter's file.
var formats = map[config.API]format{
	config.APIOpenAI:           {openAI{}, true},
	config.APIOpenAICompatible: {openAI{}, true},
	config.APIAzureOpenAI:      {azureOpenAI{}, true},
	config.APIAnthropic:        {anthropic{}, false},
	config.APIGemini:           {gemini{}, false},
}

// clientFormat reports whether api speaks the client's format natively.
func clientFormat(api config.API) bool { return formats[api].native }

// ErrUnsupportedAPI is returned by For for an API without an adapter.
var ErrUnsupportedAPI = errors.New("unsupported api")
