package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
)

// affinityHeader is the response header that says what conversation
// affinity did; sessionHeader names a conversation (affinity.header's default).
const (
	affinityHeader = "x-llm-failover-affinity"
	sessionHeader  = "x-llm-failover-session"
)

// withAffinity turns affinity on for the suite's chain, with a 10-minute
// ttl and room for two conversations.
func withAffinity(cfg string) string {
	match := "    match: {models: [" + chainModel + "]}\n"
	return strings.Replace(cfg, match, match+"    affinity: true\n", 1) + "affinity: {ttl: 10m, max_conversations: 2}\n"
}

// TestAffinity_ConversationStaysOnItsTarget verifies conversation affinity
// through the front door: a conversation stays on the target that answered
// it while that target is healthy, stays on its new target after a
// failover instead of flapping back, moves when its target's breaker opens,
// is forgotten after the ttl and beyond the bound; the header, the metric
// and the audit trail say so.
func TestAffinity_ConversationStaysOnItsTarget(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: withAffinity})
		step := func(what, session, wantProvider, wantAffinity string) {
			t.Helper()
			r := s.chat(option.WithHeader(sessionHeader, session))
			if r.err != nil {
				t.Fatalf("%s: request failed: %v\n%s", what, r.err, r.errBody)
			}
			if got, aff := r.header("x-llm-failover-provider"), r.header(affinityHeader); got != wantProvider || aff != wantAffinity {
				t.Fatalf("%s: answered by %q with affinity %q, want %q and %q (trace %q)", what, got, aff, wantProvider, wantAffinity,
					r.header("x-llm-failover-trace"))
			}
		}
		failPrimaryOnce := func() { s.setFaults("primary", fakellm.Fault{Status: 500}) }

		step("a new conversation", "conv-a", "primary", "miss")
		failPrimaryOnce()
		step("its primary fails: the secondary answers", "conv-a", "secondary", "moved")
		step("the primary is healthy again, the conversation stays", "conv-a", "secondary", "hit")
		if n := s.fakes["primary"].Count(); n != 2 {
			t.Errorf("primary received %d requests, want 2 (the conversation must not flap back)", n)
		}
		step("another conversation starts on the primary", "conv-b", "primary", "miss")
		if r := s.chatStream(option.WithHeader(sessionHeader, "conv-a")); r.err != nil ||
			r.resp.Header.Get("x-llm-failover-provider") != "secondary" || r.resp.Header.Get(affinityHeader) != "hit" {
			t.Fatalf("a streamed turn of conv-a: err %v, answered by %q with affinity %q, want secondary and hit", r.err,
				r.resp.Header.Get("x-llm-failover-provider"), r.resp.Header.Get(affinityHeader))
		}

		sec := s.proc.Registry().Lookup("secondary/" + targetModel("secondary"))
		sec.Trip(s.clock.Now(), time.Minute, "e2e")
		step("its target's breaker is open: it moves", "conv-a", "primary", "moved")
		sec.Reset(s.clock.Now(), "e2e")
		step("its old target recovered: it stays on the new one", "conv-a", "primary", "hit")

		failPrimaryOnce()
		step("a conversation that started on the secondary", "conv-d", "secondary", "miss")
		step("stays there", "conv-d", "secondary", "hit")
		s.clock.Advance(10 * time.Minute)
		step("after the ttl it is forgotten", "conv-d", "primary", "miss")

		failPrimaryOnce()
		step("conv-e starts on the secondary", "conv-e", "secondary", "miss")
		step("conv-f", "conv-f", "primary", "miss")
		step("conv-g: conv-e is now the least recently used of three", "conv-g", "primary", "miss")
		step("conv-e was forgotten beyond max_conversations 2", "conv-e", "primary", "miss")

		for _, want := range []string{"miss", "hit"} {
			// No session header: the opening messages name the conversation.
			if r := s.chat(); r.err != nil || r.header(affinityHeader) != want {
				t.Fatalf("a request without a session: err %v, affinity %q, want %q", r.err, r.header(affinityHeader), want)
			}
		}

		var b strings.Builder
		if err := s.proc.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{
			`llm_failover_affinity_requests_total{chain="main",outcome="hit"} 5`,
			`llm_failover_affinity_requests_total{chain="main",outcome="moved"} 2`,
		} {
			if !strings.Contains(b.String(), w) {
				t.Errorf("metrics: got no %s", w)
			}
		}
		var moved []events.Event
		for _, e := range s.auditLines() {
			if e.Kind == events.KindAffinityMoved {
				moved = append(moved, e)
			}
		}
		want := []struct{ from, to, reason string }{{"primary", "secondary", "failed_over"}, {"secondary", "primary", "not_admitted"}}
		if len(moved) != len(want) {
			t.Fatalf("affinity_moved events = %+v, want %d", moved, len(want))
		}
		for i, w := range want {
			e := moved[i]
			if e.From.Provider != w.from || e.To.Provider != w.to || e.Reason != w.reason || e.Chain != "main" || len(e.Conversation) != 8 {
				t.Errorf("affinity_moved %d = %+v, want from %s to %s, reason %s, chain main, an 8-character conversation", i, e, w.from, w.to, w.reason)
			}
		}
		if moved[0].Conversation != moved[1].Conversation {
			t.Errorf("the two moves of conv-a name conversations %q and %q, want the same", moved[0].Conversation, moved[1].Conversation)
		}
	})
}
