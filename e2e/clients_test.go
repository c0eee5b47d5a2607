package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/fakellm"
)

// withClients adds a clients section and a second chain, "side" (model
// side-model on the secondary), to a stack's config.
func withClients(section string) func(string) string {
	return func(cfg string) string {
		cfg = strings.Replace(cfg, "chains:\n", "chains:\n  - name: side\n    match: {models: [side-model]}\n    targets: [{provider: secondary, model: secondary-model}]\n", 1)
		return cfg + "clients:\n" + section
	}
}

// clientStack is a local stack on matrix entry v with the clients section.
func clientStack(t *testing.T, v, section string) *stack {
	t.Helper()
	s := newStack(t, v, stackOpts{edit: withClients(section)})
	s.needLocal("a clients section in the server's and Envoy's config")
	return s
}

// mustRefuse checks that r is the OpenAI-style error status/code and that no
// provider was asked.
func (s *stack) mustRefuse(r chatResult, status int, code string) {
	s.t.Helper()
	if r.apiErr == nil {
		s.t.Fatalf("got %v, want %d %s", r.err, status, code)
	}
	if r.apiErr.StatusCode != status || r.apiErr.Code != code || r.apiErr.Message == "" {
		s.t.Fatalf("got %d code %q message %q, want %d %s\n%s", r.apiErr.StatusCode, r.apiErr.Code, r.apiErr.Message, status, code, r.errBody)
	}
	if ct := r.apiErr.Response.Header.Get("content-type"); ct != "application/json" {
		s.t.Errorf("content-type %q, want application/json", ct)
	}
	for n, f := range s.fakes {
		if c := f.Count(); c != 0 {
			s.t.Errorf("%s received %d requests, want 0 (refused before any attempt)", n, c)
		}
	}
}

var clientKeyHash = access.HashKey(clientKey)

// TestClients_AllowedByKeyAndSource verifies that a client with its key,
// calling from its network, is served and its key reaches no provider.
func TestClients_AllowedByKeyAndSource(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: team-a, api_keys: ["`+clientKeyHash+`"], sources: [127.0.0.0/8], chains: [main]}
`)
		r := s.chat()
		s.mustOK(r, "primary")
		rec := onlyRequest(t, s, "primary")
		for h, sum := range rec.KeySHA256 {
			if sum == fakellm.KeyHash(clientKey) {
				t.Errorf("the client's key arrived in %s", h)
			}
		}
		if rec.Header.Get("x-api-key") != "" || strings.Contains(rec.Body, clientKey) {
			t.Errorf("the client's key arrived in x-api-key or the body")
		}
	})
}

// TestClients_AllowedBySourceOnly verifies that a client identified by its
// network alone is served, whatever key it sends (no client has keys).
func TestClients_AllowedBySourceOnly(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: loopback, sources: [127.0.0.1]}
`)
		s.mustOK(s.chat(), "primary")
	})
}

// TestClients_WrongChainIsForbidden verifies 403 for a chain the client may
// not use and for a chain header it may not send, before any attempt.
func TestClients_WrongChainIsForbidden(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: team-a, api_keys: ["`+clientKeyHash+`"], chains: [side]}
`)
		s.mustRefuse(s.chat(), 403, "permission_denied")
		s.mustRefuse(s.chatModel("side-model", option.WithHeader("x-llm-failover-chain", "side")), 403, "permission_denied")
		s.mustOK(s.chatModel("side-model"), "secondary")
	})
}

// TestClients_OverRateIs429WithRetryAfter verifies that the request past the
// client's rate is refused 429 with Retry-After until the window ends.
func TestClients_OverRateIs429WithRetryAfter(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: team-a, api_keys: ["`+clientKeyHash+`"], rate: {limit: 1, window: 1m}}
`)
		s.mustOK(s.chat(), "primary")
		s.resetFakes()
		r := s.chat()
		s.mustRefuse(r, http.StatusTooManyRequests, "rate_limit_exceeded")
		if got := r.apiErr.Response.Header.Get("retry-after"); got != "60" {
			t.Errorf("Retry-After = %q, want 60 (the window ends a minute after the stack's clock)", got)
		}
	})
}

// TestClients_OverBudgetIs429 verifies that the token budget counts the
// prompt estimate and the answer's completion tokens, and refuses the next
// request once they no longer fit.
func TestClients_OverBudgetIs429(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: team-a, api_keys: ["`+clientKeyHash+`"], tokens: {limit: 30, window: 1h}}
`)
		r := s.chat()
		s.mustOK(r, "primary")
		completion := r.completion.Usage.CompletionTokens
		_, used := s.proc.ClientUsage("team-a")
		if completion <= 0 || used <= completion || used-completion > 30 {
			t.Fatalf("tokens used %d with %d completion tokens: want the prompt estimate (at most 30) plus them", used, completion)
		}
		s.resetFakes()
		r = s.chat()
		s.mustRefuse(r, http.StatusTooManyRequests, "rate_limit_exceeded")
		if got := r.apiErr.Response.Header.Get("retry-after"); got != "3600" {
			t.Errorf("Retry-After = %q, want 3600", got)
		}
	})
}

// TestClients_UnknownCallerDenied verifies the default deny: a caller with
// no key is 403, one with a key no client has is 401.
func TestClients_UnknownCallerDenied(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: team-a, api_keys: ["`+access.HashKey("sk-some-other-client")+`"]}
`)
		s.mustRefuse(s.chat(option.WithHeaderDel("authorization")), 403, "permission_denied")
		s.mustRefuse(s.chat(), 401, "invalid_api_key")
	})
}

// TestClients_SourceOutsideCIDRIsForbidden verifies 403 for a client calling
// from outside its sources, also when it claims another address in
// x-forwarded-for (Envoy takes the TCP peer: use_remote_address).
func TestClients_SourceOutsideCIDRIsForbidden(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := clientStack(t, v, `  list:
    - {name: team-a, api_keys: ["`+clientKeyHash+`"], sources: [10.0.0.0/8]}
`)
		s.mustRefuse(s.chat(), 403, "permission_denied")
		s.mustRefuse(s.chat(option.WithHeader("x-forwarded-for", "10.1.2.3")), 403, "permission_denied")
	})
}
