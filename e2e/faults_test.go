package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/fakellm"
)

// clientAcceptEncoding is what a client that takes compressed answers sends.
const clientAcceptEncoding = "gzip, deflate, br"

// checkNoCompressionAsked fails if a request that reached fake name asked
// for a compressed answer.
func checkNoCompressionAsked(t *testing.T, s *stack, name string) {
	t.Helper()
	for _, rec := range s.fakes[name].Requests() {
		if ae := strings.ToLower(rec.Header.Get("Accept-Encoding")); strings.Contains(ae, "gzip") || strings.Contains(ae, "br") {
			t.Errorf("%s request %d asked for Accept-Encoding %q, want identity", name, rec.Seq, ae)
		}
	}
}

// TestFault_CompressingProvider verifies (issue 8 point 5) that a client
// accepting gzip and br, in front of providers that compress whenever asked,
// gets a correct answer: an OpenAI answer and stream pass whole, and an
// Anthropic answer after a failover is classified and translated; no
// attempt asks a provider for a compressed answer.
func TestFault_CompressingProvider(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		compress := fakellm.Fault{Kind: fakellm.KindCompress, Times: -1}
		accept := option.WithHeader("Accept-Encoding", clientAcceptEncoding)
		t.Run("openai json", func(t *testing.T) {
			s := newStack(t, v, stackOpts{})
			s.setFaults("primary", compress)
			s.mustOK(s.chat(accept), "primary")
			checkNoCompressionAsked(t, s, "primary")
		})
		t.Run("openai stream", func(t *testing.T) {
			s := newStack(t, v, stackOpts{})
			s.setFaults("primary", compress)
			checkStream(t, s.chatStream(accept), "primary", 1)
			checkNoCompressionAsked(t, s, "primary")
		})
		t.Run("anthropic after failover", func(t *testing.T) {
			s := newCrossStack(t, v)
			failFirst(t, s, 503, xOpenAI)
			s.setFaults(xAnthropic, compress)
			s.mustOK(s.chat(accept), xAnthropic)
			checkNoCompressionAsked(t, s, xAnthropic)
		})
		t.Run("anthropic stream after failover", func(t *testing.T) {
			s := newCrossStack(t, v)
			failFirst(t, s, 503, xOpenAI)
			s.setFaults(xAnthropic, compress)
			checkStream(t, s.chatStream(accept), xAnthropic, 2)
			checkNoCompressionAsked(t, s, xAnthropic)
		})
	})
}

// TestFault_BrokenSuccessFailsOver verifies (issue 8 point 8) that a 200
// whose body is not an answer (an HTML page, invalid JSON, an empty body)
// fails over to the secondary within the request and counts as a failure
// of the primary.
func TestFault_BrokenSuccessFailsOver(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, kind := range []fakellm.Kind{fakellm.KindHTML, fakellm.KindBadJSON, fakellm.KindEmpty} {
			t.Run(kind.String(), func(t *testing.T) {
				s := newStack(t, v, stackOpts{})
				s.setFaults("primary", fakellm.Fault{Kind: kind})
				r := s.chat()
				s.mustOK(r, "secondary")
				if got := r.header("x-llm-failover-attempt"); got != "2" {
					t.Errorf("x-llm-failover-attempt = %q, want 2 (trace %q)", got, r.header("x-llm-failover-trace"))
				}
				if !s.local {
					return
				}
				s.waitSettled()
				if b := s.breakerOf("primary"); b.ConsecutiveFailures != 1 {
					t.Errorf("primary breaker counts %d consecutive failures, want 1", b.ConsecutiveFailures)
				}
			})
		}
	})
}

// TestFault_CutBodyIsAFailure verifies (issue 8 point 8) that a JSON body
// cut by a connection reset never reaches the client as a success: the
// request fails over to the secondary or fails, and the primary's breaker
// counts the cut as a failure.
func TestFault_CutBodyIsAFailure(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.needLocal("the server's breaker registry")
		s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindCut, RST: true})
		r := s.chat()
		if r.err == nil {
			s.mustOK(r, "secondary")
		}
		s.waitSettled()
		if b := s.breakerOf("primary"); b.ConsecutiveFailures != 1 {
			t.Errorf("primary breaker counts %d consecutive failures, want 1 (the cut; client saw %v)", b.ConsecutiveFailures, r.err)
		}
	})
}

// TestFault_StreamWithoutTerminalEventRaises verifies (issue 8 point 8)
// that a stream that reached the client and then ends without its terminal
// event ([DONE]) ends with an OpenAI-style error event, which the SDK
// raises, and counts as a failure of the provider.
func TestFault_StreamWithoutTerminalEventRaises(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.setFaults("primary", fakellm.Fault{Kind: fakellm.KindNoTerminal})
		r := s.chatStream()
		if r.err == nil {
			t.Fatalf("stream ended without an error; the client cannot tell it was cut:\n%s", r.raw)
		}
		if !strings.Contains(r.raw, `"error"`) {
			t.Errorf("stream has no error event:\n%s", r.raw)
		}
		if r.resp == nil || r.resp.Header.Get("x-llm-failover-provider") != "primary" {
			t.Errorf("stream not from the primary: %v", r.resp)
		}
		if !s.local {
			return
		}
		s.waitSettled()
		if b := s.breakerOf("primary"); b.ConsecutiveFailures != 1 {
			t.Errorf("primary breaker counts %d consecutive failures, want 1", b.ConsecutiveFailures)
		}
	})
}

// TestFault_ErrorAfterStreamStartFailsOver verifies (issue 8 point 9) that
// an error after the first events of a stream but before any content fails
// over: an OpenAI role chunk then {"error":...}, and an Anthropic
// message_start and ping then an overloaded_error event.
func TestFault_ErrorAfterStreamStartFailsOver(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		lateError := fakellm.Fault{Kind: fakellm.KindErrorAfterStart}
		t.Run("openai role chunk", func(t *testing.T) {
			s := newStack(t, v, stackOpts{})
			s.setFaults("primary", lateError)
			checkStream(t, s.chatStream(), "secondary", 2)
		})
		t.Run("anthropic message_start ping", func(t *testing.T) {
			s := newCrossStack(t, v)
			failFirst(t, s, 503, xOpenAI)
			s.setFaults(xAnthropic, lateError)
			r := s.chatStream()
			checkStream(t, r, xGemini, 3)
			if strings.Contains(r.raw, "Overloaded") {
				t.Errorf("the client's stream shows Anthropic's error:\n%s", r.raw)
			}
		})
	})
}

// TestFault_RetryMarkerFromProviderIsStripped verifies (issue 8 point 13)
// that a provider's good answer carrying x-llm-failover-retry: 1 reaches the
// client (Envoy does not discard it and retry), without the marker.
func TestFault_RetryMarkerFromProviderIsStripped(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.setFaults("primary", fakellm.Fault{Header: map[string]string{"x-llm-failover-retry": "1"}})
		r := s.chat()
		s.mustOK(r, "primary")
		if got := r.header("x-llm-failover-retry"); got != "" {
			t.Errorf("the client got x-llm-failover-retry %q, want none", got)
		}
		if c := s.fakes["primary"].Count(); c != 1 {
			t.Errorf("primary received %d requests, want 1", c)
		}
		if c := s.fakes["secondary"].Count(); c != 0 {
			t.Errorf("secondary received %d requests, want 0", c)
		}
	})
}

// TestFault_ClientCredentialsNeverReachProviders verifies (issue 8 point 13)
// that a client's cookie and proxy credentials reach no provider, on the
// first attempt or after a failover.
func TestFault_ClientCredentialsNeverReachProviders(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.setFaults("primary", fakellm.Fault{Status: 503})
		r := s.chat(
			option.WithHeader("Cookie", "session=client-session-secret"),
			option.WithHeader("Proxy-Authorization", "Basic Y2xpZW50OnByb3h5LXNlY3JldA=="),
		)
		s.mustOK(r, "secondary")
		for _, n := range []string{"primary", "secondary"} {
			for _, rec := range s.fakes[n].Requests() {
				for _, h := range []string{"Cookie", "Proxy-Authorization"} {
					if v := rec.Header.Values(h); len(v) > 0 {
						t.Errorf("%s received %s %q", n, h, v)
					}
				}
			}
		}
	})
}

// TestFault_KeyEchoingErrorIsRedacted verifies (issue 8 point 13) that a
// provider error quoting the provider key ("Incorrect API key provided:
// sk-...") reaches the client without any provider key.
func TestFault_KeyEchoingErrorIsRedacted(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		for _, n := range providerNames {
			s.setFaults(n, fakellm.Fault{Status: 401, EchoKey: true, Times: -1})
		}
		r := s.chat()
		if r.apiErr == nil {
			t.Fatalf("got %v, want an API error", r.err)
		}
		for _, n := range providerNames {
			if strings.Contains(r.errBody, providerKey(n)) {
				t.Errorf("the client's error shows %s's key:\n%s", n, r.errBody)
			}
		}
		if s.fakes["primary"].Count() == 0 {
			t.Error("the primary received no request: the echoed key was never produced")
		}
	})
}

// TestFault_AbsurdRetryAfterIsNotPassedVerbatim verifies (issue 8 point 13)
// that a Retry-After the breaker cannot use (negative, absurdly far, not a
// number or date) does not reach the client as it came.
func TestFault_AbsurdRetryAfterIsNotPassedVerbatim(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		for _, ra := range []string{"-5", "99999999999", "soon"} {
			t.Run(ra, func(t *testing.T) {
				s := newStack(t, v, stackOpts{})
				for _, n := range providerNames {
					s.setFaults(n, fakellm.Fault{Status: http.StatusTooManyRequests, RetryAfter: ra, Times: -1})
				}
				r := s.chat()
				if st := r.status(); st != http.StatusTooManyRequests && st < 500 {
					t.Fatalf("status %d (%v), want 429 or a 5xx", st, r.err)
				}
				if got := r.header("Retry-After"); got == ra {
					t.Errorf("Retry-After %q reached the client verbatim", got)
				}
			})
		}
	})
}
