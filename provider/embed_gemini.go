package provider

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// geminiEmbed is Gemini's batchEmbedContents
// (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents):
// one EmbedContentRequest per input text, outputDimensionality from the
// client's "dimensions"; the answer's embeddings[i].values become OpenAI's
// data[i].embedding (as float32 base64 when the client asked
// "encoding_format": "base64"). Gemini takes text only: token-id inputs
// are refused by Check, so the route phase leaves the target out.
type geminiEmbed struct{}

var _ Adapter = geminiEmbed{}

func (geminiEmbed) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	root := gjson.ParseBytes(req.Body)
	inputs, err := geminiEmbedInputs(root)
	if err != nil {
		return nil, err
	}
	model := strings.TrimPrefix(req.Model, "models/")
	b := make([]byte, 0, len(req.Body)+64*len(inputs))
	b = append(b, `{"requests":[`...)
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"model":`...)
		b = appendString(b, "models/"+model)
		b = append(b, `,"content":{"parts":[{"text":`...)
		b = appendString(b, in.text)
		b = append(b, `}]}`...)
		if d := root.Get("dimensions"); d.Type == gjson.Number {
			b = append(b, `,"outputDimensionality":`...)
			b = strconv.AppendInt(b, d.Int(), 10)
		}
		b = append(b, '}')
	}
	b = append(b, `]}`...)
	p := &Prepared{Path: ep.BasePath + "/models/" + url.PathEscape(model) + ":batchEmbedContents", Body: b}
	if ep.AuthValue != "" {
		p.Headers = append(p.Headers, Header{Key: ep.AuthHeader, Value: ep.AuthValue})
	}
	return p, nil
}

// Check refuses what Prepare refuses, without building the body.
func (geminiEmbed) Check(_ *Endpoint, req Request) error {
	_, err := geminiEmbedInputs(gjson.ParseBytes(req.Body))
	if err != nil {
		return err
	}
	return nil
}

// geminiEmbedInputs are the request's inputs, or the refusal of a request
// Gemini cannot take (token ids).
func geminiEmbedInputs(root gjson.Result) ([]embeddingInput, *Error) {
	if !root.IsObject() {
		return nil, badRequest("", "request body is not a JSON object")
	}
	inputs, err := embeddingInputs(root.Get("input"))
	if err != nil {
		return nil, err
	}
	for _, in := range inputs {
		if in.tokens {
			return nil, badRequest("input", "Gemini embedding targets take text input only, not token ids")
		}
	}
	return inputs, nil
}

func (geminiEmbed) NewResponseTranslator(_ *Endpoint, req Request, _ Env) ResponseTranslator {
	root := gjson.ParseBytes(req.Body)
	n := 1
	if in := root.Get("input"); in.IsArray() {
		n = len(in.Array())
	}
	return &geminiEmbedAnswer{model: req.Model, inputs: n, base64: root.Get("encoding_format").Str == "base64"}
}

// JudgeEvent: an embeddings answer is never streamed.
func (geminiEmbed) JudgeEvent(ev Event) Verdict { return gemini{}.JudgeEvent(ev) }

func (geminiEmbed) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	return gemini{}.Classify(status, h, body, now)
}

// geminiEmbedAnswer turns a batchEmbedContents answer into an OpenAI
// embedding list. Gemini reports no token counts for embeddings: usage is 0.
type geminiEmbedAnswer struct {
	model  string
	inputs int
	base64 bool
	buf    []byte
	raw    []byte // one vector's float32s, reused for each (base64)
}

func (t *geminiEmbedAnswer) ContentType() string { return "application/json" }

func (t *geminiEmbedAnswer) Translate(chunk []byte, eos bool) ([]byte, error) {
	whole := chunk
	if !eos || t.buf != nil {
		t.buf = append(t.buf, chunk...)
		if !eos {
			return nil, nil
		}
		whole = t.buf
	} // else the whole answer in one piece (the processor holds answers until whole): read in place
	if !gjson.ValidBytes(whole) {
		return nil, errBadUpstream("the answer is not valid JSON")
	}
	embs := gjson.Get(str(whole), "embeddings") // read only here: no copy of the answer
	if !embs.IsArray() {
		return nil, errBadUpstream("the answer is not a batchEmbedContents answer (no embeddings array)")
	}
	items := embs.Array()
	if len(items) != t.inputs {
		return nil, errBadUpstream("the answer has " + itoa(len(items)) + " embeddings for " + itoa(t.inputs) + " inputs")
	}
	b := make([]byte, 0, len(whole)+64*len(items))
	b = append(b, `{"object":"list","data":[`...)
	for i, e := range items {
		vals := e.Get("values")
		if !vals.IsArray() {
			return nil, errBadUpstream("embedding " + itoa(i) + " has no values array")
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		var err error
		if b, err = t.appendVector(b, vals, i); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, t.model)
	b = append(b, `,"usage":{"prompt_tokens":0,"total_tokens":0}}`...)
	return b, nil
}

// appendVector appends one embedding: the values as a JSON array of
// numbers, or OpenAI's base64 form (little-endian float32s).
func (t *geminiEmbedAnswer) appendVector(b []byte, vals gjson.Result, i int) ([]byte, error) {
	raw := t.raw[:0]
	if !t.base64 {
		b = append(b, '[')
	}
	n := 0
	var bad bool
	vals.ForEach(func(_, v gjson.Result) bool {
		if v.Type != gjson.Number {
			bad = true
			return false
		}
		if t.base64 {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v.Num)))
		} else {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, v.Raw...)
		}
		n++
		return true
	})
	if bad {
		return nil, errBadUpstream("embedding " + itoa(i) + " has a value that is not a number")
	}
	if t.base64 {
		t.raw = raw
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"'), nil
	}
	return append(b, ']'), nil
}
