package provider

import (
	"bytes"
	"net/http"
	"net/url"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// Embeddings is OpenAI's Embeddings API
// (https://platform.openai.com/docs/api-reference/embeddings/create),
// served by OpenAI(-compatible) and Azure OpenAI targets natively and by
// Gemini targets by translation (embed_gemini.go). Anthropic has no
// embeddings API: its targets are left out of an embeddings plan.
var Embeddings = &ClientAPI{
	Name:      "embeddings",
	Path:      "/v1/embeddings",
	Suffix:    "/embeddings",
	Kind:      config.KindEmbeddings,
	Operation: "embeddings",
	Inspect:   InspectEmbeddings,
	Adapters: map[config.API]Adapter{
		config.APIOpenAI:           openAIEmbed{},
		config.APIOpenAICompatible: openAIEmbed{},
		config.APIAzureOpenAI:      azureEmbed{},
		config.APIGemini:           geminiEmbed{},
	},
}

// InspectEmbeddings reads an embeddings request as Inspect reads a chat
// request (exactly one "model" string), and refuses with a 400 naming the
// field a body whose "input" is missing or not one of OpenAI's forms (a
// string, an array of strings, an array of token ids, an array of arrays of
// token ids; never empty), whose "encoding_format" is neither "float" nor
// "base64", or whose "dimensions" is not a positive integer. Embeddings are
// never streamed, need no capability and have no OpenAI-only fields.
func InspectEmbeddings(body []byte) (Inspection, *Error) {
	in, perr := Inspect(body)
	if perr != nil {
		return Inspection{}, perr
	}
	in = Inspection{Model: in.Model}
	if err := checkEmbeddingsBody(gjson.ParseBytes(body)); err != nil {
		return Inspection{}, err
	}
	return in, nil
}

// checkEmbeddingsBody checks the fields of an embeddings request every
// target reads.
func checkEmbeddingsBody(root gjson.Result) *Error {
	if _, err := embeddingInputs(root.Get("input")); err != nil {
		return err
	}
	switch f := root.Get("encoding_format"); {
	case !f.Exists(), f.Type == gjson.Null, f.Str == "float" && f.Type == gjson.String, f.Str == "base64" && f.Type == gjson.String:
	default:
		return badRequest("encoding_format", `"encoding_format" must be "float" or "base64"`)
	}
	if d := root.Get("dimensions"); d.Exists() && d.Type != gjson.Null {
		if d.Type != gjson.Number || d.Num < 1 || d.Num != float64(int64(d.Num)) || d.Num > 1<<20 {
			return badRequest("dimensions", `"dimensions" must be a positive integer`)
		}
	}
	return nil
}

// embeddingInput is one input of an embeddings request: a text, or token ids.
type embeddingInput struct {
	text   string
	tokens bool // token ids: only OpenAI-format targets take them
}

// embeddingInputs reads "input" as OpenAI accepts it, or refuses it.
func embeddingInputs(v gjson.Result) ([]embeddingInput, *Error) {
	bad := func(msg string) *Error { return badRequest("input", msg) }
	switch {
	case !v.Exists() || v.Type == gjson.Null:
		return nil, bad(`the request body needs an "input": a string or an array of strings or token ids`)
	case v.Type == gjson.String:
		return []embeddingInput{{text: v.Str}}, nil
	case !v.IsArray():
		return nil, bad(`"input" must be a string or an array of strings or token ids`)
	}
	items := v.Array()
	if len(items) == 0 {
		return nil, bad(`"input" must not be an empty array`)
	}
	var out []embeddingInput
	if items[0].Type == gjson.Number {
		// One input given as token ids.
		for _, t := range items {
			if !tokenID(t) {
				return nil, bad(`"input" mixes token ids with other values`)
			}
		}
		return []embeddingInput{{tokens: true}}, nil
	}
	for _, it := range items {
		switch {
		case it.Type == gjson.String:
			out = append(out, embeddingInput{text: it.Str})
		case it.IsArray() && len(it.Array()) > 0:
			for _, t := range it.Array() {
				if !tokenID(t) {
					return nil, bad(`"input" arrays of token ids must hold only non-negative integers`)
				}
			}
			out = append(out, embeddingInput{tokens: true})
		default:
			return nil, bad(`"input" must be a string or an array of strings or token ids (no empty arrays, objects or nulls)`)
		}
	}
	return out, nil
}

func tokenID(t gjson.Result) bool {
	return t.Type == gjson.Number && t.Num >= 0 && t.Num == float64(int64(t.Num))
}

// openAIEmbed is OpenAI's embeddings wire format, also spoken by
// openai-compatible providers: the request passes with the target's model.
type openAIEmbed struct{}

var _ Adapter = openAIEmbed{}

func (openAIEmbed) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	return passThrough(ep, req, ep.BasePath+"/embeddings")
}

// Check accepts every body InspectEmbeddings accepts: the client's format is this one.
func (openAIEmbed) Check(*Endpoint, Request) error { return nil }

func (openAIEmbed) NewResponseTranslator(*Endpoint, Request, Env) ResponseTranslator {
	return &checkedAnswer{check: checkEmbeddingList}
}

// JudgeEvent: an embeddings answer is never streamed; a stream's events
// are judged as chat chunks (never expected).
func (openAIEmbed) JudgeEvent(ev Event) Verdict { return judgeOpenAIEvent(ev) }

func (openAIEmbed) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	return classifyOpenAIStyle(status, h, body, now)
}

// azureEmbed is Azure OpenAI's embeddings: OpenAI's wire format on the
// deployment path .../deployments/{deployment}/embeddings?api-version=...,
// or with APIVersion "v1" on .../v1/embeddings with the model in the body
// (https://learn.microsoft.com/azure/ai-foundry/openai/reference#embeddings).
type azureEmbed struct{}

var _ Adapter = azureEmbed{}

func (azureEmbed) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	path := ep.BasePath + "/v1/embeddings"
	if ep.APIVersion != AzureV1 {
		v := ep.APIVersion
		if v == "" {
			v = config.DefaultAzureAPIVersion
		}
		path = ep.BasePath + "/deployments/" + url.PathEscape(req.Model) + "/embeddings?api-version=" + url.QueryEscape(v)
	}
	return passThrough(ep, req, path)
}

// Check accepts every body InspectEmbeddings accepts: the client's format is this one.
func (azureEmbed) Check(*Endpoint, Request) error { return nil }

func (azureEmbed) NewResponseTranslator(*Endpoint, Request, Env) ResponseTranslator {
	return &checkedAnswer{check: checkEmbeddingList}
}

func (azureEmbed) JudgeEvent(ev Event) Verdict { return azureOpenAI{}.JudgeEvent(ev) }

func (azureEmbed) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	return azureOpenAI{}.Classify(status, h, body, now)
}

// checkedAnswer passes a whole answer through unchanged once check accepts
// it, and rejects a body that is not one (HTML, invalid JSON, empty).
type checkedAnswer struct {
	check func([]byte) error
	buf   []byte
}

func (t *checkedAnswer) Translate(chunk []byte, eos bool) ([]byte, error) {
	if eos && t.buf == nil {
		return chunk, t.check(chunk)
	}
	t.buf = append(t.buf, chunk...)
	if !eos {
		return nil, nil
	}
	return t.buf, t.check(t.buf)
}

func (t *checkedAnswer) ContentType() string { return "" }

// checkEmbeddingList reports whether b is an embeddings answer: a JSON
// object with a "data" array.
func checkEmbeddingList(b []byte) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errBadUpstream("the answer's body is empty")
	}
	if !gjson.ValidBytes(b) {
		return errBadUpstream("the answer is not valid JSON")
	}
	r := gjson.Parse(str(b))
	if !r.IsObject() || !r.Get("data").IsArray() {
		return errBadUpstream("the answer is not an embedding list (no data array)")
	}
	return nil
}
