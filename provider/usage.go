package provider

import (
	"bytes"
	"strings"

	"github.com/tidwall/gjson"
)

// CompletionTokens is usage.completion_tokens of a whole answer in the
// client's format, or a Responses answer's usage.output_tokens (0 without
// either).
func CompletionTokens(answer []byte) int64 {
	r := gjson.GetManyBytes(answer, "usage.completion_tokens", "usage.output_tokens")
	if r[0].Exists() {
		return r[0].Int()
	}
	return r[1].Int()
}

// Usage is the token usage an answer in the client's (OpenAI) format
// reported, and the model it names.
type Usage struct {
	Prompt, Completion int64
	// Reported is set when the answer carried a usage object; without one
	// the counts are 0, not estimates.
	Reported bool
	Model    string
}

// AnswerUsage is the usage and model of a whole answer in the client's format.
// A Responses answer's usage (input_tokens, output_tokens) counts the same.
func AnswerUsage(answer []byte) Usage {
	r := gjson.GetManyBytes(answer, "usage.prompt_tokens", "usage.completion_tokens", "model",
		"usage.input_tokens", "usage.output_tokens")
	if !r[0].Exists() && !r[1].Exists() && (r[3].Exists() || r[4].Exists()) {
		return Usage{Prompt: r[3].Int(), Completion: r[4].Int(), Reported: true, Model: r[2].String()}
	}
	return Usage{Prompt: r[0].Int(), Completion: r[1].Int(), Reported: r[0].Exists() || r[1].Exists(), Model: r[2].String()}
}

// maxUsageLine bounds the partial stream line the usage meter keeps between
// chunks: a usage chunk is small, longer lines (content) are skipped.
const maxUsageLine = 64 << 10

// UsageMeter finds the completion tokens of a streamed answer in the
// client-bound event stream: the "usage" of its data lines (OpenAI's usage
// chunk, sent when the client asked for stream_options.include_usage;
// translated streams carry it in the same form). A stream without one is
// counted by what it streamed (estimate): the client chooses whether to
// ask for the usage chunk, and leaving it out must not leave an answer
// uncounted.
type UsageMeter struct {
	line   []byte // the current line's start, from earlier chunks
	skip   bool   // the current line outgrew maxUsageLine
	tokens int64
	prompt int64  // the usage chunk's prompt_tokens
	model  string // the first chunk's model
	seen   bool   // a usage chunk gave tokens
	text   int64  // bytes of streamed content, reasoning and tool arguments
	long   int64  // bytes of lines too long to read
}

// CompletionTokens is the usage chunk's count, else the estimate: the
// streamed text's bytes / 4 (as the route phase estimates a prompt), lines
// too long to read counted whole.
func (u *UsageMeter) CompletionTokens() int64 {
	if u.seen {
		return u.tokens
	}
	return (u.text + u.long + 3) / 4
}

// Usage is what the stream's usage chunk reported (Reported unset without
// one: no estimate) and the model its chunks name.
func (u *UsageMeter) Usage() Usage {
	if !u.seen {
		return Usage{Model: u.model}
	}
	return Usage{Prompt: u.prompt, Completion: u.tokens, Reported: true, Model: u.model}
}

// Feed scans b for complete lines.
func (u *UsageMeter) Feed(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if !u.skip && len(u.line)+len(b) <= maxUsageLine {
				u.line = append(u.line, b...)
			} else {
				u.long += int64(len(u.line) + len(b))
				u.line, u.skip = u.line[:0], true
			}
			return
		}
		line := b[:i]
		if len(u.line) > 0 {
			line = append(u.line, line...)
		}
		if !u.skip && len(line) <= maxUsageLine {
			u.scan(line)
		} else {
			u.long += int64(len(line))
		}
		u.line, u.skip = u.line[:0], false
		b = b[i+1:]
	}
}

func (u *UsageMeter) scan(line []byte) {
	data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
	if !ok {
		return
	}
	data = bytes.TrimSpace(data)
	responses := bytes.HasPrefix(data, []byte(`{"type":"response.`))
	// One pass over the top-level members, read in place (nothing kept
	// points into line) without decoding the values not needed, finding
	// what gjson paths would: the first "choices" and "model", and
	// usage.completion_tokens and usage.prompt_tokens each in the first
	// "usage" that has it. A key written with escapes is not a usage key
	// (as the plain scan for it).
	var usage usageFields
	hasUsage := bytes.Contains(data, []byte(`"usage"`))
	var seenModel, seenChoices bool
	eachMember(str(data), func(k, raw string) {
		switch k {
		case "usage":
			if hasUsage {
				usage.read(raw)
			}
		case "model":
			if !seenModel && !responses && u.model == "" {
				u.model = strings.Clone(gjson.Parse(raw).String())
			}
			seenModel = true
		case "choices":
			if !seenChoices && !responses {
				u.readChoices(raw)
			}
			seenChoices = true
		}
	})
	if usage.seenCompletion {
		u.seen = true
		u.tokens = max(u.tokens, usage.completion.Int())
		u.prompt = max(u.prompt, usage.prompt.Int())
	}
	if responses {
		u.scanResponses(data)
	}
}

// usageFields are a chat chunk's usage counts, each the first found.
type usageFields struct {
	completion, prompt         gjson.Result
	seenCompletion, seenPrompt bool
}

// read reads one usage object.
func (f *usageFields) read(usage string) {
	eachMember(usage, func(k, raw string) {
		switch {
		case k == "completion_tokens" && !f.seenCompletion:
			f.completion, f.seenCompletion = gjson.Parse(raw), true
		case k == "prompt_tokens" && !f.seenPrompt:
			f.prompt, f.seenPrompt = gjson.Parse(raw), true
		}
	})
}

// readChoices counts the streamed text of a chat chunk's choices: each
// delta's content, reasoning_content and tool call arguments.
func (u *UsageMeter) readChoices(choices string) {
	eachValue(choices, func(c string) {
		seenDelta := false
		eachMember(c, func(k, d string) {
			if k != "delta" || seenDelta {
				return
			}
			seenDelta = true // the first delta only
			var seenContent, seenReasoning, seenTools bool
			eachMember(d, func(k, v string) {
				switch {
				case k == "content" && !seenContent:
					seenContent = true
					u.text += int64(textLen(v))
				case k == "reasoning_content" && !seenReasoning:
					seenReasoning = true
					u.text += int64(textLen(v))
				case k == "tool_calls" && !seenTools:
					seenTools = true
					eachValue(v, func(tc string) {
						u.text += int64(len(gjson.Get(tc, "function.arguments").String()))
					})
				}
			})
		})
	})
}

// textLen is the length of the value raw as gjson's String gives it: a
// string's text (unescaped only when it has escapes), "" for null, else
// its source.
func textLen(raw string) int {
	if raw[0] == '"' && strings.IndexByte(raw, '\\') < 0 {
		return len(raw) - 2
	}
	return len(gjson.Parse(raw).String())
}

// scanResponses reads one Responses stream event (data starting
// {"type":"response.): the usage and model of response.completed /
// response.incomplete, the model of response.created, the text of deltas.
func (u *UsageMeter) scanResponses(data []byte) {
	r := gjson.GetManyBytes(data, "type", "delta", "response.model", "response.usage.input_tokens", "response.usage.output_tokens")
	if u.model == "" {
		u.model = r[2].String()
	}
	if r[4].Exists() {
		u.seen = true
		u.tokens = max(u.tokens, r[4].Int())
		u.prompt = max(u.prompt, r[3].Int())
	}
	if strings.HasSuffix(r[0].Str, ".delta") && r[1].Type == gjson.String {
		u.text += int64(len(r[1].Str))
	}
}
