package fakellm

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Shape is a provider API the Server answers.
type Shape int

const (
	// ShapeUnknown is a path no provider API answers.
	ShapeUnknown Shape = iota
	// ShapeOpenAI is OpenAI chat completions, also OpenAI-compatible and
	// Azure OpenAI: POST {prefix}/chat/completions.
	ShapeOpenAI
	// ShapeAnthropic is Anthropic Messages: POST {prefix}/messages.
	ShapeAnthropic
	// ShapeGemini is Gemini generateContent and streamGenerateContent:
	// POST {prefix}/models/{model}:generateContent.
	ShapeGemini
	// ShapeResponses is the OpenAI Responses API: POST {prefix}/responses.
	ShapeResponses
)

var shapeNames = [...]string{"unknown", "openai", "anthropic", "gemini", "responses"}

// String returns the name of s, or "Shape(n)" for unknown values.
func (s Shape) String() string {
	if s >= 0 && int(s) < len(shapeNames) {
		return shapeNames[s]
	}
	return "Shape(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s Shape) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Shape) UnmarshalText(b []byte) error {
	for i, n := range shapeNames {
		if n == string(b) {
			*s = Shape(i)
			return nil
		}
	}
	return fmt.Errorf("fakellm: unknown shape %q", b)
}

// call is a parsed provider request.
type call struct {
	shape        Shape
	model        string
	stream       bool
	includeUsage bool // OpenAI stream_options.include_usage
	sse          bool // Gemini alt=sse; OpenAI and Anthropic streams are always SSE
	out          output
}

// parseCall finds the shape of r from its path and reads what the answer
// needs from the body.
func parseCall(r *http.Request, body []byte) call {
	c := parseShape(r, body)
	c.out = parseOutput(c.shape, body)
	return c
}

// parseShape is parseCall without the output the request asks for.
func parseShape(r *http.Request, body []byte) call {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		c := call{shape: ShapeOpenAI, model: gjson.GetBytes(body, "model").String()}
		if c.model == "" {
			if _, rest, ok := strings.Cut(p, "/deployments/"); ok {
				c.model, _, _ = strings.Cut(rest, "/")
			}
		}
		c.stream = gjson.GetBytes(body, "stream").Bool()
		c.includeUsage = gjson.GetBytes(body, "stream_options.include_usage").Bool()
		c.sse = c.stream
		return c
	case strings.HasSuffix(p, "/responses"):
		c := call{shape: ShapeResponses, model: gjson.GetBytes(body, "model").String()}
		c.stream = gjson.GetBytes(body, "stream").Bool()
		c.sse = c.stream
		return c
	case strings.HasSuffix(p, "/messages"):
		c := call{shape: ShapeAnthropic, model: gjson.GetBytes(body, "model").String()}
		c.stream = gjson.GetBytes(body, "stream").Bool()
		c.sse = c.stream
		return c
	}
	i := strings.LastIndex(p, "/models/")
	if i < 0 {
		return call{}
	}
	model, method, ok := strings.Cut(p[i+len("/models/"):], ":")
	if !ok || model == "" || strings.Contains(model, "/") {
		return call{}
	}
	switch method {
	case "generateContent":
		return call{shape: ShapeGemini, model: model}
	case "streamGenerateContent":
		return call{shape: ShapeGemini, model: model, stream: true, sse: r.URL.Query().Get("alt") == "sse"}
	}
	return call{}
}

// answer is the deterministic reply to a call.
type answer struct {
	call
	id               string
	created          time.Time
	deltas           []string // the text, in stream pieces
	promptTokens     int
	completionTokens int
	cachedTokens     int    // the part of promptTokens read from the cache (usage.go)
	key              string // the request's credential, for echo_key faults
	// tool is the name of the tool the answer calls, with the arguments
	// (JSON) in deltas; empty: a text answer.
	tool string
}

func (a *answer) text() string { return strings.Join(a.deltas, "") }

// newAnswer builds the reply of provider name to c: "Hello from <name>
// (<model>)." in one delta per word; prompt tokens are len(body)/4 (at
// least 1), completion tokens the number of words. A request offering
// tools gets a call of one with arguments valid against its parameters,
// and one asking for JSON gets JSON valid against its schema, both in
// deltas of 16 bytes (structured.go).
func newAnswer(c call, name string, body []byte, seq int, now time.Time) *answer {
	model := c.model
	if model == "" {
		model = "unknown-model"
	}
	c.model = model
	words := strings.Fields(fmt.Sprintf("Hello from %s (%s).", name, model))
	deltas := make([]string, len(words))
	for i, w := range words {
		if i < len(words)-1 {
			w += " "
		}
		deltas[i] = w
	}
	a := &answer{
		call:             c,
		id:               fmt.Sprintf("fake%06d", seq),
		created:          now,
		deltas:           deltas,
		promptTokens:     max(1, len(body)/4),
		completionTokens: len(words),
	}
	switch {
	case c.out.tool.name != "":
		a.tool = c.out.tool.name
		a.deltas = pieces(string(exampleJSON(c.out.tool.params)), 16)
	case c.out.jsonOut:
		a.deltas = pieces(string(exampleJSON(c.out.schema)), 16)
	default:
		return a
	}
	a.completionTokens = len(a.deltas)
	return a
}

// apiError is an error answer to be written in a provider's shape.
type apiError struct {
	status       int
	code         string
	promptTokens int
	retryDelay   string // Gemini RetryInfo, "2s"; empty for none
	echoKey      bool   // quote key in the message
	key          string
}

// event is one stream event: an SSE event (name may be empty) or, for
// Gemini streams without alt=sse, one element of the JSON array.
type event struct {
	name string
	data []byte
}

// api is one provider's wire format.
type api interface {
	// body is the non-stream JSON answer.
	body(a *answer) []byte
	// events is the stream answer, final events included.
	events(a *answer) []event
	// errorBody is an error in the provider's JSON error shape.
	errorBody(e apiError) []byte
	// errorEvent is the stream event of a 200 stream that fails at once.
	errorEvent(a *answer) event
	// startEvents open a stream before its first content (error_after_start).
	startEvents(a *answer) []event
	// terminalEvents is how many of events(a), at its end, finish the
	// stream (no_terminal drops them).
	terminalEvents(a *answer) int
	// overloadStatus answers a stream_error fault on a non-stream call.
	overloadStatus() int
	// setHeaders adds the provider's response headers (request ids).
	setHeaders(h http.Header, a *answer)
}

func apiOf(s Shape) api {
	switch s {
	case ShapeOpenAI:
		return openAI{}
	case ShapeAnthropic:
		return anthropic{}
	case ShapeGemini:
		return gemini{}
	case ShapeResponses:
		return responses{}
	}
	return nil
}
