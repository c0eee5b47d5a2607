package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// openAI is the chat completions format:
// https://platform.openai.com/docs/api-reference/chat/create and
// https://platform.openai.com/docs/api-reference/chat-streaming.
type openAI struct{}

var _ api = openAI{}

type oaUsage struct {
	PromptTokens        int            `json:"prompt_tokens"`
	CompletionTokens    int            `json:"completion_tokens"`
	TotalTokens         int            `json:"total_tokens"`
	PromptTokensDetails map[string]int `json:"prompt_tokens_details,omitempty"`
}

type oaMessage struct {
	Role      string       `json:"role"`
	Content   *string      `json:"content"`
	Refusal   *string      `json:"refusal"`
	ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
}

// oaToolCall is a tool call of a message, or a piece of one in a stream
// delta (Index set, and ID, Type and Name only in the first piece).
type oaToolCall struct {
	Index    *int       `json:"index,omitempty"`
	ID       string     `json:"id,omitempty"`
	Type     string     `json:"type,omitempty"`
	Function oaFunction `json:"function"`
}

type oaFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type oaChoice struct {
	Index        int       `json:"index"`
	Message      oaMessage `json:"message"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason string    `json:"finish_reason"`
}

type oaCompletion struct {
	ID                string     `json:"id"`
	Object            string     `json:"object"`
	Created           int64      `json:"created"`
	Model             string     `json:"model"`
	Choices           []oaChoice `json:"choices"`
	Usage             oaUsage    `json:"usage"`
	SystemFingerprint string     `json:"system_fingerprint"`
}

type oaDelta struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
}

type oaChunkChoice struct {
	Index        int       `json:"index"`
	Delta        oaDelta   `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type oaChunk struct {
	ID                string          `json:"id"`
	Object            string          `json:"object"`
	Created           int64           `json:"created"`
	Model             string          `json:"model"`
	SystemFingerprint string          `json:"system_fingerprint"`
	Choices           []oaChunkChoice `json:"choices"`
	// Usage is null on every chunk but the last when include_usage is set,
	// and absent otherwise.
	Usage *oaUsage `json:"usage,omitempty"`
}

func (openAI) usage(a *answer) oaUsage {
	u := oaUsage{PromptTokens: a.promptTokens, CompletionTokens: a.completionTokens, TotalTokens: a.promptTokens + a.completionTokens}
	if a.cachedTokens > 0 {
		u.PromptTokensDetails = map[string]int{"cached_tokens": a.cachedTokens}
	}
	return u
}

func (o openAI) body(a *answer) []byte {
	text, finish := a.text(), "stop"
	msg := oaMessage{Role: "assistant", Content: &text}
	if a.tool != "" {
		msg.Content, finish = nil, "tool_calls"
		msg.ToolCalls = []oaToolCall{{ID: toolCallID("call", a), Type: "function", Function: oaFunction{Name: a.tool, Arguments: text}}}
	}
	return mustJSON(oaCompletion{
		ID:      "chatcmpl-" + a.id,
		Object:  "chat.completion",
		Created: a.created.Unix(),
		Model:   a.model,
		Choices: []oaChoice{{
			Message:      msg,
			FinishReason: finish,
		}},
		Usage:             o.usage(a),
		SystemFingerprint: "fp_fakellm",
	})
}

func (o openAI) events(a *answer) []event {
	chunk := func(c oaChunkChoice) event {
		ch := oaChunk{
			ID: "chatcmpl-" + a.id, Object: "chat.completion.chunk", Created: a.created.Unix(),
			Model: a.model, SystemFingerprint: "fp_fakellm", Choices: []oaChunkChoice{c},
		}
		b := mustJSON(ch)
		if a.includeUsage {
			// Every chunk but the usage chunk carries "usage":null.
			b = append(b[:len(b)-1], `,"usage":null}`...)
		}
		return event{data: b}
	}
	empty, stop := "", "stop"
	evs := []event{chunk(oaChunkChoice{Delta: oaDelta{Role: "assistant", Content: &empty}})}
	if a.tool != "" {
		stop = "tool_calls"
		zero := 0
		evs[0] = chunk(oaChunkChoice{Delta: oaDelta{Role: "assistant", ToolCalls: []oaToolCall{{
			Index: &zero, ID: toolCallID("call", a), Type: "function", Function: oaFunction{Name: a.tool}}}}})
	}
	for _, d := range a.deltas {
		d := d
		if a.tool != "" {
			zero := 0
			evs = append(evs, chunk(oaChunkChoice{Delta: oaDelta{ToolCalls: []oaToolCall{{Index: &zero, Function: oaFunction{Arguments: d}}}}}))
			continue
		}
		evs = append(evs, chunk(oaChunkChoice{Delta: oaDelta{Content: &d}}))
	}
	evs = append(evs, chunk(oaChunkChoice{FinishReason: &stop}))
	if a.includeUsage {
		u := o.usage(a)
		evs = append(evs, event{data: mustJSON(oaChunk{
			ID: "chatcmpl-" + a.id, Object: "chat.completion.chunk", Created: a.created.Unix(),
			Model: a.model, SystemFingerprint: "fp_fakellm", Choices: []oaChunkChoice{}, Usage: &u,
		})})
	}
	return append(evs, event{data: []byte("[DONE]")})
}

type oaError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (openAI) errorBody(e apiError) []byte {
	oe := oaError{Type: "invalid_request_error"}
	code := e.code
	switch {
	case code == "context_length_exceeded":
		param := "messages"
		oe.Param = &param
		oe.Message = fmt.Sprintf("This model's maximum context length is 128000 tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", e.promptTokens)
	case code == "insufficient_quota":
		oe.Type = "insufficient_quota"
		oe.Message = "You exceeded your current quota, please check your plan and billing details."
	case e.status == 401:
		if code == "" {
			code = "invalid_api_key"
		}
		oe.Message = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
	case e.status == 403:
		oe.Message = "You are not allowed to access this resource."
	case e.status == 404:
		if code == "" {
			code = "model_not_found"
		}
		oe.Message = "The model does not exist or you do not have access to it."
	case e.status == 429:
		oe.Type = "requests"
		if code == "" {
			code = "rate_limit_exceeded"
		}
		oe.Message = "Rate limit reached for requests. Please try again later."
	case e.status == 500:
		oe.Type = "server_error"
		oe.Message = "The server had an error while processing your request. Sorry about that!"
	case e.status >= 500:
		oe.Type = "server_error"
		oe.Message = "The server is overloaded or not ready yet."
	default:
		oe.Message = fmt.Sprintf("Request failed with status %d.", e.status)
	}
	if e.echoKey {
		oe.Message = "Incorrect API key provided: " + e.key + ". You can find your API key at https://platform.openai.com/account/api-keys."
	}
	if code != "" {
		oe.Code = &code
	}
	return mustJSON(map[string]oaError{"error": oe})
}

func (o openAI) errorEvent(*answer) event {
	code := "server_error"
	return event{data: mustJSON(map[string]oaError{"error": {
		Message: "The server is overloaded or not ready yet.", Type: "server_error", Code: &code,
	}})}
}

func (o openAI) startEvents(a *answer) []event { return o.events(a)[:1] } // the role chunk

func (openAI) terminalEvents(a *answer) int {
	if a.includeUsage {
		return 3 // finish_reason chunk, usage chunk, [DONE]
	}
	return 2
}

func (openAI) overloadStatus() int { return http.StatusServiceUnavailable }

func (openAI) setHeaders(h http.Header, a *answer) {
	h.Set("x-request-id", "req_"+a.id)
	h.Set("openai-processing-ms", "1")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fakellm: marshal %T: %v", v, err))
	}
	return b
}
