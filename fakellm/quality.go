package fakellm

import (
	"bytes"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// This file is the answers that fail a quality check, asked for like a
// fault ({"kind":"refusal"}): a 200 in the provider's normal shape, JSON or
// streamed, whose content is poor.
//
//	empty_answer  no content and no tool call (OpenAI content "", Anthropic
//	              an empty text block, Gemini an empty text part, Responses
//	              an empty output_text), finished normally
//	not_json      prose that is not JSON, whatever the request asked for
//	truncated     cut for length: OpenAI finish_reason length, Anthropic
//	              stop_reason max_tokens, Gemini finishReason MAX_TOKENS,
//	              Responses status incomplete (max_output_tokens); a JSON
//	              answer keeps its first piece of text (1 completion
//	              token), a stream ends for length before any content
//	refusal       OpenAI message.refusal (stream: a refusal delta), Anthropic
//	              stop_reason refusal with no content, Gemini finishReason
//	              SAFETY with no content, Responses a refusal content part
//	              (stream: response.refusal.delta)

// The quality answer kinds (after KindAnswer in fault.go's list).
const (
	KindEmptyAnswer Kind = KindAnswer + 1 + iota
	KindNotJSON
	KindTruncated
	KindRefusal
)

// refusalText is what a refusing model says.
const refusalText = "I'm sorry, but I can't help with that."

// notJSONText is what a model ignoring the JSON it was asked for says.
const notJSONText = `Sure! Here is the JSON you asked for: {"answer": `

// qualityKind reports whether k is a quality answer kind.
func qualityKind(k Kind) bool { return k >= KindEmptyAnswer && k <= KindRefusal }

// applyQuality makes a's content what quality kind k answers, before it is
// rendered in the provider's shape.
func applyQuality(a *answer, k Kind) {
	if !qualityKind(k) {
		return
	}
	a.tool = ""
	switch k {
	case KindEmptyAnswer, KindRefusal:
		a.deltas, a.completionTokens = nil, 0
	case KindNotJSON:
		a.deltas = pieces(notJSONText, 16)
		a.completionTokens = len(a.deltas)
	case KindTruncated:
		if a.stream {
			a.deltas, a.completionTokens = nil, 0
		} else {
			a.deltas, a.completionTokens = a.deltas[:min(1, len(a.deltas))], 1
		}
	}
}

// qualityBody rewrites a rendered JSON answer for quality kind k.
func qualityBody(a *answer, k Kind, body []byte) []byte {
	set := func(path string, v any) {
		body, _ = sjson.SetBytes(body, path, v)
	}
	raw := func(path, v string) {
		body, _ = sjson.SetRawBytes(body, path, []byte(v))
	}
	switch {
	case k == KindTruncated && a.shape == ShapeOpenAI:
		set("choices.0.finish_reason", "length")
	case k == KindRefusal && a.shape == ShapeOpenAI:
		raw("choices.0.message.content", "null")
		set("choices.0.message.refusal", refusalText)
	case k == KindTruncated && a.shape == ShapeAnthropic:
		set("stop_reason", "max_tokens")
	case k == KindRefusal && a.shape == ShapeAnthropic:
		raw("content", "[]")
		set("stop_reason", "refusal")
	case k == KindTruncated && a.shape == ShapeGemini:
		set("candidates.0.finishReason", "MAX_TOKENS")
	case k == KindRefusal && a.shape == ShapeGemini:
		body, _ = sjson.DeleteBytes(body, "candidates.0.content")
		set("candidates.0.finishReason", "SAFETY")
	case k == KindTruncated && a.shape == ShapeResponses:
		set("status", "incomplete")
		raw("incomplete_details", `{"reason":"max_output_tokens"}`)
	case k == KindRefusal && a.shape == ShapeResponses:
		raw("output.0.content", `[{"type":"refusal","refusal":`+string(mustJSON(refusalText))+`}]`)
	}
	return body
}

// qualityEvents rewrites a rendered stream for quality kind k.
func qualityEvents(a *answer, k Kind, evs []event) []event {
	switch a.shape {
	case ShapeOpenAI:
		return openAIQualityEvents(k, evs)
	case ShapeAnthropic:
		for i := range evs {
			if evs[i].name == "message_delta" {
				switch k {
				case KindTruncated:
					evs[i].data, _ = sjson.SetBytes(evs[i].data, "delta.stop_reason", "max_tokens")
				case KindRefusal:
					evs[i].data, _ = sjson.SetBytes(evs[i].data, "delta.stop_reason", "refusal")
				}
			}
		}
	case ShapeGemini:
		if len(evs) > 0 || !qualityKind(k) {
			return evs
		}
		// No content: one response that finishes (Gemini sends none empty).
		finish := map[Kind]string{KindTruncated: "MAX_TOKENS", KindRefusal: "SAFETY"}[k]
		if finish == "" {
			finish = "STOP"
		}
		ev := gemini{}.response(a, "", finish, 0)
		if k == KindRefusal {
			ev, _ = sjson.DeleteBytes(ev, "candidates.0.content")
		}
		return []event{{data: ev}}
	case ShapeResponses:
		return responsesQualityEvents(k, evs)
	}
	return evs
}

// openAIQualityEvents: truncated finishes for length; refusal says it in
// a refusal delta after the role chunk.
func openAIQualityEvents(k Kind, evs []event) []event {
	for i := range evs {
		d := evs[i].data
		if gjson.GetBytes(d, "choices.0.finish_reason").String() == "stop" && k == KindTruncated {
			evs[i].data, _ = sjson.SetBytes(d, "choices.0.finish_reason", "length")
		}
	}
	if k == KindRefusal && len(evs) > 0 {
		ref, _ := sjson.SetRawBytes(bytes.Clone(evs[0].data), "choices.0.delta", []byte(`{"refusal":`+string(mustJSON(refusalText))+`}`))
		evs = append(evs[:1], append([]event{{data: ref}}, evs[1:]...)...)
	}
	return evs
}

// responsesQualityEvents: truncated ends with response.incomplete;
// refusal streams a refusal delta instead of text and completes with a
// refusal part.
func responsesQualityEvents(k Kind, evs []event) []event {
	refusalPart := `[{"type":"refusal","refusal":` + string(mustJSON(refusalText)) + `}]`
	out := evs[:0:0]
	for _, ev := range evs {
		switch {
		case k == KindTruncated && ev.name == "response.completed":
			ev.name = "response.incomplete"
			ev.data, _ = sjson.SetBytes(ev.data, "type", "response.incomplete")
			ev.data, _ = sjson.SetBytes(ev.data, "response.status", "incomplete")
			ev.data, _ = sjson.SetRawBytes(ev.data, "response.incomplete_details", []byte(`{"reason":"max_output_tokens"}`))
		case k == KindRefusal && ev.name == "response.content_part.added":
			d, _ := sjson.SetBytes(ev.data, "type", "response.refusal.delta")
			d, _ = sjson.DeleteBytes(d, "part")
			d, _ = sjson.SetBytes(d, "delta", refusalText)
			ev = event{name: "response.refusal.delta", data: d}
		case k == KindRefusal && (ev.name == "response.output_text.done" || ev.name == "response.content_part.done"):
			continue
		case k == KindRefusal && ev.name == "response.output_item.done":
			ev.data, _ = sjson.SetRawBytes(ev.data, "item.content", []byte(refusalPart))
		case k == KindRefusal && ev.name == "response.completed":
			ev.data, _ = sjson.SetRawBytes(ev.data, "response.output.0.content", []byte(refusalPart))
		}
		out = append(out, ev)
	}
	return out
}
