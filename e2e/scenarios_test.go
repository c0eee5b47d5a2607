package e2e

import (
	"encoding/json"
	"strings"
	"testing"

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
