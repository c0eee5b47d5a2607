package processor

import (
	"fmt"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
)

// This file keeps a stateful Responses request (previous_response_id,
// store: true; provider.Inspection.Stateful) on the provider holding its
// state: the chain's first OpenAI or Azure OpenAI target's provider
// (provider.StateHolder). No other provider can read a stored response,
// so failing over to one would answer without the conversation, or store
// nothing the client could continue.

// pinState leaves in p only the steps of the provider holding a stateful
// request's state, giving back the probe slots of the others, or answers
// the request: 400 when ch has no such target, 503 when that
// provider has no step left (its breakers are open).
func (r *routeStream) pinState(ch *config.Chain, p routing.Plan, in provider.Inspection, now time.Time) (routing.Plan, []*extprocv3.ProcessingResponse) {
	if in.Stateful == "" {
		return p, nil
	}
	apis := make([]config.API, len(ch.Targets))
	for i, t := range ch.Targets {
		if pc := r.st.cfg.Provider(t.Provider); pc != nil {
			apis[i] = pc.API
		}
	}
	h := provider.StateHolder(apis)
	if h < 0 {
		for _, s := range p.Steps {
			s.Release(now)
		}
		e := provider.ErrStateful(in.Stateful, fmt.Sprintf("chain %q has no OpenAI or Azure OpenAI target to hold it; send store: false without previous_response_id, or use a chain with one", ch.Name))
		r.auditDenial(400, "stateful", ch.Name)
		return p, r.rejectWith(400, "stateful", e.Object())
	}
	holder := ch.Targets[h].Provider
	kept := p.Steps[:0]
	for _, s := range p.Steps {
		if s.Provider == holder {
			kept = append(kept, s)
		} else {
			s.Release(now)
		}
	}
	p.Steps = kept
	if len(p.Steps) == 0 {
		r.auditDenial(503, "stateful", ch.Name)
		return p, r.reject(503, "server_error", "state_provider_unavailable",
			fmt.Sprintf("the request's %q needs provider %q, which holds its state, and every target of chain %q on it is unavailable (circuit open); retry later",
				in.Stateful, holder, ch.Name))
	}
	return p, nil
}
