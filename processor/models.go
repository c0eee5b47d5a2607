package processor

import (
	"encoding/json"
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/config"
)

// serveModels answers GET .../models with what the caller may ask for, in
// OpenAI's list shape (https://platform.openai.com/docs/api-reference/models/list):
// every chain's match.models value, then the default chain's name (with
// default_chain set, any model reaches that chain, its name too). With a
// clients policy, only the chains and models the identified client may use
// (identifyCaller already refused a caller that may not call at all). Each
// entry is {"id", "object": "model", "created": 0, "owned_by":
// "llm-failover", "chain": <chain name>}.
func (r *routeStream) serveModels(method string) []*extprocv3.ProcessingResponse {
	if method != "" && method != "GET" {
		return r.reject(405, "invalid_request_error", "method_not_allowed",
			fmt.Sprintf("the model list takes GET, not %s", method))
	}
	r.step = routeDone
	// Envoy sets content-length from the body (sendLocalReply); a 200 is a
	// valid ImmediateResponse status (mutation_utils.cc isValidHttpStatus).
	return one(immediate(200, appendModelList(nil, r.st.cfg, r.mayUse), "models", nil))
}

// mayUse reports whether the caller may send model to chain ch: always
// without a clients policy.
func (r *routeStream) mayUse(ch *config.Chain, model string) bool {
	if !r.st.access.Active() || r.client.id.Client == nil {
		return true
	}
	return r.client.id.Client.Authorize(access.Route{Chain: ch.Name, Model: model}) == access.Allowed
}

// appendModelList appends the model list of cfg to b, each model once,
// keeping those allowed reports usable.
func appendModelList(b []byte, cfg *config.Config, allowed func(*config.Chain, string) bool) []byte {
	b = append(b, `{"object":"list","data":[`...)
	seen := map[string]bool{}
	add := func(ch *config.Chain, id string) {
		if seen[id] || !allowed(ch, id) {
			return
		}
		if len(seen) > 0 {
			b = append(b, ',')
		}
		seen[id] = true
		b = append(b, `{"id":`...)
		b = appendJSONString(b, id)
		b = append(b, `,"object":"model","created":0,"owned_by":"llm-failover","chain":`...)
		b = appendJSONString(b, ch.Name)
		b = append(b, '}')
	}
	for i := range cfg.Chains {
		ch := &cfg.Chains[i]
		for _, m := range ch.Match.Models {
			add(ch, m)
		}
	}
	if ch := cfg.Chain(cfg.DefaultChain); cfg.DefaultChain != "" && ch != nil {
		add(ch, ch.Name)
	}
	return append(b, "]}\n"...)
}

// appendJSONString appends s as a JSON string (config names may hold any
// character; Validate refuses control characters, JSON escapes the rest).
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
