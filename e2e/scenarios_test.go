package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/fakellm"
)

// TestScenario1_HealthyPrimary verifies that a healthy primary answers with
// its name, model and attempt 1 in the response headers, and that it
// received its own key and model, never the client's key.
func TestScenario1_HealthyPrimary(t *testing.T) {
	s := newStack(t, stackOpts{})
	r := s.chat()
	s.mustOK(r, "primary")
	if got := r.header("x-llm-failover-model"); got != targetModel("primary") {
		t.Errorf("x-llm-failover-model = %q, want %q", got, targetModel("primary"))
	}
	if got := r.header("x-llm-failover-attempt"); got != "1" {
		t.Errorf("x-llm-failover-attempt = %q, want 1", got)
	}
	reqs := s.fakes["primary"].Requests()
	if len(reqs) != 1 {
		t.Fatalf("primary got %d requests, want 1", len(reqs))
	}
	rec := reqs[0]
	if got, want := rec.KeySHA256["authorization"], fakellm.KeyHash(providerKey("primary")); got != want {
		t.Errorf("primary key hash = %q, want its own key's %q", got, want)
	}
	for h, sum := range rec.KeySHA256 {
		if sum == fakellm.KeyHash(clientKey) {
			t.Errorf("the client's key reached the primary in %s", h)
		}
	}
	if rec.Model != targetModel("primary") {
		t.Errorf("primary received model %q, want %q", rec.Model, targetModel("primary"))
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(rec.Body), &body); err != nil || body["model"] != targetModel("primary") {
		t.Errorf("primary body %q: model want %q", rec.Body, targetModel("primary"))
	}
	if strings.Contains(rec.Body, clientKey) {
		t.Errorf("the client's key is in the provider body")
	}
	for _, n := range []string{"secondary", "tertiary"} {
		if c := s.fakes[n].Count(); c != 0 {
			t.Errorf("%s got %d requests, want 0", n, c)
		}
	}
}

// sched is a schedule of faults for the next requests.
func sched(faults ...fakellm.Fault) fakellm.Schedule { return fakellm.Schedule{Faults: faults} }

// TestScenario2_RateLimitedPrimary verifies that a 429 with Retry-After
// fails over inside the same request, opens the primary's breaker at once,
// and that nothing reaches the primary until the cooldown ends.
func TestScenario2_RateLimitedPrimary(t *testing.T) {
	s := newStack(t, stackOpts{})
	if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 429, RetryAfter: "20"})); err != nil {
		t.Fatal(err)
	}
	r := s.chat()
	s.mustOK(r, "secondary")
	if got := r.header("x-llm-failover-attempt"); got != "2" {
		t.Errorf("x-llm-failover-attempt = %q, want 2", got)
	}
	if !strings.Contains(r.header("x-llm-failover-trace"), "status=429") {
		t.Errorf("trace %q does not list the 429", r.header("x-llm-failover-trace"))
	}
	for i := 0; i < 5; i++ {
		s.mustOK(s.chat(), "secondary")
	}
	if c := s.fakes["primary"].Count(); c != 1 {
		t.Fatalf("primary got %d requests, want 1: its breaker must be open after the 429", c)
	}
	s.needLocal("the injected breaker clock to end the cooldown")
	s.clock.Advance(19 * time.Second)
	s.mustOK(s.chat(), "secondary")
	if c := s.fakes["primary"].Count(); c != 1 {
		t.Fatalf("primary got %d requests before the Retry-After ended, want 1", c)
	}
	s.clock.Advance(12 * time.Second) // past both Retry-After (20s) and open_for (30s)
	s.mustOK(s.chat(), "primary")
	if c := s.fakes["primary"].Count(); c != 2 {
		t.Errorf("primary got %d requests after the cooldown, want 2 (the probe)", c)
	}
}

// TestScenario3_ThreeStrikes verifies that 503s open the primary's breaker
// on the third consecutive failure, not before, and that a single 503
// between successes never opens it.
func TestScenario3_ThreeStrikes(t *testing.T) {
	t.Run("third consecutive 503 opens", func(t *testing.T) {
		s := newStack(t, stackOpts{})
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503, Times: -1})); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			s.mustOK(s.chat(), "secondary")
			if c := s.fakes["primary"].Count(); c != i {
				t.Fatalf("after request %d the primary got %d requests, want %d (still closed)", i, c, i)
			}
		}
		for i := 0; i < 3; i++ {
			s.mustOK(s.chat(), "secondary")
		}
		if c := s.fakes["primary"].Count(); c != 3 {
			t.Fatalf("primary got %d requests, want 3: open after the third 503", c)
		}
	})
	t.Run("single 503 between successes", func(t *testing.T) {
		s := newStack(t, stackOpts{})
		for i := 0; i < 5; i++ {
			if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503})); err != nil {
				t.Fatal(err)
			}
			s.mustOK(s.chat(), "secondary")
			s.mustOK(s.chat(), "primary")
		}
		if c := s.fakes["primary"].Count(); c != 10 {
			t.Fatalf("primary got %d requests, want 10 (never opened)", c)
		}
	})
}

// openPrimary sends requests until the primary's breaker is open (three 503s).
func openPrimary(t *testing.T, s *stack) {
	t.Helper()
	if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503, Times: 3})); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s.mustOK(s.chat(), "secondary")
	}
	before := s.fakes["primary"].Count()
	s.mustOK(s.chat(), "secondary")
	if c := s.fakes["primary"].Count(); c != before {
		t.Fatalf("primary breaker not open after three 503s (%d -> %d requests)", before, c)
	}
}

// share sends n requests and returns how many the primary answered.
func share(t *testing.T, s *stack, n int) int {
	t.Helper()
	got := 0
	for i := 0; i < n; i++ {
		r := s.chat()
		if r.err != nil {
			t.Fatalf("request failed: %v\n%s", r.err, r.errBody)
		}
		if r.header("x-llm-failover-provider") == "primary" {
			got++
		}
	}
	return got
}

// TestScenario4_Recovery verifies the half-open probe after the cooldown,
// the staged recovery of the primary's share to 100%, and a failure during
// recovery reopening it with a longer cooldown. It drives the breaker with
// the injected clock.
func TestScenario4_Recovery(t *testing.T) {
	s := newStack(t, stackOpts{})
	s.needLocal("the injected breaker clock")
	openPrimary(t, s)
	s.clock.Advance(31 * time.Second)
	s.mustOK(s.chat(), "primary") // the half-open probe, healthy
	// Stage 1: share 0.5.
	if n := share(t, s, 40); n < 8 || n > 32 {
		t.Errorf("stage 0.5: primary answered %d of 40, want about half", n)
	}
	s.clock.Advance(11 * time.Second)
	// Stage 2: share 1.0.
	if n := share(t, s, 20); n != 20 {
		t.Errorf("stage 1.0: primary answered %d of 20, want all", n)
	}

	t.Run("failure during recovery reopens longer", func(t *testing.T) {
		s := newStack(t, stackOpts{})
		openPrimary(t, s)
		s.clock.Advance(31 * time.Second)
		s.mustOK(s.chat(), "primary") // probe
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503, Times: -1})); err != nil {
			t.Fatal(err)
		}
		// During stage 0.5 the primary gets some traffic; its first failure reopens it.
		before := s.fakes["primary"].Count()
		for i := 0; i < 20 && s.fakes["primary"].Count() == before; i++ {
			s.mustOK(s.chat(), "secondary")
		}
		if s.fakes["primary"].Count() == before {
			t.Fatal("no request reached the recovering primary")
		}
		s.fakes["primary"].ClearFaults()
		reopened := s.fakes["primary"].Count()
		for i := 0; i < 5; i++ {
			s.mustOK(s.chat(), "secondary")
		}
		s.clock.Advance(31 * time.Second) // the first cooldown would have ended
		for i := 0; i < 5; i++ {
			s.mustOK(s.chat(), "secondary")
		}
		if c := s.fakes["primary"].Count(); c != reopened {
			t.Fatalf("primary got %d requests after 31s, want %d: the cooldown must be longer than the first", c, reopened)
		}
		s.clock.Advance(10 * time.Minute)
		s.mustOK(s.chat(), "primary")
	})
}

// TestScenario5_AllFailing verifies that when every provider fails the
// client gets one well-formed OpenAI-style error listing the attempts, promptly.
func TestScenario5_AllFailing(t *testing.T) {
	s := newStack(t, stackOpts{})
	for _, n := range providerNames {
		if err := s.fakes[n].SetFaults(sched(fakellm.Fault{Status: 503, Times: -1})); err != nil {
			t.Fatal(err)
		}
	}
	r := s.chat()
	if r.apiErr == nil {
		t.Fatalf("got %v, want an API error", r.err)
	}
	if st := r.status(); st != 503 {
		t.Errorf("status %d, want 503 (the last provider's status)", st)
	}
	if r.took > promptly {
		t.Errorf("took %v, want under %v", r.took, promptly)
	}
	body := errorJSON(t, r)
	atts, _ := body["attempts"].([]any)
	if len(atts) != 3 {
		t.Fatalf("error lists %d attempts, want 3: %v", len(atts), body)
	}
	for i, a := range atts {
		m, _ := a.(map[string]any)
		if m["provider"] != providerNames[i] {
			t.Errorf("attempt %d provider %v, want %s", i+1, m["provider"], providerNames[i])
		}
	}
	if body["message"] == nil || body["type"] == nil {
		t.Errorf("error %v lacks message or type", body)
	}
}

// errorJSON decodes the "error" object of a failed request's body.
func errorJSON(t *testing.T, r chatResult) map[string]any {
	t.Helper()
	raw := r.errBody
	if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
		raw = raw[i+4:]
	}
	var env struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &env); err != nil || env.Error == nil {
		t.Fatalf("error body is not an OpenAI-style error: %v\n%s", err, r.errBody)
	}
	return env.Error
}
