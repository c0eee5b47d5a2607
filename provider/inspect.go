package provider

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/llm-failover/llm-failover/config"
	"github.com/tidwall/gjson"
)

// Body inspection errors, each answered 400.
var (
	errMalformedJSON  = errors.New("the request body is not valid JSON")
	errNotObject      = errors.New("the request body must be a JSON object")
	errDuplicateModel = errors.New(`the request body has more than one top-level "model" key`)
	errMissingModel   = errors.New(`the request body needs a "model" string`)
	errModelEncoding  = errors.New(`the request body's "model" is not valid UTF-8`)
)

// Inspection is what the route phase needs from a client's request body.
type Inspection struct {
	Model        string
	Stream       bool
	IncludeUsage bool
	// Needs of targets: tools, JSON output, image input.
	Tools, JSON, Vision bool
	// OpenAIOnly names a field only targets of the client's own format
	// serve ("" if none): n, logprobs, top_logprobs, audio, modalities.
	// chatRequest.checkCommon lists the same fields for Prepare and Check
	// and must stay separate: on odd values the two differ (n "2" or 1.5,
	// a repeated key), and merging them would change which requests are
	// routed past such targets and which are refused by them.
	OpenAIOnly string
	// Stateful names the field of a Responses request that ties it to the
	// state one provider holds ("previous_response_id", "store"), or "":
	// the route phase keeps such a request on that provider (StateHolder).
	Stateful string
}

// Inspect reads what the route phase needs from a client's body, or
// refuses the body with a 400: not a JSON object, or without exactly one
// "model" string (Param "model").
func Inspect(body []byte) (Inspection, *Error) {
	in, err := inspectBody(body)
	if err == nil {
		return in, nil
	}
	e := &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_request_body", Message: err.Error()}
	if !errors.Is(err, errMalformedJSON) && !errors.Is(err, errNotObject) {
		e.Param = "model"
	}
	return in, e
}

// Request is the request for a target asked for model, whose body is the
// one Inspect accepted: Check and Prepare parse it without validating it
// again.
func (in Inspection) Request(body []byte, model string) Request {
	return Request{Body: body, Model: model, Stream: in.Stream, IncludeUsage: in.IncludeUsage, inspected: true}
}

// Unserved names what a target of api lacks to serve the request (a field
// only the client's own format serves), or "".
func (in Inspection) Unserved(api config.API) string {
	if in.OpenAIOnly == "" || clientFormat(api) {
		return ""
	}
	return "the " + in.OpenAIOnly + " field, which only OpenAI-format targets serve"
}

// inspectBody reads the model and stream flags with one pass over the
// top-level keys, without unmarshalling the body: each member's source text
// (eachMember) is decoded only for the keys read. Keys are compared after
// JSON unescaping, so "mod\u0065l" counts as a second "model": parsers
// disagree on which duplicate wins, and the provider must never see another
// model than the one routed.
func inspectBody(b []byte) (Inspection, error) {
	var in Inspection
	if !gjson.ValidBytes(b) {
		return in, errMalformedJSON
	}
	body := str(b) // read in place: Model is cloned, nothing else points into b
	if firstByte(b) != '{' {
		return in, errNotObject
	}
	models := 0
	var err error
	eachMember(body, func(key, raw string) {
		if err != nil {
			return
		}
		switch key {
		case "model":
			models++
			value := gjson.Parse(raw)
			switch {
			case models > 1:
				err = errDuplicateModel
			case value.Type != gjson.String || value.Str == "":
				err = errMissingModel
			case !utf8.ValidString(value.Str):
				// The model travels in the plan (a protobuf string must be
				// UTF-8) and in error messages: refuse it here, with a 400.
				err = errModelEncoding
			default:
				in.Model = strings.Clone(value.Str)
			}
		case "stream":
			in.Stream = raw == "true"
		case "stream_options":
			in.IncludeUsage = gjson.Get(raw, "include_usage").Type == gjson.True
		case "tools", "functions":
			in.Tools = in.Tools || nonEmptyArray(raw)
		case "response_format":
			t := gjson.Get(raw, "type").Str
			in.JSON = t == "json_object" || t == "json_schema"
		case "messages":
			// A plain substring scan first: most requests have no image part,
			// and walking every message is the slow path. "mage" finds every
			// "image" and scans several times faster: its first byte is rarer
			// in text than "i", on which the scan stops to compare.
			if strings.Contains(raw, "mage") {
				in.Vision = hasImage(gjson.Parse(raw))
			}
		case "n":
			if v := gjson.Parse(raw); v.Type == gjson.Number && v.Num != 1 {
				in.OpenAIOnly = "n"
			}
		case "logprobs":
			if raw == "true" {
				in.OpenAIOnly = "logprobs"
			}
		case "top_logprobs", "audio":
			if raw != "null" {
				in.OpenAIOnly = key
			}
		case "modalities":
			gjson.Parse(raw).ForEach(func(_, m gjson.Result) bool {
				if m.Str != "text" {
					in.OpenAIOnly = "modalities"
				}
				return in.OpenAIOnly == ""
			})
		}
	})
	if err != nil {
		return in, err
	}
	if models == 0 {
		return in, errMissingModel
	}
	return in, nil
}

// nonEmptyArray reports whether raw is a JSON array with an element.
func nonEmptyArray(raw string) bool {
	i := skipWS(raw, 1)
	return raw[0] == '[' && i < len(raw) && raw[i] != ']'
}

// hasImage reports whether any message has an image part.
func hasImage(messages gjson.Result) bool {
	found := false
	messages.ForEach(func(_, m gjson.Result) bool {
		c := m.Get("content")
		if !c.IsArray() {
			return true
		}
		c.ForEach(func(_, part gjson.Result) bool {
			t := part.Get("type").Str
			found = t == "image_url" || t == "input_image"
			return !found
		})
		return !found
	})
	return found
}
