package provider

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/config"
)

// azureOpenAI is Azure OpenAI's chat completions: OpenAI's wire format on a
// deployment path with an api-version query and an api-key header
// (https://learn.microsoft.com/azure/ai-services/openai/reference), or, with
// APIVersion "v1", the v1 path with the model in the body
// (https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).
type azureOpenAI struct{}

var _ Adapter = azureOpenAI{}

// AzureV1 is the APIVersion value selecting Azure's v1 API path.
const AzureV1 = "v1"

func (azureOpenAI) Prepare(ep *Endpoint, req Request) (*Prepared, error) {
	path := ep.BasePath + "/v1/chat/completions"
	if ep.APIVersion != AzureV1 {
		v := ep.APIVersion
		if v == "" {
			v = config.DefaultAzureAPIVersion
		}
		path = ep.BasePath + "/deployments/" + url.PathEscape(req.Model) + "/chat/completions?api-version=" + url.QueryEscape(v)
	}
	// The deployment path ignores the body's model; keep both paths' bodies
	// naming the target model.
	return passThrough(ep, req, path)
}

// Check accepts every body Inspect accepts: the client's format is this one.
func (azureOpenAI) Check(*Endpoint, Request) error { return nil }

func (azureOpenAI) NewResponseTranslator(_ *Endpoint, req Request, _ Env) ResponseTranslator {
	return openAIAnswer(req)
}

func (azureOpenAI) JudgeEvent(ev Event) Verdict {
	v := judgeOpenAIEvent(ev)
	if v.Failure != nil {
		azureRefine(v.Failure, gjson.Result{})
	}
	return v
}

func (azureOpenAI) Classify(status int, h http.Header, body []byte, now time.Time) Classification {
	c := classifyOpenAIStyle(status, h, body, now)
	azureRefine(&c, gjson.GetBytes(body, "error.innererror"))
	return c
}

// azureRefine marks Azure's content filter answers (code content_filter,
// innererror ResponsibleAIPolicyViolation) as content policy, whatever the status.
func azureRefine(c *Classification, inner gjson.Result) {
	if c.Code == "content_filter" || inner.Get("code").String() == "ResponsibleAIPolicyViolation" ||
		strings.Contains(strings.ToLower(c.Message), "content management policy") {
		c.Class = ClassContentPolicy
	}
}
