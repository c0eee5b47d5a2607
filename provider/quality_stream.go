package provider

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// This file judges a held event stream's quality at its first content,
// before anything reaches the client (docs/quality.md, "Streams"). What is
// decidable then, in every wire format's events:
//
//   - refusal: a refusal delta (OpenAI chat delta.refusal, Responses
//     response.refusal.delta), or a finish for content_filter / refusal /
//     a block (OpenAI and Azure finish_reason content_filter, Anthropic
//     stop_reason refusal, Gemini finishReason SAFETY and the other
//     blocks or promptFeedback.blockReason, Responses response.incomplete
//     for content_filter) before any content;
//   - truncated: a finish for length (finish_reason length, stop_reason
//     max_tokens, finishReason MAX_TOKENS, response.incomplete for
//     max_output_tokens) before any content;
//   - empty: any other finish before any content (a stream that ends with
//     no event of content at all already fails over as a server error).
//
// Not decidable then, so never checked on a stream: invalid JSON (the
// whole text is needed) and a length cut after some content (the client
// has it already).

// JudgeStreamStart judges the held bytes of a 200 event stream, up to and
// including its first content event, with q. Every wire format's events
// are told apart by their own fields, so it needs no adapter.
func JudgeStreamStart(held []byte, q QualityChecks) QualityVerdict {
	if !q.Any() {
		return QualityVerdict{}
	}
	var r SSEReader
	var verdict QualityVerdict
	done := false
	_ = r.Feed(held, func(ev Event) error {
		if done {
			return nil
		}
		text, finish := streamEventStart(ev)
		switch {
		case finish == finishRefusal:
			done = true
			if q.Refusal {
				verdict = QualityVerdict{QualityRefusal, "the model refused to answer (before any content of its stream)"}
			}
		case text:
			done = true
		case finish == finishLength:
			done = true
			if q.TruncatedBelow > 0 {
				verdict = QualityVerdict{QualityTruncated, "the stream was cut for length before any content"}
			}
		case finish == finishOther:
			done = true
			if q.Empty {
				verdict = QualityVerdict{QualityEmpty, "the stream finished with no content and no tool call"}
			}
		}
		return nil
	})
	return verdict
}

// streamFinish is how an event ends the answer, if it does.
type streamFinish uint8

const (
	finishNone streamFinish = iota
	finishOther
	finishLength
	finishRefusal
)

// finishOf maps a finish / stop reason of any wire format.
func finishOf(reason string) streamFinish {
	switch reason {
	case "":
		return finishNone
	case "length", "max_tokens", "MAX_TOKENS", "max_output_tokens":
		return finishLength
	case "content_filter", "refusal", "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return finishRefusal
	}
	return finishOther
}

// streamEventStart reads one event: whether it carries content (text, a
// refusal counts as a finish for refusal, a tool call) and how it ends
// the answer.
func streamEventStart(ev Event) (text bool, finish streamFinish) {
	d := ev.Data
	if !bytes.HasPrefix(bytes.TrimSpace(d), []byte("{")) {
		return false, finishNone
	}
	root := gjson.ParseBytes(d)
	typ := root.Get("type").String()
	if typ == "" {
		typ = ev.Name
	}
	switch typ {
	// Responses (https://platform.openai.com/docs/api-reference/responses-streaming).
	case "response.refusal.delta":
		return false, finishRefusal
	case "response.output_text.delta", "response.function_call_arguments.delta":
		return root.Get("delta").String() != "", finishNone
	case "response.output_item.added":
		return root.Get("item.type").String() == "function_call", finishNone
	case "response.incomplete":
		return false, finishOf(root.Get("response.incomplete_details.reason").String())
	case "response.completed":
		return false, finishOther
	// Anthropic Messages (https://docs.anthropic.com/en/api/messages-streaming).
	case "content_block_start":
		b := root.Get("content_block")
		return b.Get("type").String() == "tool_use" || b.Get("text").String() != "", finishNone
	case "content_block_delta":
		dl := root.Get("delta")
		return dl.Get("text").String() != "" || dl.Get("type").String() == "input_json_delta", finishNone
	case "message_delta":
		return false, finishOf(root.Get("delta.stop_reason").String())
	case "message_stop":
		return false, finishOther
	}
	// OpenAI chat chunks.
	if ch := root.Get("choices"); ch.IsArray() {
		ch.ForEach(func(_, c gjson.Result) bool {
			dl := c.Get("delta")
			if rf := dl.Get("refusal"); rf.Type == gjson.String && rf.Str != "" {
				finish = finishRefusal
				return false
			}
			tc := dl.Get("tool_calls")
			if dl.Get("content").String() != "" || tc.IsArray() && len(tc.Array()) > 0 {
				text = true
			}
			if f := finishOf(c.Get("finish_reason").String()); f > finish {
				finish = f
			}
			return true
		})
		return text, finish
	}
	// Gemini GenerateContentResponse.
	if cands := root.Get("candidates"); cands.IsArray() || root.Get("promptFeedback.blockReason").Exists() {
		if root.Get("promptFeedback.blockReason").Exists() && !cands.Exists() {
			return false, finishRefusal
		}
		cands.ForEach(func(_, c gjson.Result) bool {
			c.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
				if p.Get("thought").Bool() {
					return true
				}
				if p.Get("text").String() != "" || p.Get("functionCall").Exists() {
					text = true
				}
				return true
			})
			if f := finishOf(c.Get("finishReason").String()); f > finish {
				finish = f
			}
			return true
		})
	}
	return text, finish
}
