package processor

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/config"
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
	attrs := req.GetAttributes()[attrNamespace].GetFields()
	r.client.caller.Source = attrs[AttrSourceAddress].GetStringValue()
	r.client.caller.URISAN = attrs[AttrURISAN].GetStringValue()
	if j := r.st.cfg.Clients.JWT; j != nil {
		payload := req.GetMetadataContext().GetFilterMetadata()[JWTNamespace].GetFields()[j.PayloadKey].GetStructValue()
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
	e := apiError{Type: errorTypeFor(status)}
	var extra *mutation
	switch reason {
	case access.InvalidKey:
		e.Code, e.Message = "invalid_api_key", "the API key is not valid"
	case access.UnknownDenied:
		e.Code, e.Message = "permission_denied", "this caller is not a known client of this gateway"
	case access.SourceDenied:
		e.Code, e.Message = "permission_denied", fmt.Sprintf("client %q may not call from this address", c.Name)
	case access.ChainHeaderDenied:
		e.Code, e.Message = "permission_denied", fmt.Sprintf("client %q may not pick a chain with the %s header", c.Name, HeaderChain)
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
	counter(&r.s.metrics.rejected, e.Code).Add(1)
	r.logger().Info("client refused", "by", r.client.id.By, "reason", reason.String(), "status", status, "chain", chain)
	return one(immediate(status, errorBody(e), e.Code, extra))
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
	n := gjson.GetBytes(answer, "usage.completion_tokens").Int()
	a.s.limiter.Charge(a.st.access, a.plan.Client, n, a.s.clock.Now())
}

// ClientUsage returns the requests and tokens counted for the client called
// name (access.Unknown for unknown callers) in the windows that hold now.
func (s *Server) ClientUsage(name string) (requests, tokens int64) {
	return s.limiter.Used(s.state.Load().access, name, s.clock.Now())
}

// maxUsageLine bounds the partial stream line the usage meter keeps between
// chunks: a usage chunk is small, longer lines (content) are skipped.
const maxUsageLine = 64 << 10

// usageMeter finds the completion tokens of a streamed answer in the
// client-bound event stream: the "usage" of its data lines (OpenAI's usage
// chunk, sent when the client asked for stream_options.include_usage;
// translated streams carry it in the same form). A stream without one is
// counted by what it streamed (estimate): the client chooses whether to
// ask for the usage chunk, and leaving it out must not leave an answer
// uncounted.
type usageMeter struct {
	line   []byte // the current line's start, from earlier chunks
	skip   bool   // the current line outgrew maxUsageLine
	tokens int64
	seen   bool  // a usage chunk gave tokens
	text   int64 // bytes of streamed content, reasoning and tool arguments
	long   int64 // bytes of lines too long to read
}

// completionTokens is the usage chunk's count, else the estimate: the
// streamed text's bytes / 4 (as the route phase estimates a prompt), lines
// too long to read counted whole.
func (u *usageMeter) completionTokens() int64 {
	if u.seen {
		return u.tokens
	}
	return (u.text + u.long + 3) / 4
}

// feed scans b for complete lines.
func (u *usageMeter) feed(b []byte) {
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

func (u *usageMeter) scan(line []byte) {
	data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
	if !ok {
		return
	}
	data = bytes.TrimSpace(data)
	if bytes.Contains(data, []byte(`"usage"`)) {
		if n := gjson.GetBytes(data, "usage.completion_tokens"); n.Exists() {
			u.seen = true
			u.tokens = max(u.tokens, n.Int())
		}
	}
	gjson.GetBytes(data, "choices").ForEach(func(_, c gjson.Result) bool {
		d := c.Get("delta")
		u.text += int64(len(d.Get("content").String()) + len(d.Get("reasoning_content").String()))
		d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			u.text += int64(len(tc.Get("function.arguments").String()))
			return true
		})
		return true
	})
}

// meterStream follows the usage of a streamed answer's chunk b as the
// client gets it (resp may replace it) and, at the stream's end, charges
// its completion tokens to the plan's client.
func (a *attemptStream) meterStream(b *extprocv3.HttpBody, resp *extprocv3.ProcessingResponse) {
	if a.plan.Client == "" || !a.plan.Stream || !a.st.access.Active() {
		return
	}
	out := b.GetBody()
	if bm := resp.GetResponseBody().GetResponse().GetBodyMutation(); bm != nil {
		out = bm.GetBody()
	}
	a.usage.feed(out)
	if b.GetEndOfStream() {
		a.usage.feed([]byte("\n")) // a last line without its newline
		a.s.limiter.Charge(a.st.access, a.plan.Client, a.usage.completionTokens(), a.s.clock.Now())
	}
}
