package provider

import (
	"bytes"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
)

// openAI is the OpenAI Chat Completions wire format, also spoken by
// openai-compatible providers (https://platform.openai.com/docs/api-reference/chat).
type openAI struct{}

var _ Adapter = openAI{}

func (openAI) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	return passThrough(ep, req, ep.BasePath+"/chat/completions")
}

// Check accepts every body Inspect accepts: the client's format is this one.
func (openAI) Check(*Endpoint, Request) error { return nil }

func (openAI) NewResponseTranslator(_ *Endpoint, req Request, _ Env) ResponseTranslator {
	return openAIAnswer(req)
}

// openAIAnswer is the translator of an OpenAI-format answer: a stream passes
// unchanged; a whole answer passes unchanged once checked to be a chat completion.
func openAIAnswer(req Request) ResponseTranslator {
	if req.Stream {
		return identity{}
	}
	return &checkedCompletion{}
}

// checkedCompletion passes a whole chat completion through unchanged, and
// rejects a body that is not one (HTML, invalid JSON, empty, another object).
type checkedCompletion struct{ buf []byte }

func (t *checkedCompletion) Translate(chunk []byte, eos bool) ([]byte, error) {
	if eos && t.buf == nil {
		// The whole answer in one piece (the processor holds answers until
		// whole): checked in place, not copied.
		return chunk, checkChatCompletion(chunk)
	}
	t.buf = append(t.buf, chunk...)
	if !eos {
		return nil, nil
	}
	return t.buf, checkChatCompletion(t.buf)
}

func (t *checkedCompletion) ContentType() string { return "" }

// checkChatCompletion reports whether b is a chat completion: a JSON object
// with a "choices" array.
func checkChatCompletion(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errBadUpstream("the answer's body is empty")
	}
	if !gjson.ValidBytes(b) {
		return errBadUpstream("the answer is not valid JSON")
	}
	r := gjson.Parse(str(b)) // read only here: no copy of the answer
	if !r.IsObject() || !r.Get("choices").IsArray() {
		return errBadUpstream("the answer is not a chat completion (no choices array)")
	}
	return nil
}

func (openAI) JudgeEvent(ev Event) Verdict { return judgeOpenAIEvent(ev) }

// judgeOpenAIEvent judges a chat.completion.chunk event: [DONE] ends the
// stream; {"error":...} is an error; a delta with content, a refusal or tool
// calls, or a finish_reason, is content; a role-only or usage chunk is not.
func judgeOpenAIEvent(ev Event) Verdict {
	d := ev.Data
	if bytes.Equal(d, []byte("[DONE]")) {
		return Verdict{Kind: EventEnd}
	}
	if bytes.Contains(d, []byte(`"error"`)) {
		if e := gjson.Get(str(d), "error"); e.Exists() {
			c := Classification{Class: ClassServerError, Status: 200, Type: e.Get("type").String(),
				Code: e.Get("code").String(), Message: e.Get("message").String()}
			if e.Type == gjson.String {
				c.Message = e.Str
			}
			refine(&c)
			if c.Class == ClassServerError && (c.Type == "rate_limit_error" || c.Code == "rate_limit_exceeded") {
				c.Class = ClassRateLimited
			}
			return Verdict{Kind: EventError, Failure: &c}
		}
	}
	if chunkHasContent(str(d)) {
		return Verdict{Kind: EventContent}
	}
	return Verdict{}
}

// chunkHasContent reports whether a chat.completion.chunk has content: a
// choice (in the first "choices") whose first finish_reason is not null, or
// whose first delta has a non-empty content, refusal or reasoning text, or
// tool calls. It reads the members' source text (eachMember): nothing is
// decoded, since a JSON string is empty only when written "".
func chunkHasContent(d string) bool {
	var choices string
	eachMember(d, func(k, raw string) {
		if k == "choices" && choices == "" {
			choices = raw
		}
	})
	content := false
	eachValue(choices, func(ch string) {
		if content {
			return
		}
		var finish, delta string
		eachMember(ch, func(k, raw string) {
			switch {
			case k == "finish_reason" && finish == "":
				finish = raw
			case k == "delta" && delta == "":
				delta = raw
			}
		})
		if finish != "" && finish != "null" {
			content = true
			return
		}
		eachMember(delta, func(k, raw string) {
			switch k {
			case "content", "refusal", "reasoning_content", "reasoning":
				content = content || raw[0] == '"' && raw != `""`
			case "tool_calls", "function_call":
				content = content || raw != "null"
			}
		})
	})
	return content
}

func (openAI) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	return classifyOpenAIStyle(status, h, body, now)
}

// identity passes a body through unchanged.
type identity struct{}

func (identity) Translate(chunk []byte, _ bool) ([]byte, error) { return chunk, nil }
func (identity) ContentType() string                            { return "" }

type errStop struct{}

func (errStop) Error() string { return "stop" }
