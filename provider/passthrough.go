package provider

import (
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// This file is the request side of the adapters that speak the client's own
// format (OpenAI and Azure OpenAI chat, Responses and embeddings): the
// client's body passes with only its model set to the target's.

// passThrough prepares req for a target of the client's format at path: the
// body names req.Model, and is the client's own (Prepared.Unchanged) when it
// already did.
func passThrough(ep *Endpoint, req Request, path string) (*Prepared, error) {
	body := req.Body
	if !req.jsonObject() {
		return nil, badRequest("", "request body is not a JSON object")
	}
	p := &Prepared{Path: path, Body: body, Unchanged: true}
	if gjson.GetBytes(body, "model").String() != req.Model {
		b, err := sjson.SetBytes(body, "model", req.Model)
		if err != nil {
			return nil, badRequest("model", "request body: "+err.Error())
		}
		p.Body, p.Unchanged = b, false
	}
	if ep.AuthValue != "" {
		p.Headers = append(p.Headers, Header{Key: ep.AuthHeader, Value: ep.AuthValue})
	}
	return p, nil
}

// jsonObject reports whether req's body is a JSON object. A body Inspect
// accepted (Inspection.Request, Request.Inspected) is one: only its first
// byte is looked at, a guard against a caller that marked another body.
func (req Request) jsonObject() bool {
	if req.inspected {
		return firstByte(req.Body) == '{'
	}
	return gjson.ValidBytes(req.Body) && gjson.Parse(str(req.Body)).IsObject()
}

// firstByte is b's first byte after JSON whitespace, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}
