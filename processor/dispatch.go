package processor

import (
	"fmt"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file dispatches a request by its path: the route phase picks the
// client API (provider.APIForPath) or answers GET .../models itself
// (models.go); the attempt phase takes the target's adapter for the API the
// plan names.

// modelsSuffix selects the model list for a route path ("/v1/models").
const modelsSuffix = "/models"

// dispatch picks the client API of path, or answers the request: the model
// list, or an OpenAI-style error for a path no API serves or a method the
// API does not take.
func (r *routeStream) dispatch(hs map[string]string, path string) []*extprocv3.ProcessingResponse {
	method := hs[":method"]
	if strings.HasSuffix(path, modelsSuffix) {
		return r.serveModels(method)
	}
	r.api = provider.APIForPath(path)
	if r.api == nil {
		return r.reject(404, "invalid_request_error", "not_found",
			fmt.Sprintf("the path %q is routed through failover but serves no API this gateway knows (envoy.routes entries must end in one of: %s)",
				path, strings.Join(apiSuffixes(), ", ")))
	}
	if sp := r.obs.span; sp != nil && r.api.Operation != telemetry.OperationChat {
		sp.SetAttributes(telemetry.AttrOperationName.String(r.api.Operation))
	}
	if method != "" && method != "POST" {
		return r.reject(405, "invalid_request_error", "method_not_allowed",
			fmt.Sprintf("%s takes POST, not %s", path, method))
	}
	return nil
}

// apiSuffixes are the path suffixes a failover route may end in.
func apiSuffixes() []string {
	out := []string{modelsSuffix}
	for _, c := range provider.ClientAPIs() {
		out = append(out, c.Suffix)
	}
	return out
}

// checkKind refuses a request whose model (or chain header) selects a chain
// of another kind than the client API's: an embeddings request to a chat
// chain, or the reverse. The answer is OpenAI's for a model that API does
// not have: 404 model_not_found.
func (r *routeStream) checkKind(ch *config.Chain, model string) []*extprocv3.ProcessingResponse {
	if ch.Kind == r.api.Kind || ch.Kind == "" && r.api.Kind == config.KindChat {
		return nil
	}
	e := provider.ErrorObject{Type: "invalid_request_error", Code: "model_not_found", Param: ptr("model"),
		Message: fmt.Sprintf("the model %q selects chain %q, whose targets are %s models: %s requests need a chain of kind %q",
			model, ch.Name, ch.Kind, r.api.Name, r.api.Kind)}
	return r.rejectWith(404, e.Code, e)
}

// check is the target's refusal of the request (its adapter's Check for the
// request's client API), or nil; a target whose wire format has no adapter
// for the API refuses every request.
func (r *routeStream) check(ep *endpoint, req provider.Request) error {
	ad := r.api.Adapter(ep.cfg.API)
	if ad == nil {
		return &provider.Error{Status: 400, Type: "invalid_request_error", Code: "unsupported_api",
			Message: fmt.Sprintf("its API (%s) has no %s endpoint", ep.cfg.API, r.api.Name)}
	}
	return ad.Check(&ep.ep, req)
}

// dispatch takes the target's adapter for the client API the plan names.
// Either failure is a misconfiguration answered by fatal: a plan naming an
// API this replica does not know (a newer replica planned it), or a target
// whose wire format cannot serve the API (the route phase leaves such
// targets out, so Envoy chose another cluster than planned).
func (a *attemptStream) dispatch() []*extprocv3.ProcessingResponse {
	api := provider.APINamed(a.plan.API)
	if api == nil {
		return a.fatal("unknown_api", fmt.Sprintf("the plan names client API %q, which this replica does not serve (replicas behind one Envoy run different versions?)", a.plan.API))
	}
	a.api = api
	a.adapter = api.Adapter(a.ep.cfg.API)
	if a.adapter == nil {
		return a.fatal("unsupported_api", fmt.Sprintf("provider %q (%s) has no %s endpoint, and the route phase did not plan it", a.target.Provider, a.ep.cfg.API, api.Name))
	}
	return nil
}
