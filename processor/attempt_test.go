package processor

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

const chatBody = `{"model":"premium","messages":[{"role":"user","content":"hi"}]}`

// streamChatBody asks chain premium for a streamed answer.
const streamChatBody = `{"model":"premium","stream":true,"messages":[]}`

// TestAttempt_RewritesRequestForProvider verifies path, credentials (client
// key and earlier attempts' headers removed), body model and content-length.
func TestAttempt_RewritesRequestForProvider(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	tests := []struct {
		attempt  int
		provider string
		path     string
		auth     string
		model    string
	}{
		{1, "openai", "/v1/chat/completions", "Bearer sk-openai-secret", "gpt-4o"},
		{2, "groq", "/openai/v1/chat/completions", "Bearer gsk-groq-secret", "llama-3.3-70b-versatile"},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			s := h.open(contract.PhaseAttempt)
			defer s.close()
			s.send(h.attemptRequest(dm, tc.attempt, tc.provider, "req-1"))
			s.recv()
			s.send(reqBody(chatBody))
			c := s.recv().GetRequestBody().GetResponse()
			hs := setHeaders(c.GetHeaderMutation())
			body := c.GetBodyMutation().GetBody()
			if hs[":path"] != tc.path || hs["authorization"] != tc.auth {
				t.Fatalf("headers: got path %q auth %q, want %q %q", hs[":path"], hs["authorization"], tc.path, tc.auth)
			}
			if hs["content-length"] != strconv.Itoa(len(body)) {
				t.Fatalf("content-length: got %q, want %d", hs["content-length"], len(body))
			}
			var got struct{ Model string }
			if err := json.Unmarshal(body, &got); err != nil || got.Model != tc.model {
				t.Fatalf("body model: got %q (%v), want %q", got.Model, err, tc.model)
			}
			removed := strings.Join(c.GetHeaderMutation().GetRemoveHeaders(), ",")
			for _, k := range []string{"x-api-key", "api-key", "x-goog-api-key", "anthropic-version", contract.HeaderChain} {
				if !strings.Contains(removed, k) {
					t.Fatalf("remove_headers: got %q, want %q removed", removed, k)
				}
			}
			if strings.Contains(string(body), "client-key") {
				t.Fatalf("body carries the client's key: %s", body)
			}
		})
	}
}

// TestAttempt_UnchangedBodyIsNotSentBack verifies that a body already
// naming the target's model goes back to Envoy as no body mutation (Envoy
// forwards its own copy), with the path, credential and a content-length
// matching that body; a body whose model is rewritten is sent back.
func TestAttempt_UnchangedBodyIsNotSentBack(t *testing.T) {
	h := newHarness(t, "")
	tests := []struct {
		name, body string
		wantBody   bool
	}{
		{"target model", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, false},
		{"chain model", chatBody, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := h.open(contract.PhaseAttempt)
			defer s.close()
			s.send(h.attemptRequest(h.planFor(tc.body), 1, "openai", "req-1"))
			s.recv()
			s.send(reqBody(tc.body))
			c := s.recv().GetRequestBody().GetResponse()
			hs := setHeaders(c.GetHeaderMutation())
			if hs[":path"] != "/v1/chat/completions" || hs["authorization"] != "Bearer sk-openai-secret" {
				t.Fatalf("headers: got path %q auth %q, want the provider's path and key", hs[":path"], hs["authorization"])
			}
			bm := c.GetBodyMutation()
			if got := bm != nil; got != tc.wantBody {
				t.Fatalf("body mutation: got %v (%s), want %v", got, bm.GetBody(), tc.wantBody)
			}
			want := len(tc.body)
			if bm != nil {
				want = len(bm.GetBody())
			}
			if hs["content-length"] != strconv.Itoa(want) {
				t.Fatalf("content-length: got %q, want %d", hs["content-length"], want)
			}
		})
	}
}

// TestAttempt_SuccessTellsWhoAnswered verifies the response headers naming
// provider, model, attempt and the whole trace.
func TestAttempt_SuccessTellsWhoAnswered(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s1 := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
	s1.send(respHeaders(false, ":status", "503", "content-type", "application/json"))
	s1.send(respBody(`{"error":{"message":"down","type":"server_error"}}`, true))
	r := s1.recv()
	must(t, setHeaders(r.GetResponseHeaders().GetResponse().GetHeaderMutation())[contract.RetryHeader] == "1",
		"attempt 1 503: got %v, want the retry marker", r)
	s1.recv() // the held body chunk
	s1.close()

	h.clock.Advance(100 * time.Millisecond)
	s2 := h.runAttempt(dm, 2, "groq", "req-1", chatBody)
	defer s2.close()
	h.clock.Advance(250 * time.Millisecond)
	s2.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s2.send(respBody(`{"id":"x","choices":[]}`, true))
	hs := s2.recvSetHeaders()
	if hs[contract.HeaderProvider] != "groq" || hs[contract.HeaderModel] != "llama-3.3-70b-versatile" || hs[contract.HeaderAttempt] != "2" {
		t.Fatalf("who answered: got %v", hs)
	}
	want := "attempt=1;provider=openai;model=gpt-4o;outcome=overloaded;status=503;ms=0, " +
		"attempt=2;provider=groq;model=llama-3.3-70b-versatile;outcome=success;status=200;ms=250"
	if hs[contract.HeaderTrace] != want {
		t.Fatalf("trace:\n got %q\nwant %q", hs[contract.HeaderTrace], want)
	}
	if r := s2.recv(); r.GetResponseBody() == nil || r.GetResponseBody().GetResponse().GetBodyMutation() != nil {
		t.Fatalf("OpenAI body: got %v, want it passed unchanged", r)
	}
}

// TestAttempt_RateLimitOpensBreakerAtOnce verifies a 429 with Retry-After
// opens the target for max(open_for, hint) and lets Envoy retry by status.
func TestAttempt_RateLimitOpensBreakerAtOnce(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
	defer s.close()
	s.send(respHeaders(false, ":status", "429", "retry-after", "120", "content-type", "application/json"))
	s.send(respBody(`{"error":{"message":"slow down","type":"rate_limit_error"}}`, true))
	hs := s.recvSetHeaders()
	if hs[contract.RetryHeader] != "1" {
		t.Fatalf("marker: got %v, want %s: 1", hs, contract.RetryHeader)
	}
	if got := h.state("openai/gpt-4o"); got != "open" {
		t.Fatalf("breaker after one 429: got %s, want open", got)
	}
	h.clock.Advance(60 * time.Second) // past open_for (30s), inside the hint (120s)
	if got := h.state("openai/gpt-4o"); got != "open" {
		t.Fatalf("breaker 60s later: got %s, want still open (Retry-After 120s)", got)
	}
	dm = h.planFor(chatBody)
	groups := dm.GetFields()["llm_failover"].GetStructValue().GetFields()["priority_groups"].GetListValue().GetValues()
	if len(groups) != 1 || !strings.Contains(protoString(groups[0]), "groq") {
		t.Fatalf("plan while open: got %v, want only groq", groups)
	}
}

func protoString(v *structpb.Value) string {
	b, _ := json.Marshal(v.AsInterface())
	return string(b)
}

// TestAttempt_FailuresMarkedForRetry verifies which failures carry the retry
// marker (401/403/408 Envoy would not retry) and which pass to the client.
func TestAttempt_FailuresMarkedForRetry(t *testing.T) {
	tests := []struct {
		name   string
		status string
		body   string
		marked bool
		state  string
	}{
		{"auth 401 fails over and trips", "401", `{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}`, true, "open"},
		{"forbidden 403 fails over", "403", `{"error":{"message":"no","type":"permission_error"}}`, true, "open"},
		{"timeout 408 fails over", "408", `{"error":{"message":"timeout"}}`, true, "closed"},
		{"invalid request is returned", "400", `{"error":{"message":"bad messages","type":"invalid_request_error"}}`, false, "closed"},
		{"context length without larger window is returned", "400", `{"error":{"message":"too long","code":"context_length_exceeded"}}`, false, "closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(chatBody)
			s := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
			defer s.close()
			s.send(respHeaders(false, ":status", tc.status, "content-type", "application/json"))
			s.send(respBody(tc.body, true))
			hs := s.recvSetHeaders()
			if got := hs[contract.RetryHeader] == "1"; got != tc.marked {
				t.Fatalf("marked: got %v, want %v (headers %v)", got, tc.marked, hs)
			}
			if !tc.marked && hs[contract.HeaderProvider] != "openai" {
				t.Fatalf("returned error: got headers %v, want the provider named", hs)
			}
			if got := h.state("openai/gpt-4o"); got != tc.state {
				t.Fatalf("breaker: got %s, want %s", got, tc.state)
			}
		})
	}
}

// TestAttempt_LastFailureListsEveryAttempt verifies the final answer when the
// last target fails: in-band, since held body chunks can carry the error
// (docs/envoy-contract.md, attempt phase), with the last status, no retry
// marker, and one OpenAI-style error with both attempts in place of the
// provider's body.
func TestAttempt_LastFailureListsEveryAttempt(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s1 := h.runAttempt(dm, 1, "openai", "req-9", chatBody)
	s1.send(respHeaders(true, ":status", "502"))
	s1.recv()
	s1.close()
	s2 := h.runAttempt(dm, 2, "groq", "req-9", chatBody)
	defer s2.close()
	s2.send(respHeaders(false, ":status", "429", "retry-after", "7", "content-length", "62"))
	s2.send(respBody(`{"error":{"message":"rate limited",`, false))
	s2.send(respBody(`"type":"rate_limit_error"}}`, true))
	r := s2.recv()
	if r.GetImmediateResponse() != nil {
		t.Fatalf("got an ImmediateResponse, want the error in-band in the held body chunks")
	}
	m := r.GetResponseHeaders().GetResponse().GetHeaderMutation()
	hs := setHeaders(m)
	if hs[":status"] != "429" || hs[contract.RetryHeader] != "" || hs["retry-after"] != "7" || hs["content-type"] != "application/json" ||
		!strings.Contains(strings.Join(m.GetRemoveHeaders(), ","), "content-length") {
		t.Fatalf("headers: got %v (removed %v), want 429, retry-after 7, JSON, no marker, content-length removed", hs, m.GetRemoveHeaders())
	}
	body := s2.recv().GetResponseBody().GetResponse().GetBodyMutation().GetBody()
	if rest := s2.recv().GetResponseBody().GetResponse().GetBodyMutation(); len(rest.GetBody()) != 0 {
		t.Fatalf("second chunk: got %q, want it emptied", rest.GetBody())
	}
	var e struct {
		Error struct {
			Code     string
			Attempts []struct {
				Attempt  int
				Provider string
				Outcome  string
				Status   int
			}
		}
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if e.Error.Code != "all_targets_failed" || len(e.Error.Attempts) != 2 ||
		e.Error.Attempts[0].Provider != "openai" || e.Error.Attempts[0].Status != 502 ||
		e.Error.Attempts[1].Provider != "groq" || e.Error.Attempts[1].Outcome != "rate_limited" {
		t.Fatalf("error: got %s", body)
	}
}

// TestAttempt_LastStreamFailurePassesTheStream verifies that when the last
// planned attempt's stream fails in its first event, the client gets that
// stream (no marker, no retry) with the trace in its headers.
func TestAttempt_LastStreamFailurePassesTheStream(t *testing.T) {
	h := newHarness(t, "")
	s := h.streamAttempt(streamChatBody, 2, "groq", "req-ls")
	defer s.close()
	s.send(respBody("data: {\"error\":{\"message\":\"overloaded\"}}\n\n", false))
	hs := s.recvSetHeaders()
	if hs[contract.RetryHeader] != "" || hs[":status"] != "" || !strings.Contains(hs[contract.HeaderTrace], "outcome=server_error") {
		t.Fatalf("headers: got %v, want the stream passed with its trace and no marker", hs)
	}
	if r := s.recv(); r.GetResponseBody() == nil || r.GetResponseBody().GetResponse().GetBodyMutation() != nil {
		t.Fatalf("held chunk: got %v, want it passed unchanged", r)
	}
}

// TestAttempt_StreamHeldUntilFirstEvent verifies the streaming hold: an error
// as first event turns the 200 into a retried 503; a good first event
// releases the headers, then every held chunk in order.
func TestAttempt_StreamHeldUntilFirstEvent(t *testing.T) {
	streamBody := `{"model":"premium","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	t.Run("error first event fails over", func(t *testing.T) {
		h := newHarness(t, "")
		s := h.streamAttempt(streamBody, 1, "openai", "req-s1")
		defer s.close()
		s.send(respBody(`data: {"error":{"message":"overloaded","type":"server_error"}}`, false))
		s.send(respBody("\n\n", false))
		hs := s.recvSetHeaders()
		if hs[":status"] != "503" || hs[contract.RetryHeader] != "1" {
			t.Fatalf("got %v, want :status 503 and the retry marker", hs)
		}
		for i := range 2 {
			if r := s.recv(); r.GetResponseBody() == nil {
				t.Fatalf("held chunk %d: got %v, want a body answer after the headers", i, r)
			}
		}
	})
	t.Run("good first event releases in order", func(t *testing.T) {
		h := newHarness(t, "")
		s := h.streamAttempt(streamBody, 1, "openai", "req-s2")
		defer s.close()
		s.send(respBody(`data: {"choices":[{"delta":{"role":"assistant","content":"Hi"}}]}`, false))
		s.send(respBody("\n\ndata: {}\n\n", false))
		r := s.recv()
		hs := setHeaders(r.GetResponseHeaders().GetResponse().GetHeaderMutation())
		if hs[contract.HeaderProvider] != "openai" || hs[":status"] != "" {
			t.Fatalf("headers: got %v, want success headers", hs)
		}
		for i := range 2 {
			if r := s.recv(); r.GetResponseBody() == nil {
				t.Fatalf("chunk %d: got %v, want a body answer", i, r)
			}
		}
		s.send(respBody("data: [DONE]\n\n", true))
		if r := s.recv(); r.GetResponseBody() == nil {
			t.Fatalf("later chunk: got %v, want a body answer", r)
		}
	})
	t.Run("no first event within the budget fails over", func(t *testing.T) {
		h := newHarness(t, "")
		s := h.streamAttempt(streamBody, 1, "openai", "req-s3")
		defer s.close()
		h.clock.fireNextTimer(t) // stream_first_event_timeout passes
		hs := s.recvSetHeaders()
		if hs[":status"] != "503" {
			t.Fatalf("got %v, want :status 503 after the budget", hs)
		}
	})
}

// TestAttempt_NoAnswerBlamedOnlyOnEvidence verifies who an attempt that ends
// without response headers is blamed on: the provider when Envoy goes on with
// the request (a next attempt, response headers in the route phase) or when it
// ended at the per-try timeout; nobody when the client left or no evidence came.
func TestAttempt_NoAnswerBlamedOnlyOnEvidence(t *testing.T) {
	tests := []struct {
		name string
		// after ends attempt 1 and then gives (or withholds) the evidence.
		after   func(h *harness, dm *structpb.Struct, route *stream, s *stream)
		outcome string
		state   string // after three such requests
	}{
		{"next attempt arrives: reset blamed", func(h *harness, dm *structpb.Struct, route, s *stream) {
			h.endAttempt(s)
			h.runAttempt(dm, 2, "groq", "req-r", chatBody).close()
		}, "timeout", "open"},
		{"next attempt arrives before the end is seen: blamed", func(h *harness, dm *structpb.Struct, route, s *stream) {
			s2 := h.runAttempt(dm, 2, "groq", "req-r", chatBody)
			h.endAttempt(s)
			s2.close()
		}, "timeout", "open"},
		{"answer body cut mid-way, then Envoy retries: blamed", func(h *harness, dm *structpb.Struct, route, s *stream) {
			s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
			s.send(respBody(`{"id":"c","choices":[{"index":0,`, false))
			h.endAttempt(s)
			h.runAttempt(dm, 2, "groq", "req-r", chatBody).close()
		}, "timeout", "open"},
		{"route phase gets Envoy's reply: blamed", func(h *harness, dm *structpb.Struct, route, s *stream) {
			h.endAttempt(s)
			route.send(respHeaders(true, ":status", "503"))
			route.recv()
		}, "timeout", "open"},
		{"ended at the per-try timeout: blamed", func(h *harness, dm *structpb.Struct, route, s *stream) {
			h.clock.Advance(config.DefaultNonStreamedTimeout) // the plan's per_try_ms: routing.attempt_timeout.non_streamed default
			h.endAttempt(s)
		}, "timeout", "open"},
		{"client left: cancelled", func(h *harness, dm *structpb.Struct, route, s *stream) {
			h.endAttempt(s)
			route.close()
			h.waitStreams()
		}, "cancelled", "closed"},
		{"client left before the attempt end is seen: cancelled", func(h *harness, dm *structpb.Struct, route, s *stream) {
			route.close()
			h.waitStreams(1)
			h.endAttempt(s)
		}, "cancelled", "closed"},
		{"no evidence within the window: not blamed", func(h *harness, dm *structpb.Struct, route, s *stream) {
			h.endAttempt(s)
			h.clock.Advance(evidenceWindow)
			// Envoy's reply after the window is no longer evidence.
			route.send(respHeaders(true, ":status", "503"))
			route.recv()
		}, "cancelled", "closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			for range 3 {
				dm, route := h.planOpen(chatBody, "x-request-id", "req-r")
				s := h.runAttempt(dm, 1, "openai", "req-r", chatBody)
				tc.after(h, dm, route, s)
				route.close()
				h.waitStreams()
			}
			var b strings.Builder
			_ = h.srv.WriteMetrics(&b)
			want := `llm_failover_attempts_total{model="gpt-4o",outcome="` + tc.outcome + `",provider="openai"} 3`
			if !strings.Contains(b.String(), want) {
				t.Fatalf("metrics lack %q:\n%s", want, b.String())
			}
			if got := h.state("openai/gpt-4o"); got != tc.state {
				t.Fatalf("breaker after three: got %s, want %s", got, tc.state)
			}
		})
	}
}

// TestAttempt_PlanPerTryTimeoutBlames verifies the plan's per_try_ms, not the
// configured default, decides whether an attempt ended at its per-try timeout.
func TestAttempt_PlanPerTryTimeoutBlames(t *testing.T) {
	h := newHarness(t, "")
	dm, route := h.planOpen(chatBody)
	defer route.close()
	editPlan(t, dm, func(p *contract.Plan) { p.PerTry = 2 * time.Second })
	h.resign(dm)
	s := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
	h.clock.Advance(2 * time.Second)
	h.endAttempt(s)
	recs := h.srv.traces.get(planOf(t, dm).ID, h.clock.Now())
	if len(recs) != 1 || recs[0].State != recDone || recs[0].Class.String() != "timeout" {
		t.Fatalf("trace: got %+v, want attempt 1 settled as a timeout", recs)
	}
}

// TestAttempt_MissingPlanIsAClearError verifies a misconfigured Envoy (no
// plan attribute) gets a 500 naming the fix rather than a wrong provider call.
func TestAttempt_MissingPlanIsAClearError(t *testing.T) {
	h := newHarness(t, "")
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(reqHeaders(false, ":path", "/v1/chat/completions"))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 500 || !strings.Contains(string(ir.GetBody()), "request_attributes") {
		t.Fatalf("got %v, want a 500 naming request_attributes", ir)
	}
}

// TestMetrics_CountAttemptsAndBreakerState verifies /metrics content after a
// failed and a successful attempt.
func TestMetrics_CountAttemptsAndBreakerState(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.runAttempt(dm, 1, "openai", "m1", chatBody)
	s.send(respHeaders(true, ":status", "401"))
	s.recv()
	s.close()
	var b strings.Builder
	_ = h.srv.WriteMetrics(&b)
	for _, want := range []string{
		`llm_failover_attempts_total{model="gpt-4o",outcome="auth",provider="openai"} 1`,
		`llm_failover_requests_planned_total{chain="premium"} 1`,
		`llm_failover_breaker_state{model="gpt-4o",provider="openai"} 1`,
		`llm_failover_breaker_state{model="llama-3.3-70b-versatile",provider="groq"} 0`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// TestTrace_ReusedRequestIDKeepsTracesApart verifies two requests with the
// same x-request-id never show each other's attempts.
func TestTrace_ReusedRequestIDKeepsTracesApart(t *testing.T) {
	h := newHarness(t, "")
	dm1 := h.planFor(chatBody)
	s := h.runAttempt(dm1, 1, "openai", "same", chatBody)
	s.send(respHeaders(true, ":status", "503"))
	s.recv()
	s.close()
	dm2 := h.planFor(chatBody)
	s = h.runAttempt(dm2, 1, "openai", "same", chatBody)
	defer s.close()
	s.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s.send(respBody(`{"choices":[]}`, true))
	got := s.recvSetHeaders()[contract.HeaderTrace]
	if want := "attempt=1;provider=openai;model=gpt-4o;outcome=success;status=200;ms=0"; got != want {
		t.Fatalf("trace: got %q, want %q", got, want)
	}
}

// TestAttempt_MisconfigurationAnswersAndLogs verifies each misconfiguration
// answer: a 500 ImmediateResponse (it reaches the client at once) with an
// OpenAI-style error naming the problem, and an error log line carrying the
// request id.
func TestAttempt_MisconfigurationAnswersAndLogs(t *testing.T) {
	tests := []struct {
		name string
		code string
		req  func(h *harness) *extprocv3.ProcessingRequest
	}{
		{"no forwarded plan", "plan_missing", func(h *harness) *extprocv3.ProcessingRequest {
			return reqHeaders(false, ":path", "/v1/chat/completions", "x-request-id", "rq-9")
		}},
		{"provider outside the plan", "provider_not_in_plan", func(h *harness) *extprocv3.ProcessingRequest {
			return h.attemptRequest(h.planFor(chatBody), 1, "stranger", "rq-9")
		}},
		{"provider not configured", "unknown_provider", func(h *harness) *extprocv3.ProcessingRequest {
			dm := h.planFor(chatBody)
			editPlan(t, dm, func(p *contract.Plan) {
				p.Gen = 12345 // made elsewhere, with another configuration
				p.Targets[0].Provider = "elsewhere"
			})
			h.resign(dm) // by a replica sharing the key
			return h.attemptRequest(dm, 1, "", "rq-9")
		}},
		{"no body", "missing_body", func(h *harness) *extprocv3.ProcessingRequest {
			r := h.attemptRequest(h.planFor(chatBody), 1, "openai", "rq-9")
			r.GetRequestHeaders().EndOfStream = true
			return r
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			s := h.open(contract.PhaseAttempt)
			defer s.close()
			s.send(tc.req(h))
			ir := s.recv().GetImmediateResponse()
			var e struct {
				Error struct{ Message, Type, Code string }
			}
			if ir == nil || json.Unmarshal(ir.GetBody(), &e) != nil {
				t.Fatalf("got %v, want an ImmediateResponse with a JSON body", ir)
			}
			if ir.GetStatus().GetCode() != 500 || e.Error.Code != tc.code || e.Error.Type != "server_error" || e.Error.Message == "" {
				t.Fatalf("got %d %s, want 500 with an OpenAI-style error coded %s", ir.GetStatus().GetCode(), ir.GetBody(), tc.code)
			}
			logs := h.logs.String()
			if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, `"code":"`+tc.code+`"`) || !strings.Contains(logs, `"request_id":"rq-9"`) {
				t.Fatalf("logs: got %s, want an error line with code %s and request_id rq-9", logs, tc.code)
			}
		})
	}
}

// TestAttempt_UntranslatableRequestIsA4xx verifies the backstop when Envoy
// sends an attempt to a target whose adapter refuses the request (the route
// phase planned around it): a 400 naming the target, reaching the client at
// once, and a log line.
func TestAttempt_UntranslatableRequestIsA4xx(t *testing.T) {
	h := newHarnessYAML(t, `
providers:
  - {name: gem, api: gemini, host: g.example}
  - {name: openai, api: openai, host: o.example}
chains:
  - {name: both, match: {models: [both]}, targets: [{provider: gem, model: gemini-2.5-pro}, {provider: openai, model: gpt-4o}]}
`)
	body := `{"model":"both","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"call_unknown","content":"42"}]}`
	dm := h.planFor(`{"model":"both","messages":[{"role":"user","content":"hi"}]}`)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 1, "gem", "rq-7"))
	s.recv()
	s.send(reqBody(body))
	ir := s.recv().GetImmediateResponse()
	if ir == nil || ir.GetStatus().GetCode() != 400 || !strings.Contains(string(ir.GetBody()), `"provider":"gem"`) {
		t.Fatalf("got %v, want a 400 naming the gem target", ir)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "refused the request") || !strings.Contains(logs, `"request_id":"rq-7"`) {
		t.Fatalf("logs: got %s, want a line saying the adapter refused the request", logs)
	}
}

// TestAttempt_ForwardsOnlyAllowlistedHeaders verifies what reaches a
// provider: client headers outside the allowlist (cookie,
// proxy-authorization, accept-encoding, the client's own keys, forwarding
// and tracing headers, the 1.38 cluster header) are removed, allowlisted
// ones, Envoy's and the 1.39 slot headers (a retry's matcher reads them)
// are left, and every attempt asks for identity encoding.
func TestAttempt_ForwardsOnlyAllowlistedHeaders(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.attemptRequest(dm, 1, "openai", "req-1",
		"cookie", "session=secret", "proxy-authorization", "Basic c2VjcmV0", "accept-encoding", "gzip, br",
		"x-forwarded-for", "10.0.0.1", "traceparent", "00-abc-def-01", "openai-organization", "org-client",
		"x-custom", "1", "accept", "text/event-stream", "user-agent", "sdk/1", "x-envoy-attempt-count", "1",
		"content-type", "application/json", contract.SlotHeader(2), "groq", contract.HeaderCluster, "openai"))
	s.recv()
	s.send(reqBody(chatBody))
	m := s.recv().GetRequestBody().GetResponse().GetHeaderMutation()
	removed := map[string]bool{}
	for _, k := range m.GetRemoveHeaders() {
		removed[k] = true
	}
	set := setHeaders(m)
	for _, k := range []string{"cookie", "proxy-authorization", "x-forwarded-for", "traceparent", "openai-organization", "x-custom", "x-api-key", contract.HeaderChain, contract.HeaderCluster} {
		if !removed[k] {
			t.Errorf("remove_headers %v: got %q kept, want it removed", m.GetRemoveHeaders(), k)
		}
	}
	for _, k := range []string{"accept", "user-agent", "x-request-id", "x-envoy-attempt-count", ":path", ":method", "authorization", "content-type", "accept-encoding", contract.SlotHeader(2)} {
		if removed[k] {
			t.Errorf("remove_headers %v: got %q removed, want it kept or set", m.GetRemoveHeaders(), k)
		}
	}
	if got := set["accept-encoding"]; got != "identity" {
		t.Errorf("accept-encoding: got %q, want identity", got)
	}
	if got := set["authorization"]; got != "Bearer sk-openai-secret" {
		t.Errorf("authorization: got %q, want the provider's key", got)
	}
}

// TestAttempt_SilentStreamClosesAfterFailover verifies that a 200 event
// stream that stays silent fails over at stream_first_event_timeout and that
// the attempt's gRPC stream then ends OK, so Envoy releases the held headers
// without waiting for a body chunk (Envoy #45355).
func TestAttempt_SilentStreamClosesAfterFailover(t *testing.T) {
	h := newHarness(t, "")
	s := h.streamAttempt(streamChatBody, 1, "openai", "req-silent")
	defer s.close()
	h.clock.fireNextTimer(t) // stream_first_event_timeout passes
	hs := s.recvSetHeaders()
	if hs[":status"] != "503" || hs[contract.RetryHeader] != "1" {
		t.Fatalf("headers: got %v, want :status 503 and the retry marker", hs)
	}
	r, err := s.s.Recv()
	if err != io.EOF {
		t.Fatalf("after the headers answer: got %v, %v; want the stream closed with OK (io.EOF)", r, err)
	}
}

// TestAttempt_LastFailureWithoutBodyChunkAnswersAtOnce verifies that when the
// last planned attempt fails with no body chunk to carry the error (headers
// with end_of_stream, or a hold that timed out before any chunk), the client
// gets the OpenAI-style all_targets_failed error at once, as a local reply,
// instead of an error status with an empty body.
func TestAttempt_LastFailureWithoutBodyChunkAnswersAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		body       string
		headers    *extprocv3.ProcessingRequest
		wantStatus int
	}{
		{"error headers with end_of_stream", chatBody, respHeaders(true, ":status", "503"), 503},
		{"error body never came", chatBody, respHeaders(false, ":status", "503", "content-type", "application/json"), 503},
		{"answer body never came", chatBody, respHeaders(false, ":status", "200", "content-type", "application/json"), 502},
		// Failed before any hold began: not mistaken for a held stream (holdNone).
		{"empty event stream", streamChatBody,
			respHeaders(true, ":status", "200", "content-type", "text/event-stream"), 502},
		{"a 204 instead of an answer", chatBody, respHeaders(true, ":status", "204"), 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "")
			dm := h.planFor(tc.body)
			s := h.runAttempt(dm, 2, "groq", "req-nobody", tc.body)
			defer s.close()
			s.send(tc.headers)
			if !tc.headers.GetResponseHeaders().GetEndOfStream() {
				h.clock.fireNextTimer(t) // the hold's budget passes
			}
			r := s.recv()
			ir := r.GetImmediateResponse()
			if ir == nil {
				t.Fatalf("got %v, want an ImmediateResponse (no body chunk will come to carry the error)", r)
			}
			if got := int(ir.GetStatus().GetCode()); got != tc.wantStatus {
				t.Fatalf("status: got %d, want %d", got, tc.wantStatus)
			}
			var e struct{ Error struct{ Code string } }
			if err := json.Unmarshal(ir.GetBody(), &e); err != nil || e.Error.Code != "all_targets_failed" {
				t.Fatalf("body: got %s (%v), want an all_targets_failed error", ir.GetBody(), err)
			}
			if hs := setHeaders(ir.GetHeaders()); hs[contract.HeaderTrace] == "" || hs[contract.RetryHeader] != "" {
				t.Fatalf("headers: got %v, want the trace and no retry marker", hs)
			}
		})
	}
}

// TestAttempt_EventsWithoutContentPassUnjudgedAtTheBudget verifies a 200
// stream that sent events but no content when stream_first_event_timeout
// passes is released unjudged (a model thinking), not failed over; the
// handlers are driven directly so the timeout comes after the event.
func TestAttempt_EventsWithoutContentPassUnjudgedAtTheBudget(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(streamChatBody)
	a := newAttemptStream(h.srv, h.srv.state.Load())
	for _, req := range []*extprocv3.ProcessingRequest{h.attemptRequest(dm, 1, "openai", "req-think"), reqBody(streamChatBody)} {
		if _, err := a.handle(req); err != nil {
			t.Fatal(err)
		}
	}
	for _, req := range []*extprocv3.ProcessingRequest{
		respHeaders(false, ":status", "200", "content-type", "text/event-stream"),
		respBody("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n", false),
	} {
		if out, err := a.handle(req); err != nil || len(out) != 0 {
			t.Fatalf("while holding: got %v, %v; want nothing yet", out, err)
		}
	}
	if a.deadline() == nil {
		t.Fatal("no hold timer armed")
	}
	out, err := a.expire()
	if err != nil || len(out) != 2 {
		t.Fatalf("at the budget: got %v, %v; want the headers and the held chunk", out, err)
	}
	hs := setHeaders(out[0].GetResponseHeaders().GetResponse().GetHeaderMutation())
	if hs[":status"] != "" || hs[contract.RetryHeader] != "" || hs[contract.HeaderProvider] != "openai" {
		t.Fatalf("headers: got %v, want the stream released as an answer", hs)
	}
	a.end(nil)
}

// TestAttempt_ReadsAPlanForwardedByAnEarlierEnvoyConfig verifies an Envoy
// still running an envoy-config from before the plan attribute (the plan
// namespaces forwarded on every message, no attribute) is served alike.
func TestAttempt_ReadsAPlanForwardedByAnEarlierEnvoyConfig(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s := h.open(contract.PhaseAttempt)
	defer s.close()
	s.send(h.forwardedAttemptRequest(dm, 1, "openai", "req-1"))
	if r := s.recv(); r.GetRequestHeaders() == nil {
		t.Fatalf("attempt headers: got %v, want a headers response", r)
	}
	s.send(reqBody(chatBody))
	hs := setHeaders(s.recv().GetRequestBody().GetResponse().GetHeaderMutation())
	if hs["authorization"] != "Bearer sk-openai-secret" {
		t.Fatalf("authorization: got %q, want the openai key set", hs["authorization"])
	}
}
