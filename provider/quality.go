package provider

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tidwall/gjson"
)

// This file judges the quality of a whole answer in the client's format (a
// Chat Completions object or a Responses object), after translation, so one
// judge serves every wire format: an Anthropic stop_reason "refusal" and a
// Gemini finishReason SAFETY arrive here as finish_reason content_filter
// (Responses: status incomplete, reason content_filter), max_tokens and
// MAX_TOKENS as length (Responses: max_output_tokens).

// QualityChecks are the quality checks a chain asks for (config
// chains[].quality). The zero value checks nothing.
type QualityChecks struct {
	// Empty fails an answer with no content and no tool call (whitespace
	// is no content), unless it is a refusal.
	Empty bool
	// InvalidJSON fails an answer whose text is not a JSON object when the
	// request asked for response_format json_object (Responses:
	// text.format), or not valid against the schema it gave with
	// json_schema.
	InvalidJSON bool
	// TruncatedBelow fails an answer cut for length (finish_reason length,
	// Responses incomplete max_output_tokens) that used fewer completion
	// tokens than this share of the request's max_tokens; with no
	// max_tokens in the request, or no usage in the answer, every answer
	// cut for length. 0 turns the check off; in (0, 1].
	TruncatedBelow float64
	// Refusal fails a refusal: a message refusal (OpenAI), or a finish
	// for content_filter (Anthropic refusal, Gemini SAFETY and other
	// blocks, Azure's content filter).
	Refusal bool
}

// Any reports whether q checks anything.
func (q QualityChecks) Any() bool {
	return q.Empty || q.InvalidJSON || q.TruncatedBelow > 0 || q.Refusal
}

// QualityReason names the quality check an answer failed.
type QualityReason uint8

// The quality reasons; QualityOK is the zero value: no check failed.
const (
	QualityOK QualityReason = iota
	QualityEmpty
	QualityInvalidJSON
	QualityTruncated
	QualityRefusal
)

var qualityReasonNames = [...]string{"ok", "empty", "invalid_json", "truncated", "refusal"}

// String is the reason's name as the trace, the metrics and the audit
// events show it: ok, empty, invalid_json, truncated, refusal.
func (r QualityReason) String() string {
	if int(r) < len(qualityReasonNames) {
		return qualityReasonNames[r]
	}
	return "quality(" + strconv.Itoa(int(r)) + ")"
}

// QualityReasons lists every failing reason, in order (for declaring
// metric series and documentation tests).
func QualityReasons() []QualityReason {
	return []QualityReason{QualityEmpty, QualityInvalidJSON, QualityTruncated, QualityRefusal}
}

// QualityVerdict is what JudgeAnswer found.
type QualityVerdict struct {
	Reason QualityReason
	// Message says what was wrong, for the trace and the logs; it quotes
	// nothing of the answer but a schema error's location.
	Message string
}

// Failed reports whether a check failed.
func (v QualityVerdict) Failed() bool { return v.Reason != QualityOK }

// Classification is the attempt outcome of a failed verdict: class
// quality, the reason as its code.
func (v QualityVerdict) Classification(status int) Classification {
	return Classification{Class: ClassQuality, Status: status, Code: v.Reason.String(), Message: v.Message}
}

// answerView is what the checks read of one answer (one choice).
type answerView struct {
	text      string // the text content
	toolCalls bool
	refusal   bool
	length    bool // cut for length
}

// JudgeAnswer checks a whole answer to request req, both in API c's client
// format (Chat Completions or Responses; other APIs pass), with q. Checks
// run in order refusal, empty, truncated, invalid JSON; the first that
// fails is the verdict. An answer that is not a JSON object passes (the
// translator judged it already). A Chat Completions answer with several choices fails
// when any choice fails.
//
// JudgeAnswer compiles a json_schema on every call; a QualityJudge keeps
// compiled schemas.
func JudgeAnswer(c *ClientAPI, req, answer []byte, q QualityChecks) QualityVerdict {
	return (*QualityJudge)(nil).Judge(c, req, answer, q)
}

// QualityJudge is JudgeAnswer with a bounded cache of compiled response
// schemas: a client sends the same schema with every request, and
// compiling costs far more than validating. Safe for concurrent use; a nil
// *QualityJudge judges without a cache; the zero value works.
type QualityJudge struct {
	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

// Judge is JudgeAnswer, with j's schema cache.
func (j *QualityJudge) Judge(c *ClientAPI, req, answer []byte, q QualityChecks) QualityVerdict {
	// The translator judged the body already (a whole JSON answer); one
	// that is not a JSON object is not judged again here.
	if !q.Any() || len(bytes.TrimLeft(answer, " \t\r\n")) == 0 || bytes.TrimLeft(answer, " \t\r\n")[0] != '{' {
		return QualityVerdict{}
	}
	var views []answerView
	var used int64
	var hasUsage bool
	switch c {
	case ChatCompletions:
		views, used, hasUsage = chatViews(answer)
	case Responses:
		views, used, hasUsage = responsesViews(answer)
	default:
		return QualityVerdict{}
	}
	want := requestedOutput(c, req)
	for _, v := range views {
		if r := j.judgeView(v, want, q, used, hasUsage); r.Failed() {
			return r
		}
	}
	return QualityVerdict{}
}

// wantedOutput is what the request asked the answer to be.
type wantedOutput struct {
	json      bool
	schema    gjson.Result // json_schema's schema; absent for json_object
	maxTokens int64        // 0: none
}

func requestedOutput(c *ClientAPI, req []byte) wantedOutput {
	var w wantedOutput
	if c == Responses {
		f := gjson.GetBytes(req, "text.format")
		switch f.Get("type").String() {
		case "json_schema":
			w.json, w.schema = true, f.Get("schema")
		case "json_object":
			w.json = true
		}
		w.maxTokens = gjson.GetBytes(req, "max_output_tokens").Int()
		return w
	}
	f := gjson.GetBytes(req, "response_format")
	switch f.Get("type").String() {
	case "json_schema":
		w.json, w.schema = true, f.Get("json_schema.schema")
	case "json_object":
		w.json = true
	}
	w.maxTokens = gjson.GetBytes(req, "max_completion_tokens").Int()
	if w.maxTokens <= 0 {
		w.maxTokens = gjson.GetBytes(req, "max_tokens").Int()
	}
	return w
}

func (j *QualityJudge) judgeView(v answerView, want wantedOutput, q QualityChecks, used int64, hasUsage bool) QualityVerdict {
	if v.refusal {
		if q.Refusal {
			return QualityVerdict{QualityRefusal, "the model refused to answer"}
		}
		return QualityVerdict{} // a refusal is not judged as an empty or invalid answer
	}
	empty := !v.toolCalls && strings.TrimSpace(v.text) == ""
	if q.Empty && empty && !v.length {
		return QualityVerdict{QualityEmpty, "the answer has no content and no tool call"}
	}
	if q.TruncatedBelow > 0 && v.length {
		switch {
		case want.maxTokens <= 0:
			return QualityVerdict{QualityTruncated, "the answer was cut for length, and the request set no max_tokens"}
		case !hasUsage:
			return QualityVerdict{QualityTruncated, "the answer was cut for length and carries no usage to compare with max_tokens"}
		case float64(used) < q.TruncatedBelow*float64(want.maxTokens):
			return QualityVerdict{QualityTruncated, "the answer was cut for length after " + strconv.FormatInt(used, 10) +
				" completion tokens, below " + strconv.FormatFloat(q.TruncatedBelow, 'g', -1, 64) + " of max_tokens " + strconv.FormatInt(want.maxTokens, 10)}
		}
	}
	if q.Empty && empty {
		return QualityVerdict{QualityEmpty, "the answer has no content and no tool call"}
	}
	if q.InvalidJSON && want.json && !v.toolCalls {
		if msg := j.checkJSONText(v.text, want.schema); msg != "" {
			return QualityVerdict{QualityInvalidJSON, msg}
		}
	}
	return QualityVerdict{}
}

// checkJSONText says why text is not the JSON the request asked for, or "".
func (j *QualityJudge) checkJSONText(text string, schema gjson.Result) string {
	t := strings.TrimSpace(text)
	if !gjson.Valid(t) {
		return "the answer is not valid JSON, though the request asked for JSON"
	}
	if !schema.IsObject() && !(schema.Type == gjson.True || schema.Type == gjson.False) {
		if !strings.HasPrefix(t, "{") {
			return "the answer is not a JSON object, though the request asked for json_object"
		}
		return ""
	}
	sch, err := j.compiledSchema(schema.Raw)
	if err != nil {
		return "" // a schema that does not compile cannot judge; the provider took it
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(t))
	if err != nil {
		return "the answer is not valid JSON, though the request asked for JSON"
	}
	if err := sch.Validate(inst); err != nil {
		msg := "the answer does not match the request's JSON schema"
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			for len(ve.Causes) > 0 {
				ve = ve.Causes[0]
			}
			msg += " (at /" + truncateRunes(strings.Join(ve.InstanceLocation, "/"), 80) + ")"
		}
		return msg
	}
	return ""
}

// truncateRunes cuts s to at most n bytes on a rune boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// maxCachedSchemas bounds a QualityJudge's cache; a full cache is emptied.
const maxCachedSchemas = 256

// maxSchemaBytes is the largest schema compiled; a larger one is not
// judged (only JSON validity is).
const maxSchemaBytes = 64 << 10

// compiledSchema compiles raw (a JSON Schema from a request) with no
// network or file access: a $ref outside the schema fails to compile.
func (j *QualityJudge) compiledSchema(raw string) (*jsonschema.Schema, error) {
	if len(raw) > maxSchemaBytes {
		return nil, errSchemaTooLarge
	}
	if j != nil {
		j.mu.Lock()
		s, ok := j.schemas[raw]
		j.mu.Unlock()
		if ok {
			return s, nil
		}
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	const url = "urn:llm-failover:response-schema"
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, err
	}
	if j != nil {
		j.mu.Lock()
		if j.schemas == nil || len(j.schemas) >= maxCachedSchemas {
			j.schemas = map[string]*jsonschema.Schema{}
		}
		j.schemas[strings.Clone(raw)] = s
		j.mu.Unlock()
	}
	return s, nil
}

// noLoader refuses every external reference: a request's schema must not
// make the server fetch anything.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) { return nil, errExternalRef }

var (
	errSchemaTooLarge = &Error{Status: 400, Type: "invalid_request_error", Message: "response schema too large to judge"}
	errExternalRef    = &Error{Status: 400, Type: "invalid_request_error", Message: "response schema refers outside itself"}
)

// chatViews reads a Chat Completions answer's choices and completion tokens.
func chatViews(answer []byte) (views []answerView, used int64, hasUsage bool) {
	r := gjson.GetManyBytes(answer, "choices", "usage.completion_tokens")
	r[0].ForEach(func(_, ch gjson.Result) bool {
		m := ch.Get("message")
		v := answerView{text: contentText(m.Get("content"))}
		tc := m.Get("tool_calls")
		v.toolCalls = tc.IsArray() && len(tc.Array()) > 0 || m.Get("function_call").IsObject()
		if rf := m.Get("refusal"); rf.Type == gjson.String && rf.Str != "" {
			v.refusal = true
		}
		switch ch.Get("finish_reason").String() {
		case "content_filter":
			v.refusal = true
		case "length":
			v.length = true
		}
		views = append(views, v)
		return true
	})
	return views, r[1].Int(), r[1].Exists()
}

// responsesViews reads a Responses object as one answer: its message text,
// function calls and refusal parts, and its status.
func responsesViews(answer []byte) (views []answerView, used int64, hasUsage bool) {
	r := gjson.GetManyBytes(answer, "output", "status", "incomplete_details.reason", "usage.output_tokens")
	var v answerView
	var text bytes.Buffer
	r[0].ForEach(func(_, it gjson.Result) bool {
		switch it.Get("type").String() {
		case "message":
			it.Get("content").ForEach(func(_, p gjson.Result) bool {
				switch p.Get("type").String() {
				case "output_text":
					text.WriteString(p.Get("text").String())
				case "refusal":
					v.refusal = true
				}
				return true
			})
		case "function_call", "custom_tool_call":
			v.toolCalls = true
		}
		return true
	})
	v.text = text.String()
	if r[1].String() == "incomplete" {
		switch r[2].String() {
		case "max_output_tokens":
			v.length = true
		case "content_filter":
			v.refusal = true
		}
	}
	return []answerView{v}, r[3].Int(), r[3].Exists()
}
