package fakellm

import (
	"encoding/json"
	"net/http"
)

// responses is the OpenAI Responses API format:
// https://platform.openai.com/docs/api-reference/responses/create and its
// streaming events,
// https://platform.openai.com/docs/api-reference/responses-streaming. The
// answer is one output item: a message with one output_text part, or a
// function_call. Errors are OpenAI's.
type responses struct{}

var _ api = responses{}

type rsUsage struct {
	InputTokens         int            `json:"input_tokens"`
	InputTokensDetails  map[string]int `json:"input_tokens_details"`
	OutputTokens        int            `json:"output_tokens"`
	OutputTokensDetails map[string]int `json:"output_tokens_details"`
	TotalTokens         int            `json:"total_tokens"`
}

type rsPart struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

// rsItem is an output item: a message or a function_call.
type rsItem struct {
	Type      string   `json:"type"`
	ID        string   `json:"id"`
	Status    string   `json:"status"`
	Role      string   `json:"role,omitempty"`
	Content   []rsPart `json:"content,omitempty"`
	CallID    string   `json:"call_id,omitempty"`
	Name      string   `json:"name,omitempty"`
	Arguments *string  `json:"arguments,omitempty"`
}

type rsResponse struct {
	ID        string   `json:"id"`
	Object    string   `json:"object"`
	CreatedAt int64    `json:"created_at"`
	Status    string   `json:"status"`
	Model     string   `json:"model"`
	Output    []rsItem `json:"output"`
	Usage     *rsUsage `json:"usage"`
}

// item is the answer's output item, with content (text or arguments)
// so far, in status.
func (responses) item(a *answer, text, status string) rsItem {
	if a.tool != "" {
		return rsItem{Type: "function_call", ID: "fc_" + a.id, Status: status, CallID: toolCallID("call", a), Name: a.tool, Arguments: &text}
	}
	it := rsItem{Type: "message", ID: "msg_" + a.id, Status: status, Role: "assistant", Content: []rsPart{}}
	if status == "completed" {
		it.Content = []rsPart{{Type: "output_text", Text: text, Annotations: []any{}}}
	}
	return it
}

func (r responses) response(a *answer, status string) rsResponse {
	resp := rsResponse{ID: "resp_" + a.id, Object: "response", CreatedAt: a.created.Unix(), Status: status, Model: a.model, Output: []rsItem{}}
	if status == "completed" {
		resp.Output = []rsItem{r.item(a, a.text(), "completed")}
		resp.Usage = &rsUsage{
			InputTokens: a.promptTokens, InputTokensDetails: map[string]int{"cached_tokens": a.cachedTokens},
			OutputTokens: a.completionTokens, OutputTokensDetails: map[string]int{"reasoning_tokens": 0},
			TotalTokens: a.promptTokens + a.completionTokens,
		}
	}
	return resp
}

func (r responses) body(a *answer) []byte { return mustJSON(r.response(a, "completed")) }

// events are response.created, response.in_progress, the item's added
// event (and a message's content_part.added), a delta per piece, the done
// events, then response.completed; each carries its sequence_number.
func (r responses) events(a *answer) []event {
	var evs []event
	add := func(typ string, fields map[string]any) {
		fields["type"] = typ
		fields["sequence_number"] = len(evs)
		evs = append(evs, event{name: typ, data: mustJSON(fields)})
	}
	add("response.created", map[string]any{"response": r.response(a, "in_progress")})
	add("response.in_progress", map[string]any{"response": r.response(a, "in_progress")})
	done := r.item(a, a.text(), "completed")
	add("response.output_item.added", map[string]any{"output_index": 0, "item": r.item(a, "", "in_progress")})
	if a.tool != "" {
		for _, d := range a.deltas {
			add("response.function_call_arguments.delta", map[string]any{"item_id": done.ID, "output_index": 0, "delta": d})
		}
		add("response.function_call_arguments.done", map[string]any{"item_id": done.ID, "output_index": 0, "arguments": a.text()})
	} else {
		loc := func(m map[string]any) map[string]any {
			m["item_id"], m["output_index"], m["content_index"] = done.ID, 0, 0
			return m
		}
		add("response.content_part.added", loc(map[string]any{"part": rsPart{Type: "output_text", Text: "", Annotations: []any{}}}))
		for _, d := range a.deltas {
			add("response.output_text.delta", loc(map[string]any{"delta": d, "logprobs": []any{}}))
		}
		add("response.output_text.done", loc(map[string]any{"text": a.text(), "logprobs": []any{}}))
		add("response.content_part.done", loc(map[string]any{"part": done.Content[0]}))
	}
	add("response.output_item.done", map[string]any{"output_index": 0, "item": done})
	add("response.completed", map[string]any{"response": r.response(a, "completed")})
	return evs
}

func (responses) errorBody(e apiError) []byte { return openAI{}.errorBody(e) }

// errorEvent is the stream's error event.
func (responses) errorEvent(*answer) event {
	return event{name: "error", data: json.RawMessage(`{"type":"error","code":"server_error","message":"The server is overloaded or not ready yet.","param":null,"sequence_number":0}`)}
}

func (r responses) startEvents(a *answer) []event { return r.events(a)[:2] } // created, in_progress

func (responses) terminalEvents(*answer) int { return 1 } // response.completed

func (responses) overloadStatus() int { return http.StatusServiceUnavailable }

func (responses) setHeaders(h http.Header, a *answer) { openAI{}.setHeaders(h, a) }
