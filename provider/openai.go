package provider

import (
	"bytes"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// openAI is the OpenAI Chat Completions wire format, also spoken by
// openai-compatible providers (https://platform.openai.com/docs/api-reference/chat).
type openAI struct{}

var _ Adapter = openAI{}

func (openAI) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	body := req.Body
	if !gjson.ValidBytes(body) || !gjson.Parse(str(body)).IsObject() {
		return nil, &Error{Status: 400, Type: "invalid_request_error", Message: "request body is not a JSON object"}
	}
	if gjson.GetBytes(body, "model").String() != req.Model {
		b, err := sjson.SetBytes(body, "model", req.Model)
		if err != nil {
			return nil, &Error{Status: 400, Type: "invalid_request_error", Message: "request body: " + err.Error()}
		}
		body = b
	}
	p := &Prepared{Path: ep.BasePath + "/chat/completions", Body: body}
	if ep.AuthValue != "" {
		p.Headers = append(p.Headers, Header{Key: ep.AuthHeader, Value: ep.AuthValue})
	}
	return p, nil
}

func (openAI) NewResponseTranslator(*Endpoint, Request, Env) ResponseTranslator { return identity{} }

func (openAI) InspectStreamStart(buf []byte) StreamStart {
	return inspectFirstEvent(buf, func(ev Event) *Classification {
		if bytes.Equal(ev.Data, []byte("[DONE]")) {
			return nil
		}
		e := gjson.GetBytes(ev.Data, "error")
		if !e.Exists() {
			return nil
		}
		c := Classification{Class: ClassServerError, Status: 200, Type: e.Get("type").String(),
			Code: e.Get("code").String(), Message: e.Get("message").String()}
		refine(&c)
		if c.Class == ClassServerError && (c.Type == "rate_limit_error" || c.Code == "rate_limit_exceeded") {
			c.Class = ClassRateLimited
		}
		return &c
	})
}

func (openAI) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	return classifyOpenAIStyle(status, h, body, now)
}

// identity passes a body through unchanged.
type identity struct{}

func (identity) Translate(chunk []byte, _ bool) ([]byte, error) { return chunk, nil }
func (identity) ContentType() string                            { return "" }

// inspectFirstEvent frames buf and judges its first event with judge.
func inspectFirstEvent(buf []byte, judge func(Event) *Classification) StreamStart {
	var r SSEReader
	var out StreamStart
	stop := errStop{}
	_ = r.Feed(buf, func(ev Event) error {
		out.Complete = true
		out.Failure = judge(ev)
		return stop
	})
	return out
}

type errStop struct{}

func (errStop) Error() string { return "stop" }
