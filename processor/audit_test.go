package processor

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
)

// withBus gives h's server an audit Bus (as cmd does through
// Options.Events) and returns it. Called before any stream opens.
func withBus(h *harness) *events.Bus {
	b := events.NewBus(events.Options{Clock: h.clock})
	h.srv.events = b
	return b
}

// ofKind returns the bus's recent events of kind.
func ofKind(b *events.Bus, kind events.Kind) []events.Event {
	var out []events.Event
	for _, e := range b.Recent() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// wantNoSecrets fails if any recorded event carries a key or the prompt.
func wantNoSecrets(t *testing.T, b *events.Bus, secrets ...string) {
	t.Helper()
	all, _ := json.Marshal(b.Recent())
	for _, s := range append(secrets, "sk-openai-secret", "gsk-groq-secret", "client-key") {
		if strings.Contains(string(all), s) {
			t.Errorf("events carry %q: %s", s, all)
		}
	}
}

// A failed first attempt publishes a failover from its target to the next
// one, with the class, status, redacted message and the time it cost; the
// fallback's answer publishes fallback_served.
func TestAudit_FailoverThenFallbackServed(t *testing.T) {
	h := newHarness(t, "")
	bus := withBus(h)
	dm := h.planFor(chatBody)
	s1 := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
	h.clock.Advance(1500 * time.Millisecond)
	s1.send(respHeaders(false, ":status", "503", "content-type", "application/json"))
	s1.send(respBody(`{"error":{"message":"overloaded, key sk-openai-secret","type":"server_error"}}`, true))
	s1.recv()
	s1.close()
	h.clock.Advance(time.Second)
	s2 := h.runAttempt(dm, 2, "groq", "req-1", chatBody)
	defer s2.close()
	s2.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s2.send(respBody(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"the secret answer"},"finish_reason":"stop"}]}`, true))
	s2.recv()

	fo := ofKind(bus, events.KindFailover)
	if len(fo) != 1 {
		t.Fatalf("failover events = %+v, want 1", fo)
	}
	e := fo[0]
	want := events.Event{V: 1, Seq: e.Seq, Time: e.Time, Kind: events.KindFailover, RequestID: "req-1", Chain: "premium",
		From: events.Target{Provider: "openai", Model: "gpt-4o"}, To: events.Target{Provider: "groq", Model: "llama-3.3-70b-versatile"},
		Reason: "overloaded", Status: 503, Attempt: 1, AddedLatencyMS: 1500, ConfigGen: e.ConfigGen, Detail: e.Detail}
	if e != want {
		t.Errorf("failover =\n%+v\nwant\n%+v", e, want)
	}
	if e.ConfigGen == 0 || !strings.HasPrefix(e.Detail, "overloaded: overloaded, key ") || strings.Contains(e.Detail, "sk-openai") {
		t.Errorf("config_gen %d, detail %q: want a generation and the redacted message", e.ConfigGen, e.Detail)
	}
	fs := ofKind(bus, events.KindFallbackServed)
	if len(fs) != 1 || fs[0].From.Provider != "groq" || fs[0].Attempt != 2 || fs[0].Status != 200 || fs[0].AddedLatencyMS != 2500 {
		t.Errorf("fallback_served = %+v, want one from groq, attempt 2, status 200, 2500 ms added", fs)
	}
	wantNoSecrets(t, bus, "the secret answer", `"hi"`)
}

// The last planned attempt's failure publishes exhausted (no target to go
// to); an error another target would not avoid publishes nothing.
func TestAudit_ExhaustedAndReturnedErrors(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		status  string
		want    []events.Kind
	}{
		{"last attempt fails", 2, "502", []events.Kind{events.KindExhausted}},
		{"invalid request returned", 1, "400", nil},
		{"first attempt fails", 1, "429", []events.Kind{events.KindFailover}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			bus := withBus(h)
			dm := h.planFor(chatBody)
			prov := map[int]string{1: "openai", 2: "groq"}[tc.attempt]
			s := h.runAttempt(dm, tc.attempt, prov, "req-2", chatBody)
			defer s.close()
			s.send(respHeaders(false, ":status", tc.status, "content-type", "application/json"))
			s.send(respBody(`{"error":{"message":"no","type":"x"}}`, true))
			s.recv()
			var got []events.Kind
			for _, e := range bus.Recent() {
				if e.Kind != events.KindBreakerTransition {
					got = append(got, e.Kind)
				}
			}
			if len(got) != len(tc.want) || len(got) > 0 && got[0] != tc.want[0] {
				t.Errorf("kinds = %v, want %v", got, tc.want)
			}
		})
	}
}

// A breaker opening publishes a breaker_transition that says why: the
// trigger, the failures counted, the last failure's status and class, and
// when the cooldown ends.
func TestAudit_BreakerOpensWithReason(t *testing.T) {
	h := newHarness(t, "")
	bus := withBus(h)
	for i := range 3 {
		dm := h.planFor(chatBody)
		s := h.runAttempt(dm, 1, "openai", "req-"+string(rune('a'+i)), chatBody)
		s.send(respHeaders(true, ":status", "500"))
		s.recv()
		s.close()
	}
	tr := ofKind(bus, events.KindBreakerTransition)
	if len(tr) != 1 {
		t.Fatalf("transitions = %+v, want 1", tr)
	}
	e := tr[0]
	if e.From.String() != "openai/gpt-4o" || e.BreakerFrom != "closed" || e.BreakerTo != "open" || e.Reason != "consecutive failures" ||
		e.Failures != 3 || e.Status != 500 || !strings.HasPrefix(e.Detail, "server_error") || !e.CooldownUntil.Equal(h.clock.Now().Add(30*time.Second)) {
		t.Errorf("transition = %+v; want openai/gpt-4o closed->open, consecutive failures, 3 failures, 500, server_error, cooldown +30s", e)
	}
	sn := h.srv.Registry().Lookup("openai/gpt-4o").Snapshot(h.clock.Now())
	if sn.Opened.Failures != 3 || sn.Opened.Last.Status != 500 {
		t.Errorf("snapshot opening = %+v, want 3 failures, last status 500", sn.Opened)
	}
}

// A request refused because every target is open (routing.all_open:
// reject) publishes a
// policy_denial naming each target's state and why it opened; a probe
// planned after the cooldown publishes a probe event.
func TestAudit_AllTargetsOpenAndProbe(t *testing.T) {
	h := newHarness(t, "routing: {all_open: reject}\n")
	bus := withBus(h)
	h.trip("openai/gpt-4o", "groq/llama-3.3-70b-versatile")
	d := h.decide(who{}, chatBody)
	if d.status != 503 {
		t.Fatalf("status = %d, want 503", d.status)
	}
	den := ofKind(bus, events.KindPolicyDenial)
	if len(den) != 1 || den[0].Reason != "all_targets_open" || den[0].Chain != "premium" || den[0].Status != 503 ||
		den[0].Detail != "openai/gpt-4o open (consecutive failures, 3); groq/llama-3.3-70b-versatile open (consecutive failures, 3)" {
		t.Errorf("denials = %+v, want one all_targets_open on premium listing both open targets", den)
	}
	h.clock.Advance(31 * time.Second)
	h.planFor(chatBody)
	pr := ofKind(bus, events.KindProbe)
	if len(pr) == 0 || pr[0].From.String() != "openai/gpt-4o" || pr[0].Reason != "probe" || pr[0].Attempt != 1 {
		t.Errorf("probes = %+v, want openai/gpt-4o probed first", pr)
	}
}

// A client refused by the clients policy publishes a policy_denial with
// the client's name and the refusal, never its key.
func TestAudit_ClientRefusal(t *testing.T) {
	h := newHarnessYAML(t, testConfigWithout()+clientsYAML)
	bus := withBus(h)
	key := []string{"authorization", "Bearer sk-team-a"}
	if d := h.decide(who{headers: key, source: "10.1.2.3:1"}, `{"model":"cheap","messages":[]}`); d.status != 403 {
		t.Fatalf("status = %d, want 403", d.status)
	}
	den := ofKind(bus, events.KindPolicyDenial)
	if len(den) != 1 || den[0].Client != "team-a" || den[0].Reason != "chain_not_allowed" || den[0].Chain != "cheap" || den[0].Status != 403 {
		t.Errorf("denials = %+v, want team-a chain_not_allowed on cheap, 403", den)
	}
	wantNoSecrets(t, bus, "sk-team-a")
}

// AuditReload publishes config_reload: loaded with the configuration's
// generation, or rejected with the first line of the error.
func TestAudit_Reload(t *testing.T) {
	h := newHarness(t, "")
	bus := withBus(h)
	cfg := h.srv.state.Load().cfg
	h.srv.AuditReload("/etc/llm-failover.yaml", cfg, nil)
	h.srv.AuditReload("/etc/llm-failover.yaml", nil, errors.Join(&config.FieldError{Path: "chains", Reason: "at least one"}, errors.New("second")))
	got := ofKind(bus, events.KindConfigReload)
	if len(got) != 2 {
		t.Fatalf("config_reload events = %+v, want 2", got)
	}
	if got[0].Reason != "loaded" || got[0].ConfigGen != generationOf(cfg) || got[0].Detail != "/etc/llm-failover.yaml: 2 providers, 1 chains" {
		t.Errorf("loaded = %+v", got[0])
	}
	if got[1].Reason != "rejected" || got[1].Detail != "/etc/llm-failover.yaml: chains: at least one" {
		t.Errorf("rejected = %+v", got[1])
	}
}

// An attempt that ends at its per-try timeout without an answer (Envoy
// retries it) publishes a failover with reason timeout, no status, and the
// per-try timeout as the time it cost.
func TestAudit_PerTryTimeoutIsAFailover(t *testing.T) {
	h := newHarness(t, "")
	bus := withBus(h)
	dm, route := h.planOpen(chatBody)
	defer route.close()
	s := h.runAttempt(dm, 1, "openai", "req-3", chatBody)
	per := h.srv.state.Load().cfg.Envoy.PerTryTimeout.D()
	h.clock.Advance(per)
	h.endAttempt(s)
	fo := ofKind(bus, events.KindFailover)
	if len(fo) != 1 || fo[0].Reason != "timeout" || fo[0].Status != 0 || fo[0].AddedLatencyMS != per.Milliseconds() ||
		fo[0].To.Provider != "groq" || !strings.Contains(fo[0].Detail, "per-try timeout") {
		t.Errorf("failovers = %+v, want one timeout to groq costing %v", fo, per)
	}
}

// An attempt that ends without response headers and that Envoy retries (a
// reset) publishes a failover once the evidence comes, in either order:
// the next attempt arriving before or after the first's end is seen.
func TestAudit_ResetThenRetryIsAFailover(t *testing.T) {
	tests := []struct {
		name  string
		after func(h *harness, dm *structpb.Struct, s *stream)
	}{
		{"end seen, then the next attempt", func(h *harness, dm *structpb.Struct, s *stream) {
			h.endAttempt(s)
			h.runAttempt(dm, 2, "groq", "req-r", chatBody).close()
		}},
		{"next attempt, then the end seen", func(h *harness, dm *structpb.Struct, s *stream) {
			s2 := h.runAttempt(dm, 2, "groq", "req-r", chatBody)
			h.endAttempt(s)
			s2.close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			bus := withBus(h)
			dm, route := h.planOpen(chatBody, "x-request-id", "req-r")
			defer route.close()
			s := h.runAttempt(dm, 1, "openai", "req-r", chatBody)
			tc.after(h, dm, s)
			fo := ofKind(bus, events.KindFailover)
			if len(fo) != 1 || fo[0].From.Provider != "openai" || fo[0].To.Provider != "groq" || fo[0].Attempt != 1 ||
				fo[0].Reason != "timeout" || fo[0].RequestID != "req-r" || fo[0].Chain != "premium" || !strings.Contains(fo[0].Detail, "Envoy retried") {
				t.Errorf("failovers = %+v, want one from openai (attempt 1) to groq, timeout, Envoy retried", fo)
			}
		})
	}
}

// A request no target can serve (it needs vision; the only target has
// tools) publishes a policy_denial unsupported_capability; a malformed
// request (not JSON) publishes nothing.
func TestAudit_IncapableIsADenialMalformedIsNot(t *testing.T) {
	h := newHarnessYAML(t, `
providers: [{name: p, api: openai, host: p.example}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m, supports: [tools]}]}]
`)
	bus := withBus(h)
	for _, body := range []string{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]}`, `not json`} {
		if d := h.decide(who{}, body); d.status != 400 {
			t.Fatalf("status = %d, want 400", d.status)
		}
	}
	got := bus.Recent()
	if len(got) != 1 || got[0].Kind != events.KindPolicyDenial || got[0].Reason != "unsupported_capability" || got[0].Chain != "c" || got[0].Status != 400 {
		t.Errorf("events = %+v, want one policy_denial unsupported_capability on c", got)
	}
}
