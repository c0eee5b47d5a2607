package provider

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// This file is OpenAI's Responses API as a client API
// (https://platform.openai.com/docs/api-reference/responses): what the
// route phase reads from a request (InspectResponses), the adapters per
// target API (ResponsesAdapter), and the translation of a Responses request
// into the Chat Completions request the Anthropic and Gemini adapters take.
// responses_answer.go writes their answers and streams back as Responses.

// ResponsesPath is the client path of the Responses API.
const ResponsesPath = "/v1/responses"

// Responses inspection errors, each answered 400.
var errResponsesInput = errors.New(`the request body needs an "input" string or array`)

// InspectResponses reads what the route phase needs from a Responses body,
// or refuses it with a 400: not a JSON object, without exactly one "model"
// string (Param "model") or without an "input" string or array (Param
// "input"). IncludeUsage is set for every stream: a Responses stream ends
// with its usage (response.completed). Stateful names the field that ties
// the request to one provider's state (previous_response_id, store: true).
func InspectResponses(body []byte) (Inspection, *Error) {
	in, perr := Inspect(body) // model, stream, malformed JSON, duplicate models
	if perr != nil {
		return Inspection{}, perr
	}
	// Inspect read chat fields; the Responses fields that mean the same
	// needs are read here.
	in.Tools, in.JSON, in.Vision, in.OpenAIOnly = false, false, false, ""
	in.IncludeUsage = in.Stream
	root := gjson.Parse(str(body)) // read only here: nothing kept points into body
	input := false
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input":
			input = v.Type == gjson.String || v.IsArray()
			if v.IsArray() && strings.Contains(v.Raw, "input_image") {
				in.Vision = responsesHasImage(v)
			}
		case "tools":
			in.Tools = v.IsArray() && len(v.Array()) > 0
		case "text":
			t := v.Get("format.type").Str
			in.JSON = t == "json_object" || t == "json_schema"
		case "previous_response_id":
			if v.Type == gjson.String && v.Str != "" {
				in.Stateful = "previous_response_id"
			}
		case "store":
			if v.Type == gjson.True && in.Stateful == "" {
				in.Stateful = "store"
			}
		case "top_logprobs", "background", "conversation", "prompt":
			if v.Type != gjson.Null && v.Type != gjson.False && in.OpenAIOnly == "" {
				in.OpenAIOnly = k.Str
			}
		}
		return true
	})
	if !input {
		return Inspection{}, &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_request_body",
			Param: "input", Message: errResponsesInput.Error()}
	}
	return in, nil
}

// responsesHasImage reports whether any input message has an input_image part.
func responsesHasImage(input gjson.Result) bool {
	found := false
	input.ForEach(func(_, item gjson.Result) bool {
		item.Get("content").ForEach(func(_, part gjson.Result) bool {
			found = part.Get("type").Str == "input_image"
			return !found
		})
		return !found
	})
	return found
}

// StateHolder is the index in apis (a chain's targets' APIs, in order) of
// the target whose provider holds a stateful request's state: the first
// target that serves the Responses API natively (OpenAI, Azure OpenAI), or
// -1 when the chain has none. Only that provider's targets may serve the
// request: no other provider can read its stored responses.
func StateHolder(apis []config.API) int {
	for i, api := range apis {
		if responsesNativeAPI(api) {
			return i
		}
	}
	return -1
}

// responsesNativeAPI reports whether targets of api take Responses
// requests as they are. OpenAI-compatible providers serve chat completions
// but seldom /responses: they get the translated chat request.
func responsesNativeAPI(api config.API) bool {
	return api == config.APIOpenAI || api == config.APIAzureOpenAI
}

// ErrStateful is the 400 for a stateful request no target can serve;
// the message names the field and why.
func ErrStateful(field, why string) *Error {
	return &Error{Status: 400, Type: "invalid_request_error", Code: "unsupported_parameter", Param: field,
		Message: fmt.Sprintf("the request's %q needs state that only the provider holding it can read: %s", field, why)}
}

// ResponsesAdapter is the adapter of api for Responses requests: OpenAI
// and Azure OpenAI take them natively; OpenAI-compatible, Anthropic and
// Gemini targets through a Chat Completions request their own adapters
// prepare.
func ResponsesAdapter(api config.API) (Adapter, error) {
	f, ok := formats[api]
	if !ok {
		return nil, fmt.Errorf("provider: %w: %q", ErrUnsupportedAPI, api)
	}
	if responsesNativeAPI(api) {
		return responsesNative{azure: api == config.APIAzureOpenAI}, nil
	}
	return responsesTranslated{inner: f.adapter}, nil
}

// responsesNative passes Responses requests and answers through to an
// OpenAI or Azure OpenAI provider, setting only the model (and, for Azure,
// the path).
type responsesNative struct{ azure bool }

var _ Adapter = responsesNative{}

func (n responsesNative) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	path := ep.BasePath + "/responses"
	if n.azure {
		// The Responses API has no deployment path: the deployment is the
		// body's model, the api-version a query (2025-03-01-preview or
		// later), or the v1 path
		// (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses).
		if ep.APIVersion == AzureV1 {
			path = ep.BasePath + "/v1/responses"
		} else {
			path = ep.BasePath + "/responses?api-version=" + url.QueryEscape(azureResponsesVersion(ep.APIVersion))
		}
	}
	return passThrough(ep, req, path)
}

// AzureResponsesAPIVersion is the api-version Responses requests to Azure
// use when the provider's api_version predates the Responses API
// (2025-03-01-preview): the chat completions default (2024-10-21) has no
// /responses path.
const AzureResponsesAPIVersion = "2025-04-01-preview"

// azureResponsesVersion is the api-version for a Responses request: v, or
// AzureResponsesAPIVersion when v is empty or older. Versions are dates
// (YYYY-MM-DD, with an optional -preview), so they compare as strings.
func azureResponsesVersion(v string) string {
	if v == "" || v < "2025-03-01" {
		return AzureResponsesAPIVersion
	}
	return v
}

// Check accepts every body InspectResponses accepts: the target speaks it.
func (responsesNative) Check(*Endpoint, Request) error { return nil }

func (responsesNative) NewResponseTranslator(_ *Endpoint, req Request, _ Env) ResponseTranslator {
	if req.Stream {
		return identity{}
	}
	return &checkedResponse{}
}

func (n responsesNative) JudgeEvent(ev Event) Verdict {
	v := judgeResponsesEvent(ev)
	if n.azure && v.Failure != nil {
		azureRefine(v.Failure, gjson.Result{})
	}
	return v
}

func (n responsesNative) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	c := classifyOpenAIStyle(status, h, body, now)
	if n.azure {
		azureRefine(&c, gjson.GetBytes(body, "error.innererror"))
	}
	return c
}

// checkedResponse passes a whole Responses answer through unchanged, and
// rejects a body that is not one (not JSON, no "output" array).
type checkedResponse struct{ buf []byte }

func (t *checkedResponse) Translate(chunk []byte, eos bool) ([]byte, error) {
	t.buf = append(t.buf, chunk...)
	if !eos {
		return nil, nil
	}
	b := t.buf
	if len(bytes.TrimSpace(b)) == 0 {
		return b, errBadUpstream("the answer's body is empty")
	}
	if !gjson.ValidBytes(b) {
		return b, errBadUpstream("the answer is not valid JSON")
	}
	if r := gjson.ParseBytes(b); !r.IsObject() || !r.Get("output").IsArray() {
		return b, errBadUpstream("the answer is not a response (no output array)")
	}
	return b, nil
}

func (t *checkedResponse) ContentType() string { return "" }

// judgeResponsesEvent judges one Responses stream event by its type:
// response.completed and response.incomplete end the stream;
// response.failed and error are errors; text, refusal, reasoning and
// function-argument deltas are content.
func judgeResponsesEvent(ev Event) Verdict {
	d := ev.Data
	typ := ev.Name
	if t := gjson.GetBytes(d, "type"); t.Type == gjson.String {
		typ = t.Str
	}
	switch typ {
	case "response.completed", "response.incomplete":
		return Verdict{Kind: EventEnd}
	case "response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
		"response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		return Verdict{Kind: EventContent}
	case "response.output_item.added":
		if gjson.GetBytes(d, "item.type").Str == "function_call" {
			return Verdict{Kind: EventContent}
		}
		return Verdict{}
	case "response.failed", "error":
		e := gjson.GetBytes(d, "response.error")
		if typ == "error" {
			e = gjson.ParseBytes(d)
			if inner := e.Get("error"); inner.IsObject() {
				e = inner
			}
		}
		c := Classification{Class: ClassServerError, Status: 200, Type: e.Get("type").Str,
			Code: e.Get("code").Str, Message: e.Get("message").Str}
		refine(&c)
		if c.Class == ClassServerError && (c.Type == "rate_limit_error" || c.Code == "rate_limit_exceeded") {
			c.Class = ClassRateLimited
		}
		return streamError(c)
	}
	if typ == "" && bytes.Contains(d, []byte(`"error"`)) {
		return judgeOpenAIEvent(ev) // our own {"error":...} event
	}
	return Verdict{}
}

// responsesTranslated serves Responses requests to a target of another
// wire format: the request becomes a Chat Completions request (chatFromResponses)
// that the target's own adapter prepares, and its translated chat answer
// becomes a Responses answer (responses_answer.go).
type responsesTranslated struct{ inner Adapter }

var _ Adapter = responsesTranslated{}

// chatRequest is the Chat Completions request for req, or the refusal.
func (t responsesTranslated) chatRequest(ep *Endpoint, req Request) (Request, error) {
	body, err := chatFromResponses(ep, req.Body, req.inspected)
	if err != nil {
		return Request{}, err
	}
	return Request{Body: body, Model: req.Model, Stream: req.Stream, IncludeUsage: req.Stream, inspected: true}, nil
}

func (t responsesTranslated) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	creq, err := t.chatRequest(ep, req)
	if err != nil {
		return nil, err
	}
	return t.inner.Prepare(ep, creq)
}

// Check builds the chat request (a walk over the input, cheap beside the
// target's translation) and asks the target's adapter to check it.
func (t responsesTranslated) Check(ep *Endpoint, req Request) error {
	creq, err := t.chatRequest(ep, req)
	if err != nil {
		return err
	}
	return t.inner.Check(ep, creq)
}

func (t responsesTranslated) NewResponseTranslator(ep *Endpoint, req Request, env Env) ResponseTranslator {
	creq := Request{Model: req.Model, Stream: req.Stream, IncludeUsage: req.Stream}
	echo := echoOf(req.Body)
	if req.Stream {
		return newResponsesStream(t.inner.NewResponseTranslator(ep, creq, env), ep, req.Model, echo, env)
	}
	return &responsesWhole{inner: t.inner.NewResponseTranslator(ep, creq, env), model: req.Model, echo: echo, env: env}
}

func (t responsesTranslated) JudgeEvent(ev Event) Verdict { return t.inner.JudgeEvent(ev) }

func (t responsesTranslated) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	return t.inner.Classify(status, h, body, now)
}
