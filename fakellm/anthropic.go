package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// anthropic is the Messages format: https://docs.anthropic.com/en/api/messages,
// https://docs.anthropic.com/en/docs/build-with-claude/streaming and
// https://docs.anthropic.com/en/api/errors.
type anthropic struct{}

var _ api = anthropic{}

type anUsage struct {
	InputTokens          int `json:"input_tokens"`
	CacheReadInputTokens int `json:"cache_read_input_tokens,omitempty"`
	OutputTokens         int `json:"output_tokens"`
}

type anText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// anBlock is a content block: text or tool_use.
type anBlock struct {
	Type  string          `json:"type"`
	Text  *string         `json:"text,omitempty"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

type anMessage struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Role         string    `json:"role"`
	Model        string    `json:"model"`
	Content      []anBlock `json:"content"`
	StopReason   *string   `json:"stop_reason"`
	StopSequence *string   `json:"stop_sequence"`
	Usage        anUsage   `json:"usage"`
}

func (anthropic) message(a *answer) anMessage {
	return anMessage{
		ID: "msg_" + a.id, Type: "message", Role: "assistant", Model: a.model,
		Content: []anBlock{},
		Usage:   anUsage{InputTokens: a.uncachedPrompt(), CacheReadInputTokens: a.cachedTokens},
	}
}

func (an anthropic) body(a *answer) []byte {
	m := an.message(a)
	stop, text := "end_turn", a.text()
	m.Content = []anBlock{{Type: "text", Text: &text}}
	if a.tool != "" {
		stop = "tool_use"
		m.Content = []anBlock{{Type: "tool_use", ID: toolCallID("toolu", a), Name: a.tool, Input: json.RawMessage(text)}}
	}
	m.StopReason = &stop
	m.Usage.OutputTokens = a.completionTokens
	return mustJSON(m)
}

func (an anthropic) events(a *answer) []event {
	m := an.message(a)
	m.Usage.OutputTokens = 1
	evs := []event{
		{"message_start", mustJSON(struct {
			Type    string    `json:"type"`
			Message anMessage `json:"message"`
		}{"message_start", m})},
		{"content_block_start", []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)},
		{"ping", []byte(`{"type":"ping"}`)},
	}
	stop := "end_turn"
	if a.tool != "" {
		stop = "tool_use"
		evs[1].data = mustJSON(struct {
			Type  string  `json:"type"`
			Index int     `json:"index"`
			Block anBlock `json:"content_block"`
		}{"content_block_start", 0, anBlock{Type: "tool_use", ID: toolCallID("toolu", a), Name: a.tool, Input: json.RawMessage(`{}`)}})
	}
	for _, d := range a.deltas {
		if a.tool != "" {
			evs = append(evs, event{"content_block_delta", mustJSON(struct {
				Type  string `json:"type"`
				Index int    `json:"index"`
				Delta any    `json:"delta"`
			}{"content_block_delta", 0, map[string]string{"type": "input_json_delta", "partial_json": d}})})
			continue
		}
		evs = append(evs, event{"content_block_delta", mustJSON(struct {
			Type  string `json:"type"`
			Index int    `json:"index"`
			Delta anText `json:"delta"`
		}{"content_block_delta", 0, anText{Type: "text_delta", Text: d}})})
	}
	return append(evs,
		event{"content_block_stop", []byte(`{"type":"content_block_stop","index":0}`)},
		event{"message_delta", []byte(fmt.Sprintf(
			`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":%d}}`,
			stop, a.completionTokens))},
		event{"message_stop", []byte(`{"type":"message_stop"}`)},
	)
}

type anError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (anthropic) errorBody(e apiError) []byte {
	var ae anError
	switch e.status {
	case 400:
		ae = anError{"invalid_request_error", "There was an issue with the format or content of your request."}
	case 401:
		ae = anError{"authentication_error", "invalid x-api-key"}
	case 402:
		ae = anError{"billing_error", "There was an issue with your billing or payment information."}
	case 403:
		ae = anError{"permission_error", "Your API key does not have permission to use the specified resource."}
	case 404:
		ae = anError{"not_found_error", "The requested resource could not be found."}
	case 413:
		ae = anError{"request_too_large", "Request exceeds the maximum allowed number of bytes."}
	case 429:
		ae = anError{"rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."}
	case 529:
		ae = anError{"overloaded_error", "Overloaded"}
	default:
		if e.status >= 500 {
			ae = anError{"api_error", "Internal server error"}
		} else {
			ae = anError{"invalid_request_error", fmt.Sprintf("Request failed with status %d.", e.status)}
		}
	}
	switch {
	case e.code == "context_length_exceeded":
		ae.Message = fmt.Sprintf("prompt is too long: %d tokens > 200000 maximum", e.promptTokens)
	case e.code == "insufficient_quota":
		ae.Message = "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."
	case strings.HasSuffix(e.code, "_error"):
		ae.Type = e.code
	}
	if e.echoKey {
		ae.Message = "invalid x-api-key: " + e.key
	}
	return mustJSON(struct {
		Type  string  `json:"type"`
		Error anError `json:"error"`
	}{"error", ae})
}

func (anthropic) errorEvent(*answer) event {
	return event{"error", []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)}
}

// startEvents are message_start and ping, as a live stream that fails
// before its first content block.
func (an anthropic) startEvents(a *answer) []event {
	evs := an.events(a)
	return []event{evs[0], evs[2]}
}

func (anthropic) terminalEvents(*answer) int { return 3 } // content_block_stop, message_delta, message_stop

func (anthropic) overloadStatus() int { return 529 }

func (anthropic) setHeaders(h http.Header, a *answer) {
	h.Set("request-id", "req_"+a.id)
}
