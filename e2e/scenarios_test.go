package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/fakellm"
)

// TestScenario1_HealthyPrimary verifies that a healthy primary answers with
// its name, model and attempt 1 in the response headers, and that it
// received its own key and model, never the client's key.
func TestScenario1_HealthyPrimary(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
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
	})
}

// sched is a schedule of faults for the next requests.
func sched(faults ...fakellm.Fault) fakellm.Schedule { return fakellm.Schedule{Faults: faults} }

// TestScenario2_RateLimitedPrimary verifies that a 429 with Retry-After
// fails over inside the same request, opens the primary's breaker at once,
// and that nothing reaches the primary until the cooldown ends.
func TestScenario2_RateLimitedPrimary(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
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
	})
}

// TestScenario3_ThreeStrikes verifies that 503s open the primary's breaker
// on the third consecutive failure, not before, and that a single 503
// between successes never opens it.
func TestScenario3_ThreeStrikes(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		t.Run("third consecutive 503 opens", func(t *testing.T) {
			s := newStack(t, v, stackOpts{})
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
			s := newStack(t, v, stackOpts{})
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
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
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
			s := newStack(t, v, stackOpts{})
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
	})
}

// TestScenario5_AllFailing verifies that when every provider fails the
// client gets one well-formed OpenAI-style error listing the attempts, promptly.
func TestScenario5_AllFailing(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
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
	})
}

// errorJSON decodes the "error" object of a failed request's body.
func errorJSON(t *testing.T, r chatResult) map[string]any {
	t.Helper()
	raw := r.errBody
	if i := strings.Index(raw, "\r\n\r\n"); i >= 0 {
		raw = raw[i+4:]
	}
	if strings.Contains(strings.ToLower(r.errBody), "transfer-encoding: chunked") {
		// The dump keeps the chunked framing: read the body through it.
		if b, err := io.ReadAll(httputil.NewChunkedReader(strings.NewReader(raw))); err == nil {
			raw = string(b)
		}
	}
	var env struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &env); err != nil || env.Error == nil {
		t.Fatalf("error body is not an OpenAI-style error: %v\n%s", err, r.errBody)
	}
	return env.Error
}

// TestScenario6_FailureKinds verifies that a 5xx, a connection reset, a
// connect failure and a per-try timeout on the primary each fail over to
// the secondary within the same request.
func TestScenario6_FailureKinds(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		cases := []struct {
			name  string
			opts  stackOpts
			fault *fakellm.Fault
		}{
			{name: "500", fault: &fakellm.Fault{Status: 500}},
			{name: "502", fault: &fakellm.Fault{Status: 502}},
			{name: "connection reset", fault: &fakellm.Fault{Kind: fakellm.KindReset}},
			{name: "connect failure", opts: stackOpts{deadPrimary: true}},
			{name: "per-try timeout", opts: stackOpts{perTry: "300ms"}, fault: &fakellm.Fault{Kind: fakellm.KindStall, Delay: fakellm.Duration(5 * time.Second)}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				s := newStack(t, v, tc.opts)
				if tc.opts.deadPrimary || tc.opts.perTry != "" {
					s.needLocal("a stack built for this failure")
				}
				if tc.fault != nil {
					if err := s.fakes["primary"].SetFaults(sched(*tc.fault)); err != nil {
						t.Fatal(err)
					}
				}
				r := s.chat()
				s.mustOK(r, "secondary")
				if r.took > promptly {
					t.Errorf("took %v, want under %v", r.took, promptly)
				}
				if got := r.header("x-llm-failover-attempt"); got != "2" {
					t.Errorf("x-llm-failover-attempt = %q, want 2 (trace %q)", got, r.header("x-llm-failover-trace"))
				}
			})
		}
	})
}

// TestScenario6_StreamFirstEventError verifies that a 200 stream whose first
// event is an error fails over to the secondary's stream, and the SDK sees
// an ordinary stream.
func TestScenario6_StreamFirstEventError(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindStreamError})); err != nil {
			t.Fatal(err)
		}
		s.streamAnsweredBySecondary(t)
	})
}

// streamAnsweredBySecondary streams one chat completion through the front
// door and fails the test unless the secondary answered it with an ordinary
// stream the SDK accumulates into its text.
func (s *stack) streamAnsweredBySecondary(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	var resp *http.Response
	st := s.client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    chainModel,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
	}, option.WithResponseInto(&resp))
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if resp == nil || resp.Header.Get("x-llm-failover-provider") != "secondary" {
		t.Fatalf("stream not answered by the secondary: %v", resp)
	}
	if len(acc.Choices) == 0 || !strings.Contains(acc.Choices[0].Message.Content, "secondary") {
		t.Errorf("accumulated %+v, want the secondary's answer", acc.Choices)
	}
}

// TestScenario7_BadInput verifies the documented status and an OpenAI-style
// error body for bad requests, with nothing reaching any provider.
func TestScenario7_BadInput(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		big := strings.Repeat("x", 70<<10)
		cases := []struct {
			name   string
			model  string
			opts   []option.RequestOption
			status int
		}{
			{name: "malformed JSON", opts: []option.RequestOption{option.WithRequestBody("application/json", []byte(`{"model": "gpt-e2e", "messages": [`))}, status: 400},
			{name: "two model keys", opts: []option.RequestOption{option.WithRequestBody("application/json", []byte(`{"model":"gpt-e2e","model":"other","messages":[{"role":"user","content":"hi"}]}`))}, status: 400},
			{name: "oversized body", opts: []option.RequestOption{option.WithJSONSet("messages", []map[string]string{{"role": "user", "content": big}})}, status: 413},
			{name: "unknown model", model: "no-such-model", status: 404},
			{name: "wrong content type", opts: []option.RequestOption{option.WithRequestBody("text/plain", []byte(`{"model":"gpt-e2e","messages":[{"role":"user","content":"hi"}]}`))}, status: 415},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				model := tc.model
				if model == "" {
					model = chainModel
				}
				r := s.chatModel(model, tc.opts...)
				if r.status() != tc.status {
					t.Fatalf("status %d, want %d: %v\n%s", r.status(), tc.status, r.err, r.errBody)
				}
				e := errorJSON(t, r)
				if e["message"] == nil || e["type"] == nil {
					t.Errorf("error %v lacks message or type", e)
				}
			})
		}
		t.Run("unrouted path", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			// /v1/moderations: no envoy.routes entry (embeddings are routed since issue 13).
			_, err := s.client.Moderations.New(ctx, openai.ModerationNewParams{
				Model: chainModel,
				Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("hi")},
			})
			ae, ok := err.(*openai.Error)
			if !ok || ae.StatusCode != 404 {
				t.Fatalf("got %v, want a 404 API error", err)
			}
			if ae.Type == "" || ae.Message == "" {
				t.Errorf("404 error %q lacks message or type", ae.RawJSON())
			}
			// The direct_response body passes local_reply_config unchanged.
			if ae.Code != "not_found" {
				t.Errorf("404 error code %q, want the route's own %q: %s", ae.Code, "not_found", ae.RawJSON())
			}
		})
		for _, n := range providerNames {
			if c := s.fakes[n].Count(); c != 0 {
				t.Errorf("%s received %d requests, want 0", n, c)
			}
		}
	})
}

// TestScenario8_LoadWithFaults verifies that 500 requests, concurrent up to
// what the machine serves (50, or 8 per core), all succeed while the primary
// fails 30% at random, and that the server's goroutines and streams come back
// to their baseline. It asserts what is answered, not how fast: every
// timeout (per-try, ext_proc message timeouts, the client's) has room for a
// loaded 2-core machine running -race, where 2s message timeouts made 504s.
func TestScenario8_LoadWithFaults(t *testing.T) {
	forVersionsSerially(t, func(t *testing.T, v string) {
		const total, maxConcurrency = 500, 50
		concurrency := min(maxConcurrency, 8*runtime.GOMAXPROCS(0))
		s := newStack(t, v, stackOpts{slowMachine: true})
		if err := s.fakes["primary"].SetFaults(fakellm.Schedule{Probability: 0.3, Seed: 42, Fault: &fakellm.Fault{Status: 503}}); err != nil {
			t.Fatal(err)
		}
		s.mustOK(s.chat(), "primary") // warm up before the baseline (seed 42 spares the first request)
		s.closeIdle()
		time.Sleep(100 * time.Millisecond)
		baseline := runtime.NumGoroutine()
		var wg sync.WaitGroup
		var mu sync.Mutex
		failures := map[string]int{}
		jobs := make(chan int)
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range jobs {
					r := s.chat()
					if r.err != nil || r.status() != 200 {
						mu.Lock()
						failures[fmt.Sprintf("%d %v", r.status(), r.err)]++
						mu.Unlock()
					}
				}
			}()
		}
		start := time.Now()
		for i := 0; i < total; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		t.Logf("%d requests at concurrency %d in %v; primary got %d, secondary %d", total, concurrency, time.Since(start), s.fakes["primary"].Count(), s.fakes["secondary"].Count())
		if len(failures) > 0 {
			t.Fatalf("failed requests: %v", failures)
		}
		if !s.local {
			return
		}
		// Idle keep-alive connections are not a leak: close them, then the
		// count must come back to the baseline and the server hold no stream.
		s.closeIdle()
		deadline := time.Now().Add(loadTimeout)
		for {
			n := runtime.NumGoroutine()
			if n <= baseline+5 && s.proc.Streams() == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutines %d (baseline %d), server streams %d: leak", n, baseline, s.proc.Streams())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestScenario9_ExtProcDown verifies Envoy's failure_mode_allow false
// behaviour with the ext_proc server stopped (a quick 500 or 504, no hang)
// and that traffic flows again once it is back.
func TestScenario9_ExtProcDown(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		s.needLocal("control of the ext_proc server")
		s.mustOK(s.chat(), "primary")
		s.stopExtProc()
		for i := 0; i < 3; i++ {
			r := s.chat()
			if st := r.status(); st != 500 && st != 504 {
				t.Fatalf("with ext_proc down: status %d (%v), want 500 or 504", st, r.err)
			}
			if r.took > promptly {
				t.Fatalf("with ext_proc down: took %v, want under %v", r.took, promptly)
			}
			// Envoy's own reply (ext_proc gRPC error or message timeout), made
			// OpenAI-style by local_reply_config.
			envoyJSONError(t, r.header("content-type"), rawBody(r), "server_error", "ext_proc_error")
		}
		before := s.fakes["primary"].Count()
		if before != 1 {
			t.Errorf("primary got %d requests while ext_proc was down, want none new", before-1)
		}
		s.startExtProc()
		deadline := time.Now().Add(promptly)
		for {
			r := s.chat()
			if r.err == nil {
				s.mustOK(r, "primary")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ext_proc back, but requests still fail: %v", r.err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestScenario5_AllReset verifies that when every attempt ends in a reset
// (Envoy's own local reply, no provider response) the client still gets one
// OpenAI-style error listing the attempts: the route phase replaces the
// local reply's body (contract, route phase 3).
func TestScenario5_AllReset(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		for _, n := range providerNames {
			if err := s.fakes[n].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindReset, Times: -1})); err != nil {
				t.Fatal(err)
			}
		}
		r := s.chat()
		if r.apiErr == nil {
			t.Fatalf("got %v, want an API error", r.err)
		}
		if st := r.status(); st != 503 {
			t.Errorf("status %d, want 503", st)
		}
		if r.took > promptly {
			t.Errorf("took %v, want under %v", r.took, promptly)
		}
		if ct := r.header("content-type"); ct != "application/json" {
			t.Errorf("content-type %q, want application/json", ct)
		}
		body := errorJSON(t, r)
		if atts, _ := body["attempts"].([]any); len(atts) != 3 {
			t.Errorf("error lists %d attempts, want 3: %v", len(atts), body)
		}
	})
}

// TestScenario6_StreamStall verifies that a 200 stream stalling before its
// first event fails over (the attempt phase holds the headers until
// stream_first_event_timeout, 1s here) and the client gets the secondary's stream.
func TestScenario6_StreamStall(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{})
		if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindStall, Delay: fakellm.Duration(5 * time.Second)})); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s.streamAnsweredBySecondary(t)
		if took := time.Since(start); took > promptly {
			t.Errorf("took %v, want under %v", took, promptly)
		}
	})
}
