package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// gemini is the Gemini API format:
// https://ai.google.dev/api/generate-content and
// https://ai.google.dev/gemini-api/docs/troubleshooting (errors, which
// follow https://cloud.google.com/apis/design/errors).
type gemini struct{}

var _ api = gemini{}

// gmPart is a text part or a function call part.
type gmPart struct {
	Text         *string         `json:"text,omitempty"`
	FunctionCall *gmFunctionCall `json:"functionCall,omitempty"`
}

type gmFunctionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type gmContent struct {
	Parts []gmPart `json:"parts"`
	Role  string   `json:"role"`
}

type gmCandidate struct {
	Content      gmContent `json:"content"`
	FinishReason string    `json:"finishReason,omitempty"`
	Index        int       `json:"index"`
}

type gmUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	CandidatesTokenCount    int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

type gmResponse struct {
	Candidates    []gmCandidate `json:"candidates"`
	UsageMetadata gmUsage       `json:"usageMetadata"`
	ModelVersion  string        `json:"modelVersion"`
	ResponseID    string        `json:"responseId"`
}

// part is text, or the answer's function call with text as its
// arguments.
func (gemini) part(a *answer, text string) gmPart {
	if a.tool != "" {
		return gmPart{FunctionCall: &gmFunctionCall{Name: a.tool, Args: json.RawMessage(text)}}
	}
	return gmPart{Text: &text}
}

func (g gemini) response(a *answer, text, finish string, completion int) []byte {
	return mustJSON(gmResponse{
		Candidates: []gmCandidate{{
			Content:      gmContent{Parts: []gmPart{g.part(a, text)}, Role: "model"},
			FinishReason: finish,
		}},
		UsageMetadata: gmUsage{
			PromptTokenCount:        a.promptTokens,
			CachedContentTokenCount: a.cachedTokens,
			CandidatesTokenCount:    completion,
			TotalTokenCount:         a.promptTokens + completion,
		},
		ModelVersion: a.model,
		ResponseID:   a.id,
	})
}

func (g gemini) body(a *answer) []byte {
	return g.response(a, a.text(), "STOP", a.completionTokens)
}

// events is one GenerateContentResponse per delta; the last carries
// finishReason STOP and the full usage, the others the prompt count only.
func (g gemini) events(a *answer) []event {
	if a.tool != "" { // Gemini streams a function call whole, in one response
		return []event{{data: g.response(a, a.text(), "STOP", a.completionTokens)}}
	}
	evs := make([]event, len(a.deltas))
	for i, d := range a.deltas {
		if i == len(a.deltas)-1 {
			evs[i] = event{data: g.response(a, d, "STOP", a.completionTokens)}
			continue
		}
		evs[i] = event{data: g.response(a, d, "", 0)}
	}
	return evs
}

var gmStatus = map[int]string{
	400: "INVALID_ARGUMENT",
	401: "UNAUTHENTICATED",
	403: "PERMISSION_DENIED",
	404: "NOT_FOUND",
	409: "ABORTED",
	429: "RESOURCE_EXHAUSTED",
	499: "CANCELLED",
	500: "INTERNAL",
	501: "NOT_IMPLEMENTED",
	503: "UNAVAILABLE",
	504: "DEADLINE_EXCEEDED",
}

var gmMessage = map[int]string{
	400: "Request contains an invalid argument.",
	401: "Request had invalid authentication credentials.",
	403: "The caller does not have permission.",
	404: "Requested entity was not found.",
	429: "Resource has been exhausted (e.g. check quota).",
	500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
	503: "The model is overloaded. Please try again later.",
	504: "Deadline expired before operation could complete.",
}

type gmError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

func (gemini) errorBody(e apiError) []byte {
	ge := gmError{Code: e.status, Status: gmStatus[e.status], Message: gmMessage[e.status]}
	if ge.Status == "" {
		ge.Status = "UNKNOWN"
		if e.status >= 500 {
			ge.Status = "UNAVAILABLE"
		}
	}
	if ge.Message == "" {
		ge.Message = fmt.Sprintf("Request failed with status %d.", e.status)
	}
	switch e.code {
	case "context_length_exceeded":
		ge.Message = fmt.Sprintf("The input token count (%d) exceeds the maximum number of tokens allowed (1048576).", e.promptTokens)
	case "insufficient_quota":
		ge.Message = "You exceeded your current quota, please check your plan and billing details."
	case "invalid_api_key":
		ge.Message = "API key not valid. Please pass a valid API key."
	}
	if e.echoKey {
		ge.Message = "API key not valid: " + e.key + ". Please pass a valid API key."
	}
	if e.status == 429 && e.retryDelay != "" {
		ge.Details = []map[string]any{{
			"@type":      "type.googleapis.com/google.rpc.RetryInfo",
			"retryDelay": e.retryDelay,
		}}
	}
	return mustJSON(map[string]gmError{"error": ge})
}

func (gemini) errorEvent(*answer) event {
	return event{data: []byte(`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`)}
}

// startEvents is one event with an empty text part and no finishReason.
func (g gemini) startEvents(a *answer) []event {
	return []event{{data: g.response(a, "", "", 0)}}
}

func (gemini) terminalEvents(*answer) int { return 1 } // the finishReason event

func (gemini) overloadStatus() int { return http.StatusServiceUnavailable }

func (gemini) setHeaders(http.Header, *answer) {}
