package processor

import (
	"encoding/base64"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/provider"
)

// forgeConfig has a provider (mistral) that only the "cheap" chain uses, so
// a plan of chain premium can be replayed to a configured provider outside it.
const forgeConfig = `
providers:
  - {name: openai, api: openai, host: api.openai.com, auth: {key_env: TEST_OPENAI_KEY}}
  - {name: groq, api: openai-compatible, host: api.groq.com, base_path: /openai/v1, auth: {key_env: TEST_GROQ_KEY}}
  - {name: mistral, api: openai-compatible, host: api.mistral.ai, auth: {key_env: TEST_MISTRAL_KEY}}
chains:
  - name: premium
    match: {models: [premium, gpt-4o]}
    targets:
      - {provider: openai, model: gpt-4o}
      - {provider: groq, model: llama-3.3-70b-versatile}
  - name: cheap
    match: {models: [cheap]}
    targets:
      - {provider: mistral, model: mistral-small}
breaker: {consecutive_failures: 1, jitter: 0}
limits: {max_body_bytes: 4KiB}
`

func newForgeHarness(t *testing.T) *harness {
	t.Helper()
	t.Setenv("TEST_MISTRAL_KEY", "mst-mistral-secret")
	return newHarnessYAML(t, forgeConfig)
}

// metricLabels is the /metrics page with every value removed: the label sets.
func metricLabels(h *harness) string {
	return regexp.MustCompile(`(?m) [0-9.e+-]+$`).ReplaceAllString(h.metricsText(), "")
}

// TestAttempt_ForgedStreamsGetNothing verifies the attack: attempt
// streams from a caller other than Envoy, with a plan it made up, a
// genuine plan with a changed target, an expired plan, or a genuine plan
// replayed to another provider, get a 500 with no credential, change no
// breaker (even when the forger then reports a 401), add no metric label
// and are counted under a fixed reason.
func TestAttempt_ForgedStreamsGetNothing(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		forge  func(h *harness) (dm *structpb.Struct, host string)
	}{
		{"a plan it made up, unsigned", "bad_signature", func(h *harness) (*structpb.Struct, string) {
			return publishedPlan(contract.Plan{ID: "x", Chain: "premium", Targets: []contract.Target{{Provider: "openai", Model: "made-up-model", Cluster: "openai"}}}), "openai"
		}},
		{"a plan it made up, with a signature of its own", "bad_signature", func(h *harness) (*structpb.Struct, string) {
			dm := h.planFor(chatBody)
			editPlan(t, dm, func(p *contract.Plan) { p.Sig = base64.RawURLEncoding.EncodeToString(make([]byte, 32)) })
			return dm, "openai"
		}},
		{"a genuine plan with another provider", "bad_signature", func(h *harness) (*structpb.Struct, string) {
			dm := h.planFor(chatBody)
			editPlan(t, dm, func(p *contract.Plan) { p.Targets[0].Provider = "mistral" })
			return dm, "mistral"
		}},
		{"a genuine plan with another model", "bad_signature", func(h *harness) (*structpb.Struct, string) {
			dm := h.planFor(chatBody)
			editPlan(t, dm, func(p *contract.Plan) { p.Targets[0].Model = "label-bomb-1" })
			return dm, "openai"
		}},
		{"a genuine plan with a later expiry", "bad_signature", func(h *harness) (*structpb.Struct, string) {
			dm := h.planFor(chatBody)
			editPlan(t, dm, func(p *contract.Plan) { p.Exp++ })
			return dm, "openai"
		}},
		{"an expired plan", "expired", func(h *harness) (*structpb.Struct, string) {
			dm := h.planFor(chatBody)
			h.clock.Advance(h.srv.state.Load().cfg.RequestLifetime() + planClockSlack + time.Millisecond)
			return dm, "openai"
		}},
		{"a genuine plan replayed to another provider", "provider_not_in_plan", func(h *harness) (*structpb.Struct, string) {
			return h.planFor(chatBody), "mistral"
		}},
		{"no plan at all", "no_plan", func(h *harness) (*structpb.Struct, string) {
			return &structpb.Struct{}, "openai"
		}},
	}
	targets := []string{"openai/gpt-4o", "groq/llama-3.3-70b-versatile", "mistral/mistral-small"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newForgeHarness(t)
			dm, host := tc.forge(h)
			labels := metricLabels(h)
			s := h.open(contract.PhaseAttempt)
			defer s.close()
			s.send(h.attemptRequest(dm, 1, host, "forged"))
			r := s.recv()
			ir := r.GetImmediateResponse()
			if ir == nil || ir.GetStatus().GetCode() != 500 {
				t.Fatalf("got %v, want a 500 ImmediateResponse", r)
			}
			wire, _ := proto.Marshal(r)
			for _, secret := range []string{"sk-openai-secret", "gsk-groq-secret", "mst-mistral-secret"} {
				if strings.Contains(string(wire), secret) {
					t.Fatalf("the answer holds a provider key: %s", r)
				}
			}
			if hs := setHeaders(ir.GetHeaders()); len(hs) != 1 || hs["content-type"] == "" {
				t.Fatalf("answer headers: got %v, want only content-type", hs)
			}
			// The forger goes on as Envoy would with a provider's 401.
			s.send(respHeaders(false, ":status", "401", "content-type", "application/json"))
			if r := s.recv(); r.GetResponseHeaders() == nil || proto.Size(r.GetResponseHeaders().GetResponse()) != 0 {
				t.Fatalf("after the refusal: got %v, want an empty headers response", r)
			}
			for _, k := range targets {
				if got := h.state(k); got != "closed" {
					t.Errorf("breaker %s: got %s, want closed", k, got)
				}
			}
			if got := metricLabels(h); got != labels {
				t.Errorf("metric label sets changed:\n got %s\nwant %s", got, labels)
			}
			if want := `llm_failover_attempts_refused_total{reason="` + tc.reason + `"} 1`; !strings.Contains(h.metricsText(), want) {
				t.Errorf("metrics: got no %s", want)
			}
			if logs := h.logs.String(); !strings.Contains(logs, `"reason":"`+tc.reason+`"`) || strings.Contains(logs, "label-bomb") {
				t.Errorf("logs: got %s, want one refusal line with reason %s and no plan content", logs, tc.reason)
			}
		})
	}
}

// TestAttempt_SignedPlanFromAReplicaSharingTheKeyIsServed verifies replicas
// with one server.plan_key_file verify each other's plans, and replicas
// without one (random keys) do not.
func TestAttempt_SignedPlanFromAReplicaSharingTheKeyIsServed(t *testing.T) {
	keyFile := t.TempDir() + "/plan.key"
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("0123456789abcdef", 3)), 0o600); err != nil {
		t.Fatal(err)
	}
	shared := "server: {stream_first_event_timeout: 300ms, plan_key_file: " + keyFile + "}\n"
	tests := []struct {
		name  string
		extra string
		ok    bool
	}{
		{"shared key file", shared, true},
		{"random keys", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(testConfig, "server:\n  stream_first_event_timeout: 300ms\n", tc.extra, 1)
			planner, attempter := newHarnessYAML(t, y), newHarnessYAML(t, y)
			dm := planner.planFor(chatBody)
			s := attempter.open(contract.PhaseAttempt)
			defer s.close()
			s.send(attempter.attemptRequest(dm, 1, "openai", "r"))
			r := s.recv()
			if got := r.GetRequestHeaders() != nil; got != tc.ok {
				t.Fatalf("served: got %v (%v), want %v", got, r, tc.ok)
			}
		})
	}
}

// TestPlanKeys_ReloadKeepsThePreviousKey verifies a reload that changes
// plan_key_file signs with the new key and still verifies plans signed with
// the one before.
func TestPlanKeys_ReloadKeepsThePreviousKey(t *testing.T) {
	k, err := newPlanKeys()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	old := contract.Plan{ID: "a", Targets: []contract.Target{{Provider: "p", Model: "m", Cluster: "c"}}}
	k.set([]byte(strings.Repeat("1", 32)))
	k.sign(&old, now.Add(time.Minute))
	k.set([]byte(strings.Repeat("2", 32)))
	if err := k.verify(&old, now); err != nil {
		t.Fatalf("plan of the previous key: got %v, want verified", err)
	}
	k.set([]byte(strings.Repeat("3", 32)))
	if err := k.verify(&old, now); err != errPlanSignature {
		t.Fatalf("plan two keys ago: got %v, want %v", err, errPlanSignature)
	}
}

// TestPlan_EveryFieldIsSigned verifies a change to any field an attempt acts
// on breaks the signature.
func TestPlan_EveryFieldIsSigned(t *testing.T) {
	k, _ := newPlanKeys()
	k.set(k.random)
	base := contract.Plan{ID: "id", Gen: 1, Chain: "c", Stream: true, IncludeUsage: true, Extra: 1, PerTry: time.Second,
		Targets: []contract.Target{{Provider: "p", Model: "m", Cluster: "c", ContextWindow: 8}}}
	now := time.Unix(1000, 0)
	k.sign(&base, now.Add(time.Hour))
	changes := map[string]func(p *contract.Plan){
		"id": func(p *contract.Plan) { p.ID = "id2" }, "gen": func(p *contract.Plan) { p.Gen = 2 },
		"chain": func(p *contract.Plan) { p.Chain = "d" }, "stream": func(p *contract.Plan) { p.Stream = false },
		"include_usage": func(p *contract.Plan) { p.IncludeUsage = false }, "extra": func(p *contract.Plan) { p.Extra = 2 },
		"per_try_ms": func(p *contract.Plan) { p.PerTry = 2 * time.Second }, "exp": func(p *contract.Plan) { p.Exp++ },
		"provider": func(p *contract.Plan) { p.Targets[0].Provider = "q" }, "model": func(p *contract.Plan) { p.Targets[0].Model = "n" },
		"cluster":        func(p *contract.Plan) { p.Targets[0].Cluster = "d" },
		"context_window": func(p *contract.Plan) { p.Targets[0].ContextWindow = 9 },
		"a target more":  func(p *contract.Plan) { p.Targets = append(p.Targets, contract.Target{}) },
		"split strings":  func(p *contract.Plan) { p.ID, p.Chain = "idc", "" },
		"client":         func(p *contract.Plan) { p.Client = "other" },
	}
	if err := k.verify(&base, now); err != nil {
		t.Fatalf("unchanged: got %v, want verified", err)
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			p := base
			p.Targets = append([]contract.Target(nil), base.Targets...)
			change(&p)
			if err := k.verify(&p, now); err != errPlanSignature {
				t.Errorf("got %v, want %v", err, errPlanSignature)
			}
		})
	}
}

// TestCount_UnconfiguredTargetIsUnknown verifies attempt metrics label only
// configured targets.
func TestCount_UnconfiguredTargetIsUnknown(t *testing.T) {
	h := newHarness(t, "")
	h.srv.count("openai", "gpt-4o", provider.ClassSuccess)
	h.srv.count("openai", "not-configured", provider.ClassSuccess)
	h.srv.count("nobody", "gpt-4o", provider.ClassAuth)
	m := h.metricsText()
	for _, want := range []string{
		`llm_failover_attempts_total{model="gpt-4o",outcome="success",provider="openai"} 1`,
		`llm_failover_attempts_total{model="unknown",outcome="success",provider="unknown"} 1`,
		`llm_failover_attempts_total{model="unknown",outcome="auth",provider="unknown"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics: got no %s in\n%s", want, m)
		}
	}
	if strings.Contains(m, "not-configured") || strings.Contains(m, "nobody") {
		t.Errorf("metrics: got a caller's value as a label:\n%s", m)
	}
}

// FuzzPlan_VerifyNeverPanics verifies contract.DecodePlan and verify on arbitrary
// metadata never panic and never accept a plan the key did not sign.
func FuzzPlan_VerifyNeverPanics(f *testing.F) {
	f.Add([]byte(`{"id":"x","targets":[{"provider":"p"}],"sig":"AAAA","exp":1e12}`))
	f.Add([]byte(`{"targets":[],"gen":-1,"per_try_ms":1e300}`))
	k, _ := newPlanKeys()
	k.set(k.random)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s structpb.Struct
		if s.UnmarshalJSON(b) != nil {
			return
		}
		md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{contract.PlanNamespace("ns"): &s}}
		p, err := contract.DecodePlan(md, "ns")
		if err != nil {
			return
		}
		if k.verify(&p, time.Unix(0, 0)) == nil {
			t.Fatalf("verified a plan nobody signed: %+v", p)
		}
	})
}

// TestServer_PlanKeyFile verifies the plan key is read at New and on
// Reload: a short file stops New with an error that names the file and not
// its content; a reload with a new key signs new plans with it and still
// serves an attempt of a plan signed before.
func TestServer_PlanKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := dir + "/plan.key"
	write := func(v string) {
		if err := os.WriteFile(keyFile, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	y := strings.Replace(testConfig, "server:\n  stream_first_event_timeout: 300ms\n",
		"server: {stream_first_event_timeout: 300ms, plan_key_file: "+keyFile+"}\nlimits: {max_body_bytes: 4KiB}\n", 1)
	t.Setenv("TEST_OPENAI_KEY", "sk-openai-secret")
	t.Setenv("TEST_GROQ_KEY", "gsk-groq-secret")
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	write("too-short-secret")
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), keyFile) || strings.Contains(err.Error(), "too-short-secret") {
		t.Fatalf("New with a short key: got %v, want an error naming the file without its content", err)
	}

	write(strings.Repeat("a", 32))
	h := newHarnessYAML(t, y)
	before := h.planFor(chatBody)
	write(strings.Repeat("b", 32))
	if err := h.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	after := h.planFor(chatBody)
	if planOf(t, before).Sig == planOf(t, after).Sig {
		t.Fatal("the plan after the reload has the signature of the old key")
	}
	for name, dm := range map[string]*structpb.Struct{"before the reload": before, "after the reload": after} {
		s := h.open(contract.PhaseAttempt)
		s.send(h.attemptRequest(dm, 1, "openai", "r"))
		if r := s.recv(); r.GetRequestHeaders() == nil {
			t.Errorf("plan signed %s: got %v, want served", name, r)
		}
		s.close()
	}
	other := newHarnessYAML(t, y) // a replica started with the new key only
	s := other.open(contract.PhaseAttempt)
	defer s.close()
	s.send(other.attemptRequest(after, 1, "openai", "r"))
	if r := s.recv(); r.GetRequestHeaders() == nil {
		t.Errorf("a replica sharing the new key: got %v, want served", r)
	}
}
