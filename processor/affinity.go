package processor

import (
	"fmt"
	"strconv"

	"github.com/llm-failover/llm-failover/affinity"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/routing"
)

// This file keeps conversations on the target that served them (package
// affinity, docs/design.md "Conversation affinity"). The route phase names
// the request's conversation, asks the store for its target and plans that
// target first while its breaker admits traffic (routing.Needs.Stay); when
// the answer's headers pass back through the route phase, the target that
// answered (x-llm-failover-provider and -model, which the attempt phase
// sets on every answer) is remembered. The route phase sees every answer of
// its request whichever replica served the attempts, so the store is
// written where it is read.

// HeaderAffinity is the response header that says what conversation
// affinity did for an answer on a chain with affinity on: hit, moved, miss
// or none (docs/design.md).
const HeaderAffinity = "x-llm-failover-affinity"

// The affinity outcomes, as the header, the metric and the logs name them.
const (
	affinityHit   = "hit"   // the conversation's remembered target answered
	affinityMoved = "moved" // another target answered; the conversation now stays there
	affinityMiss  = "miss"  // no target was remembered (new, expired or forgotten)
	affinityNone  = "none"  // the request names no conversation
)

// Why a conversation moved, as the affinity_moved event's reason says.
const (
	movedNotAdmitted = "not_admitted" // its target was not planned first: its breaker did not admit the request
	movedFailedOver  = "failed_over"  // its target was planned first and failed
)

// serverAffinity is the server's affinity state, kept across reloads.
type serverAffinity struct {
	store  affinity.Store
	local  *affinity.Local // the default store (or the one Options.AffinityStore wraps), resized on reload; nil with another store
	secret []byte          // the per-process secret, when no secret_file is set
}

// initAffinity makes the store (Options.AffinityStore, else a Local of
// cfg's bound on the server's clock) and the per-process secret, and
// exports the number of remembered conversations.
func (s *Server) initAffinity(opts Options) error {
	secret, err := affinity.NewSecret()
	if err != nil {
		return fmt.Errorf("processor: %w", err)
	}
	s.aff.secret = secret
	s.aff.store = opts.AffinityStore
	if w, ok := s.aff.store.(interface{ LocalStore() *affinity.Local }); ok {
		s.aff.local = w.LocalStore() // a store over a Local (the fleet's): resized and counted as ours
	}
	if s.aff.store == nil {
		s.aff.local = affinity.NewLocal(opts.Config.Affinity.MaxConversations, s.clock)
		s.aff.store = s.aff.local
	}
	if s.aff.local != nil {
		if _, err := s.tel.ObserveConversations(func() int64 { return int64(s.aff.local.Len()) }); err != nil {
			return fmt.Errorf("processor: metrics: %w", err)
		}
	}
	return nil
}

// affinityKeyer is the Keyer of cfg: its sources, under the secret of
// affinity.secret_file or the per-process one.
func (s *Server) affinityKeyer(cfg *config.Config) (*affinity.Keyer, error) {
	secret, err := cfg.Affinity.ReadSecret()
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	if secret == nil {
		secret = s.aff.secret
	}
	k, err := affinity.NewKeyer(secret, cfg.Affinity.Keys)
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	return k, nil
}

// resizeAffinity bounds the local store by cfg, once cfg is loaded.
func (s *Server) resizeAffinity(cfg *config.Config) {
	if s.aff.local != nil {
		s.aff.local.Resize(cfg.Affinity.MaxConversations)
	}
}

// routeAffinity is what the route phase knows of its request's conversation.
type routeAffinity struct {
	session    string // the session header's value
	on         bool   // the chain has affinity on
	key        affinity.Key
	remembered affinity.Target
	had        bool // a target was remembered
}

// noteSession keeps the session header of the request headers hs.
func (r *routeStream) noteSession(hs map[string]string) {
	r.aff.session = hs[r.st.cfg.Affinity.Header]
}

// stayTarget names the request's conversation on ch and returns the target
// it should stay on, or none (affinity off, no conversation, none remembered).
func (r *routeStream) stayTarget(ch *config.Chain, body []byte) routing.StayTarget {
	if !ch.Affinity || r.st.keyer == nil {
		return routing.StayTarget{}
	}
	r.aff.on = true
	r.aff.key, _ = r.st.keyer.Key(affinity.Request{Chain: ch.Name, Header: r.aff.session, Body: body})
	if r.aff.key.IsZero() {
		return routing.StayTarget{}
	}
	r.aff.remembered, r.aff.had = r.s.aff.store.Get(r.aff.key)
	return routing.StayTarget{Provider: r.aff.remembered.Provider, Model: r.aff.remembered.Model}
}

// affinityAnswered remembers the target that answered (response headers
// hs, status below 400, from an attempt), counts the outcome, publishes
// affinity_moved when the conversation moved, and returns the response
// header mutation that shows the outcome; nil when affinity is off.
func (r *routeStream) affinityAnswered(hs map[string]string) *mutation {
	if !r.aff.on || r.step != routeWantResponse || r.respStatus >= 400 || hs[contract.HeaderTrace] == "" {
		return nil
	}
	served := affinity.Target{Provider: hs[contract.HeaderProvider], Model: hs[contract.HeaderModel]}
	if !r.planned(served) {
		return nil // not an answer of this plan's targets: nothing to remember
	}
	outcome := affinityNone
	switch {
	case r.aff.key.IsZero():
	case !r.aff.had:
		outcome = affinityMiss
	case r.aff.remembered == served:
		outcome = affinityHit
	default:
		outcome = affinityMoved
		r.auditMoved(served, hs[contract.HeaderAttempt])
	}
	if !r.aff.key.IsZero() {
		r.s.aff.store.Put(r.aff.key, served, r.st.cfg.Affinity.TTL.D())
	}
	r.s.tel.CountAffinity(r.plan.Chain, outcome)
	m := &mutation{}
	m.setHeader(HeaderAffinity, outcome)
	return m
}

// planned reports whether t is a target of the request's plan.
func (r *routeStream) planned(t affinity.Target) bool {
	for _, s := range r.plan.Steps {
		if s.Provider == t.Provider && s.Model == t.Model {
			return true
		}
	}
	return false
}

// auditMoved publishes affinity_moved: the conversation's remembered target
// did not answer, served did (at attempt), and the conversation stays there.
func (r *routeStream) auditMoved(served affinity.Target, attempt string) {
	if r.s.events == nil {
		return
	}
	reason := movedNotAdmitted
	if len(r.plan.Steps) > 0 && r.plan.Steps[0].Provider == r.aff.remembered.Provider && r.plan.Steps[0].Model == r.aff.remembered.Model {
		reason = movedFailedOver
	}
	e := events.Event{Kind: events.KindAffinityMoved, Time: r.s.clock.Now(), RequestID: r.reqID, Chain: r.plan.Chain,
		From: events.Target{Provider: r.aff.remembered.Provider, Model: r.aff.remembered.Model},
		To:   events.Target{Provider: served.Provider, Model: served.Model}, Reason: reason, Conversation: r.aff.key.Short()}
	e.Attempt, _ = strconv.Atoi(attempt)
	if c := r.client.id.Client; c != nil {
		e.Client = c.Name
	}
	r.s.events.Publish(e)
}
