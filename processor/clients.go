package processor

import (
	"fmt"
	"strconv"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

// clientRoute is what the route phase knows of a request's caller.
type clientRoute struct {
	caller access.Caller
	id     access.Identity
}

// noteCaller keeps what the request headers message tells about the caller:
// the attributes and the forwarded jwt_authn metadata.
func (r *routeStream) noteCaller(req *extprocv3.ProcessingRequest) {
	if !r.st.access.Active() {
		return
	}
	attrs := req.GetAttributes()[contract.AttrNamespace].GetFields()
	r.client.caller.Source = attrs[contract.AttrSourceAddress].GetStringValue()
	r.client.caller.URISAN = attrs[contract.AttrURISAN].GetStringValue()
	if j := r.st.cfg.Clients.JWT; j != nil {
		payload := req.GetMetadataContext().GetFilterMetadata()[contract.JWTNamespace].GetFields()[j.PayloadKey].GetStructValue()
		r.client.caller.Claim = payload.GetFields()[j.Claim].GetStringValue()
	}
}

// identifyCaller tells who sends the request and refuses a caller that may
// not call at all (a wrong key, a source outside its client's, an unknown
// caller under deny) or may not pick a chain with the header it sent.
func (r *routeStream) identifyCaller(hs map[string]string) []*extprocv3.ProcessingResponse {
	if !r.st.access.Active() {
		return nil
	}
	r.client.caller.Header = func(k string) string { return hs[k] }
	id, reason := r.st.access.Identify(r.client.caller)
	r.client.id = id
	r.client.caller.Header = nil // keys are not kept past this call
	if reason == access.Allowed && r.chainHeader != "" && !id.Client.MayPickChain() {
		reason = access.ChainHeaderDenied
	}
	if reason != access.Allowed {
		return r.refuseClient(reason, 0, "")
	}
	return nil
}

// admitClient decides whether the identified client may use chain ch for
// the request's model, and counts it against its rate and token budget.
func (r *routeStream) admitClient(ch *config.Chain, model string, promptTokens int) []*extprocv3.ProcessingResponse {
	if !r.st.access.Active() {
		return nil
	}
	c := r.client.id.Client
	if reason := c.Authorize(access.Route{Chain: ch.Name, Model: model, ChainHeader: r.chainHeader != ""}); reason != access.Allowed {
		return r.refuseClient(reason, 0, ch.Name)
	}
	if d := r.s.limiter.Admit(c, int64(promptTokens), r.s.clock.Now()); d.Reason != access.Allowed {
		return r.refuseClient(d.Reason, d.RetryAfter, ch.Name)
	}
	r.logger().Info("client admitted", "by", r.client.id.By, "chain", ch.Name, "model", model)
	return nil
}

// refuseClient answers an OpenAI-style error for reason and logs it with
// the client's name (never its key).
func (r *routeStream) refuseClient(reason access.Reason, retryAfter time.Duration, chain string) []*extprocv3.ProcessingResponse {
	c := r.client.id.Client
	status := reason.Status()
	e := provider.ErrorObject{Type: provider.ErrorType(status)}
	var extra *mutation
	switch reason {
	case access.InvalidKey:
		e.Code, e.Message = "invalid_api_key", "the API key is not valid"
	case access.UnknownDenied:
		e.Code, e.Message = "permission_denied", "this caller is not a known client of this gateway"
	case access.SourceDenied:
		e.Code, e.Message = "permission_denied", fmt.Sprintf("client %q may not call from this address", c.Name)
	case access.ChainHeaderDenied:
		e.Code, e.Message = "permission_denied", fmt.Sprintf("client %q may not pick a chain with the %s header", c.Name, contract.HeaderChain)
	case access.ChainDenied:
		e.Code, e.Message = "permission_denied", fmt.Sprintf("client %q may not use chain %q", c.Name, chain)
	case access.ModelDenied:
		e.Code, e.Message = "permission_denied", fmt.Sprintf("client %q may not use this model", c.Name)
		e.Param = ptr("model")
	case access.RateExceeded, access.BudgetExceeded:
		secs := access.RetryAfterSeconds(retryAfter)
		what := "request rate"
		if reason == access.BudgetExceeded {
			what = "token budget"
		}
		e.Code, e.Message = "rate_limit_exceeded", fmt.Sprintf("client %q is over its %s; retry after %d s", c.Name, what, secs)
		extra = &mutation{}
		extra.setHeader("retry-after", strconv.FormatInt(secs, 10))
	}
	r.step = routeDone
	r.rejected(status, e.Code)
	r.auditDenial(status, reason.String(), chain)
	r.logger().Info("client refused", "by", r.client.id.By, "reason", reason.String(), "status", status, "chain", chain)
	return one(immediate(status, provider.ErrorJSON(e), e.Code, extra))
}

// admittedClient is the name of the admitted client the plan names, so the
// attempt phase charges its tokens (signed with the plan); empty without a
// clients policy.
func (r *routeStream) admittedClient() string {
	if !r.st.access.Active() || r.client.id.Client == nil {
		return ""
	}
	return r.client.id.Client.Name
}

// chargeClient charges the completion tokens of an answer (OpenAI-shaped
// JSON) to the client its plan names. Only names the configuration lists
// (or the unknown callers' entry) are charged; anything else is ignored.
func (a *attemptStream) chargeClient(answer []byte) {
	if a.plan.Client == "" || !a.st.access.Active() {
		return
	}
	a.s.limiter.Charge(a.st.access, a.plan.Client, provider.CompletionTokens(answer), a.s.clock.Now())
}

// ClientUsage returns the requests and tokens counted for the client called
// name (access.Unknown for unknown callers) in the windows that hold now.
func (s *Server) ClientUsage(name string) (requests, tokens int64) {
	return s.limiter.Used(s.state.Load().access, name, s.clock.Now())
}

// meterStream follows the usage of a streamed answer's chunk b as the
// client gets it (resp may replace it), for the token metrics (observe.go)
// and, at the stream's end, charges its completion tokens to the plan's
// client.
func (a *attemptStream) meterStream(b *extprocv3.HttpBody, resp *extprocv3.ProcessingResponse) {
	if !a.plan.Stream { // the usage is read for the metrics too (observe.go)
		return
	}
	out := b.GetBody()
	if bm := resp.GetResponseBody().GetResponse().GetBodyMutation(); bm != nil {
		out = bm.GetBody()
	}
	a.usage.Feed(out)
	if b.GetEndOfStream() {
		a.usage.Feed([]byte("\n")) // a last line without its newline
		a.costAnswer(a.usage.Usage(), a.usage.CompletionTokens())
		if a.plan.Client == "" || !a.st.access.Active() {
			return
		}
		a.s.limiter.Charge(a.st.access, a.plan.Client, a.usage.CompletionTokens(), a.s.clock.Now())
	}
}
