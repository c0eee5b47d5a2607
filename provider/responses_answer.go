package provider

import (
	"bytes"
	"strings"

	"github.com/tidwall/gjson"
)

// This file writes a translated chat answer back as a Responses answer
// (https://platform.openai.com/docs/api-reference/responses/object) and a
// translated chat stream as the Responses streaming events
// (https://platform.openai.com/docs/api-reference/responses-streaming):
// response.created, response.in_progress, then per output item
// response.output_item.added, its parts and deltas
// (response.content_part.added, response.output_text.delta,
// response.output_text.done, response.content_part.done;
// response.function_call_arguments.delta / .done;
// response.reasoning_summary_part.added,
// response.reasoning_summary_text.delta / .done,
// response.reasoning_summary_part.done) and response.output_item.done, and
// last response.completed, or response.incomplete when the answer was cut
// (max_output_tokens, content_filter). Ids: the response "resp_"+Env.ID(),
// or, without Env.ID, "resp_" and the chat answer's id (the provider's:
// Anthropic msg_..., Gemini responseId); its items "msg_", "rs_", "fc_"
// with the same id (a kind's later items, and function calls, numbered
// "_1", ...); created_at is Env.Now.
// The answer's reasoning_content becomes a reasoning item with a summary.
// A stream's error event ({"error":...}, which both official SDKs raise)
// passes unchanged and ends the stream.

// responsesEchoFields are the request fields a Responses object repeats.
var responsesEchoFields = [...]string{"instructions", "max_output_tokens", "parallel_tool_calls", "temperature",
	"text", "tool_choice", "tools", "top_p", "user", "metadata"}

// responsesEcho is the request's fields a Responses object repeats, as raw
// JSON ("" when absent).
type responsesEcho [len(responsesEchoFields)]string

func echoOf(body []byte) responsesEcho {
	var e responsesEcho
	if !gjson.ValidBytes(body) {
		return e
	}
	r := gjson.GetManyBytes(body, responsesEchoFields[:]...)
	for i, v := range r {
		if v.Exists() && v.Type != gjson.Null {
			e[i] = v.Raw
		}
	}
	return e
}

// outputItem is one item of a Responses output.
type outputItem struct {
	kind             string // message, refusal (a message with a refusal part), function_call, reasoning
	id               string
	text             strings.Builder // message text, refusal, reasoning summary, call arguments
	callID, callName string
	done             bool
}

// appendJSON writes the item; an item not done is "in_progress" and
// without its text.
func (it *outputItem) appendJSON(b []byte) []byte {
	status := "completed"
	if !it.done {
		status = "in_progress"
	}
	b = append(b, `{"id":`...)
	b = appendString(b, it.id)
	b = append(b, `,"type":`...)
	if it.kind == "refusal" {
		b = append(b, `"message"`...)
	} else {
		b = appendString(b, it.kind)
	}
	switch it.kind {
	case "message", "refusal":
		b = append(b, `,"status":`...)
		b = appendString(b, status)
		b = append(b, `,"role":"assistant","content":[`...)
		if it.done {
			b = it.appendPart(b)
		}
		b = append(b, ']')
	case "function_call":
		b = append(b, `,"status":`...)
		b = appendString(b, status)
		b = append(b, `,"arguments":`...)
		if it.done {
			b = appendString(b, it.text.String())
		} else {
			b = append(b, `""`...)
		}
		b = append(b, `,"call_id":`...)
		b = appendString(b, it.callID)
		b = append(b, `,"name":`...)
		b = appendString(b, it.callName)
	case "reasoning":
		b = append(b, `,"summary":[`...)
		if it.done {
			b = appendSummaryPart(b, it.text.String())
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendPart writes a message item's content part with its text so far.
func (it *outputItem) appendPart(b []byte) []byte {
	if it.kind == "refusal" {
		return appendRefusalPart(b, it.text.String())
	}
	return appendTextPart(b, it.text.String())
}

func appendRefusalPart(b []byte, text string) []byte {
	b = append(b, `{"type":"refusal","refusal":`...)
	b = appendString(b, text)
	return append(b, '}')
}

func appendTextPart(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = appendString(b, text)
	return append(b, '}')
}

func appendSummaryPart(b []byte, text string) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = appendString(b, text)
	return append(b, '}')
}

// responseObject is a Responses object being written.
type responseObject struct {
	id, model string
	created   int64
	echo      responsesEcho
	items     []*outputItem
	finish    string // the chat finish_reason; "" while in progress
	usage     *usage
}

// status is the object's status and incomplete reason.
func (r *responseObject) status() (string, string) {
	switch r.finish {
	case "":
		return "in_progress", ""
	case "length":
		return "incomplete", "max_output_tokens"
	case "content_filter":
		return "incomplete", "content_filter"
	}
	return "completed", ""
}

func (r *responseObject) appendJSON(b []byte) []byte {
	status, reason := r.status()
	b = append(b, `{"id":`...)
	b = appendString(b, r.id)
	b = append(b, `,"object":"response","created_at":`...)
	b = appendInt(b, r.created)
	b = append(b, `,"status":`...)
	b = appendString(b, status)
	b = append(b, `,"error":null,"incomplete_details":`...)
	if reason == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"reason":`...)
		b = appendString(b, reason)
		b = append(b, '}')
	}
	b = append(b, `,"model":`...)
	b = appendString(b, r.model)
	b = append(b, `,"output":[`...)
	for i, it := range r.items {
		if i > 0 {
			b = append(b, ',')
		}
		b = it.appendJSON(b)
	}
	b = append(b, `],"previous_response_id":null,"store":false`...)
	defaults := [len(responsesEchoFields)]string{"null", "null", "true", "null", `{"format":{"type":"text"}}`,
		`"auto"`, "[]", "null", "null", "{}"}
	for i, k := range responsesEchoFields {
		b = appendKey(b, k)
		if v := r.echo[i]; v != "" {
			b = append(b, v...)
		} else {
			b = append(b, defaults[i]...)
		}
	}
	b = append(b, `,"usage":`...)
	if r.usage == nil {
		b = append(b, "null"...)
	} else {
		b = r.usage.appendResponses(b)
	}
	return append(b, '}')
}

// appendResponses writes u in the Responses usage shape.
func (u usage) appendResponses(b []byte) []byte {
	total := u.total
	if total == 0 {
		total = u.prompt + u.completion
	}
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.prompt)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.cached)
	b = append(b, `},"output_tokens":`...)
	b = appendInt(b, u.completion)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, u.reasoning)
	b = append(b, `},"total_tokens":`...)
	b = appendInt(b, total)
	return append(b, '}')
}

// chatUsage reads an OpenAI usage object.
func chatUsage(u gjson.Result) *usage {
	if !u.IsObject() {
		return nil
	}
	return &usage{prompt: u.Get("prompt_tokens").Int(), completion: u.Get("completion_tokens").Int(),
		total: u.Get("total_tokens").Int(), cached: u.Get("prompt_tokens_details.cached_tokens").Int(),
		reasoning: u.Get("completion_tokens_details.reasoning_tokens").Int()}
}

// responsesWhole translates a whole answer: the target's translator makes
// a chat completion of it, written here as a Responses object.
type responsesWhole struct {
	inner ResponseTranslator
	model string
	echo  responsesEcho
	env   Env
}

func (t *responsesWhole) ContentType() string { return "application/json" }

func (t *responsesWhole) Translate(chunk []byte, eos bool) ([]byte, error) {
	chat, err := t.inner.Translate(chunk, eos)
	if err != nil || !eos {
		return chat, err
	}
	return responsesFromChat(chat, t.model, t.echo, t.env), nil
}

// responsesFromChat writes the chat completion chat as a Responses object.
func responsesFromChat(chat []byte, model string, echo responsesEcho, env Env) []byte {
	c := gjson.ParseBytes(chat)
	id := responsesID(env, c.Get("id").Str)
	r := responseObject{id: "resp_" + id, model: model, created: translatorNow(env), echo: echo}
	if m := c.Get("model").Str; m != "" {
		r.model = m
	}
	ch := c.Get("choices.0")
	msg := ch.Get("message")
	if rc := msg.Get("reasoning_content").String(); rc != "" {
		it := &outputItem{kind: "reasoning", id: "rs_" + id, done: true}
		it.text.WriteString(rc)
		r.items = append(r.items, it)
	}
	calls := msg.Get("tool_calls").Array()
	text := msg.Get("content").String()
	refusal := msg.Get("refusal").String()
	if text != "" || refusal == "" && len(calls) == 0 {
		it := &outputItem{kind: "message", id: "msg_" + id, done: true}
		it.text.WriteString(text)
		r.items = append(r.items, it)
	}
	if refusal != "" {
		it := &outputItem{kind: "refusal", id: "msg_" + id + "_refusal", done: true}
		it.text.WriteString(refusal)
		r.items = append(r.items, it)
	}
	for i, tc := range calls {
		it := &outputItem{kind: "function_call", id: "fc_" + id + "_" + itoa(i), callID: tc.Get("id").String(),
			callName: tc.Get("function.name").String(), done: true}
		it.text.WriteString(tc.Get("function.arguments").String())
		r.items = append(r.items, it)
	}
	r.finish = ch.Get("finish_reason").String()
	if r.finish == "" {
		r.finish = "stop"
	}
	r.usage = chatUsage(c.Get("usage"))
	return r.appendJSON(make([]byte, 0, len(chat)+512))
}

// responsesStream translates a stream: the target's translator makes chat
// chunks of it, read here (SSEReader) and written as Responses events.
type responsesStream struct {
	inner ResponseTranslator
	ep    *Endpoint
	base  string // the id the item ids share
	obj   responseObject
	r     SSEReader
	out   []byte
	seq   int64
	open  *outputItem           // the item deltas go to, nil between items
	calls map[int64]*outputItem // function calls by chat tool call index
	stage streamStage
}

func newResponsesStream(inner ResponseTranslator, ep *Endpoint, model string, echo responsesEcho, env Env) *responsesStream {
	s := &responsesStream{inner: inner, ep: ep, obj: responseObject{model: model, created: translatorNow(env), echo: echo}}
	if env.ID != nil {
		s.base = responsesID(env, "")
	}
	return s
}

// responsesID is the id a translated answer's ids share: Env.ID's, else
// the chat answer's (the provider's), else "0".
func responsesID(env Env, chatID string) string {
	if env.ID != nil {
		if id := env.ID(); id != "" {
			return id
		}
	}
	if chatID != "" {
		return chatID
	}
	return "0"
}

func (s *responsesStream) ContentType() string { return "text/event-stream" }

func (s *responsesStream) Translate(chunk []byte, eos bool) ([]byte, error) {
	if s.stage == streamDone {
		return nil, nil
	}
	chat, err := s.inner.Translate(chunk, eos)
	if err != nil {
		return nil, err
	}
	s.out = make([]byte, 0, 2*len(chat)+256)
	_ = s.r.Feed(chat, s.event)
	if eos && s.stage != streamDone {
		// the target's translator ends every stream; this is a safeguard
		s.out = appendErrorEvent(s.out, s.ep, "server_error", "stream_truncated", "the stream ended before its end")
		s.stage = streamDone
	}
	return s.out, nil
}

// emit writes one event: its name, then data {"type":name,"sequence_number":n, ...}
// with fill writing the rest of the object.
func (s *responsesStream) emit(name string, fill func(b []byte) []byte) {
	b := append(s.out, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: {\"type\":"...)
	b = appendString(b, name)
	b = append(b, `,"sequence_number":`...)
	b = appendInt(b, s.seq)
	s.seq++
	b = fill(b)
	s.out = append(b, "}\n\n"...)
}

func (s *responsesStream) emitResponse(name string) {
	s.emit(name, func(b []byte) []byte {
		b = append(b, `,"response":`...)
		return s.obj.appendJSON(b)
	})
}

// itemRef writes an event's item_id and output_index.
func (s *responsesStream) itemRef(b []byte, it *outputItem) []byte {
	b = append(b, `,"item_id":`...)
	b = appendString(b, it.id)
	b = append(b, `,"output_index":`...)
	return appendInt(b, int64(s.index(it)))
}

// count is the number of items of kind so far.
func (s *responsesStream) count(kind string) int {
	n := 0
	for _, o := range s.obj.items {
		if o.kind == kind {
			n++
		}
	}
	return n
}

func (s *responsesStream) index(it *outputItem) int {
	for i, o := range s.obj.items {
		if o == it {
			return i
		}
	}
	return -1
}

// begin writes response.created and response.in_progress, the ids taken
// from the first chunk's id chatID unless Env.ID gave them.
func (s *responsesStream) begin(chatID string) {
	if s.base == "" {
		s.base = responsesID(Env{}, chatID)
	}
	s.obj.id = "resp_" + s.base
	s.stage = streamStarted
	s.emitResponse("response.created")
	s.emitResponse("response.in_progress")
}

// event handles one chat chunk event.
func (s *responsesStream) event(ev Event) error {
	d := ev.Data
	if bytes.Equal(d, []byte("[DONE]")) {
		s.end()
		return errStop{}
	}
	// One pass over the chunk's members; d is only valid during the call,
	// so strings kept past it are cloned.
	var id, model string
	var usageR, choice, errR gjson.Result
	gjson.Parse(str(d)).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v.Str
		case "model":
			model = v.Str
		case "usage":
			usageR = v
		case "choices":
			choice = v.Get("0")
		case "error":
			errR = v
		}
		return true
	})
	if errR.Exists() {
		// the target's error event: passed on as is, ending the stream
		s.out = append(s.out, "data: "...)
		s.out = append(s.out, d...)
		s.out = append(s.out, "\n\n"...)
		s.out = append(s.out, doneEvent...)
		s.stage = streamDone
		return errStop{}
	}
	if s.stage == streamNew {
		if model != "" {
			s.obj.model = strings.Clone(model)
		}
		s.begin(strings.Clone(id))
	}
	if u := chatUsage(usageR); u != nil {
		s.obj.usage = u
	}
	if !choice.Exists() {
		return nil
	}
	var reasoning, content, refusal, calls, finish gjson.Result
	choice.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "delta":
			v.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "reasoning_content":
					reasoning = v
				case "content":
					content = v
				case "refusal":
					refusal = v
				case "tool_calls":
					calls = v
				}
				return true
			})
		case "finish_reason":
			finish = v
		}
		return true
	})
	if rc := reasoning.String(); rc != "" {
		s.reasoningDelta(rc)
	}
	if t := content.String(); t != "" {
		s.textDelta(t)
	}
	if r := refusal.String(); r != "" {
		s.refusalDelta(r)
	}
	calls.ForEach(func(_, tc gjson.Result) bool {
		s.callDelta(tc)
		return true
	})
	if finish.Type == gjson.String && finish.Str != "" {
		s.closeOpen()
		s.obj.finish = strings.Clone(finish.Str)
	}
	return nil
}

// item is the open item of kind, opening a new one with the id prefix and
// the stream's id (closing the open item of another kind) when needed; a
// function call is always new, with its call id and name, its id numbered.
func (s *responsesStream) item(kind, prefix string, call ...string) *outputItem {
	if s.open != nil && s.open.kind == kind && kind != "function_call" {
		return s.open
	}
	s.closeOpen()
	// Ids are unique: a kind's later items (reasoning and text interleaved
	// with tool calls) are numbered, function calls always.
	id := prefix + s.base
	if kind == "refusal" {
		id += "_refusal"
	}
	if n := s.count(kind); n > 0 || kind == "function_call" {
		id += "_" + itoa(n)
	}
	it := &outputItem{kind: kind, id: id}
	if len(call) == 2 {
		it.callID, it.callName = call[0], call[1]
	}
	s.obj.items = append(s.obj.items, it)
	s.open = it
	s.emit("response.output_item.added", func(b []byte) []byte {
		b = append(b, `,"output_index":`...)
		b = appendInt(b, int64(len(s.obj.items)-1))
		b = append(b, `,"item":`...)
		return it.appendJSON(b)
	})
	switch kind {
	case "message", "refusal":
		s.emit("response.content_part.added", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"content_index":0,"part":`...)
			return it.appendPart(b)
		})
	case "reasoning":
		s.emit("response.reasoning_summary_part.added", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"summary_index":0,"part":`...)
			return appendSummaryPart(b, "")
		})
	}
	return it
}

func (s *responsesStream) textDelta(t string) {
	it := s.item("message", "msg_")
	it.text.WriteString(t)
	s.emit("response.output_text.delta", func(b []byte) []byte {
		b = s.itemRef(b, it)
		b = append(b, `,"content_index":0,"delta":`...)
		b = appendString(b, t)
		return append(b, `,"logprobs":[]`...)
	})
}

func (s *responsesStream) refusalDelta(t string) {
	it := s.item("refusal", "msg_")
	it.text.WriteString(t)
	s.emit("response.refusal.delta", func(b []byte) []byte {
		b = s.itemRef(b, it)
		b = append(b, `,"content_index":0,"delta":`...)
		return appendString(b, t)
	})
}

func (s *responsesStream) reasoningDelta(t string) {
	if s.open == nil || s.open.kind != "reasoning" {
		// A later thinking block's text comes after a blank line (the
		// chat answer joins blocks so): a new item starts at its text.
		if t = strings.TrimLeft(t, "\n"); t == "" {
			return
		}
	}
	it := s.item("reasoning", "rs_")
	it.text.WriteString(t)
	s.emit("response.reasoning_summary_text.delta", func(b []byte) []byte {
		b = s.itemRef(b, it)
		b = append(b, `,"summary_index":0,"delta":`...)
		return appendString(b, t)
	})
}

func (s *responsesStream) callDelta(tc gjson.Result) {
	idx := tc.Get("index").Int()
	it := s.calls[idx]
	if it == nil {
		if s.calls == nil {
			s.calls = make(map[int64]*outputItem)
		}
		it = s.item("function_call", "fc_",
			strings.Clone(tc.Get("id").String()), strings.Clone(tc.Get("function.name").String()))
		s.calls[idx] = it
	}
	if a := tc.Get("function.arguments").String(); a != "" {
		it.text.WriteString(a)
		s.emit("response.function_call_arguments.delta", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"delta":`...)
			return appendString(b, a)
		})
	}
}

// closeOpen writes the done events of the open item.
func (s *responsesStream) closeOpen() {
	it := s.open
	if it == nil {
		return
	}
	s.open = nil
	it.done = true
	text := it.text.String()
	switch it.kind {
	case "message", "refusal":
		if it.kind == "refusal" {
			s.emit("response.refusal.done", func(b []byte) []byte {
				b = s.itemRef(b, it)
				b = append(b, `,"content_index":0,"refusal":`...)
				return appendString(b, text)
			})
		} else {
			s.emit("response.output_text.done", func(b []byte) []byte {
				b = s.itemRef(b, it)
				b = append(b, `,"content_index":0,"text":`...)
				b = appendString(b, text)
				return append(b, `,"logprobs":[]`...)
			})
		}
		s.emit("response.content_part.done", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"content_index":0,"part":`...)
			return it.appendPart(b)
		})
	case "reasoning":
		s.emit("response.reasoning_summary_text.done", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"summary_index":0,"text":`...)
			return appendString(b, text)
		})
		s.emit("response.reasoning_summary_part.done", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"summary_index":0,"part":`...)
			return appendSummaryPart(b, text)
		})
	case "function_call":
		s.emit("response.function_call_arguments.done", func(b []byte) []byte {
			b = s.itemRef(b, it)
			b = append(b, `,"arguments":`...)
			return appendString(b, text)
		})
	}
	s.emit("response.output_item.done", func(b []byte) []byte {
		b = append(b, `,"output_index":`...)
		b = appendInt(b, int64(s.index(it)))
		b = append(b, `,"item":`...)
		return it.appendJSON(b)
	})
}

// end writes the last event: response.completed, or response.incomplete
// for an answer cut short.
func (s *responsesStream) end() {
	if s.stage == streamNew {
		s.begin("")
	}
	s.closeOpen()
	if s.obj.finish == "" {
		s.obj.finish = "stop"
	}
	name := "response.completed"
	if st, _ := s.obj.status(); st == "incomplete" {
		name = "response.incomplete"
	}
	s.emitResponse(name)
	s.stage = streamDone
}
