package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// host is a fake Host: one target, its breaker, and what was observed.
type host struct {
	cfg     *config.Config
	b       *breaker.Breaker
	mu      sync.Mutex
	results []Result
	skipped []string
}

func (h *host) Config() *config.Config { return h.cfg }
func (h *host) Breaker(key string) *breaker.Breaker {
	if key == "p/m" {
		return h.b
	}
	return nil
}
func (h *host) SignProbe(key string, _ []byte, exp time.Time) string {
	return fmt.Sprintf("%d.sig.%s", exp.UnixMilli(), key)
}
func (h *host) ObserveProbe(r Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.results = append(h.results, r)
}
func (h *host) ObserveSkipped(_, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.skipped = append(h.skipped, reason)
}

// newHost is a host of one target p/m with probes as given, and a front
// door answering status with usage, recording the probe headers it got.
func newHost(t *testing.T, probes string, status int) (*host, *httptest.Server, *[]string) {
	t.Helper()
	cfg, err := config.Parse([]byte("providers: [{name: p, api: openai, host: p.example}]\nchains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}]}]\n" + probes))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get(contract.HeaderProbe)+" "+string(b))
		mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"usage":{"prompt_tokens":7,"completion_tokens":1}}`)
	}))
	t.Cleanup(front.Close)
	return &host{cfg: cfg, b: breaker.New("p/m", breaker.Settings{Jitter: 0, OpenFor: 30 * time.Second})}, front, &got
}

func round(p *Prober, at time.Time) []Result { return p.Round(context.Background(), at) }

// TestRound_SchedulesByJitteredIntervalNeverUnderMinInterval verifies the
// schedule: a target is probed at once, then after its interval spread by
// the jitter (the extremes of the draw), never sooner than min_interval;
// the probe carries the signed header, the prompt and max_tokens, and its
// usage is read.
func TestRound_SchedulesByJitteredIntervalNeverUnderMinInterval(t *testing.T) {
	tests := []struct {
		name   string
		u      float64
		probes string
		next   time.Duration
	}{
		{"no jitter", 0.5, "probes: {enabled: true, interval: 20s, jitter: 0, prompt: hi, max_tokens: 2}", 20 * time.Second},
		{"shortest draw", 0, "probes: {enabled: true, interval: 20s, jitter: 0.5, prompt: hi, max_tokens: 2}", 10 * time.Second},
		{"longest draw", 1, "probes: {enabled: true, interval: 20s, jitter: 0.5, prompt: hi, max_tokens: 2}", 30 * time.Second},
		{"min_interval floor", 0, "probes: {enabled: true, interval: 20s, jitter: 0.5, min_interval: 15s, prompt: hi, max_tokens: 2}", 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, front, got := newHost(t, tt.probes, 200)
			p := New(Options{Host: h, FrontDoor: front.URL, Rand: func() float64 { return tt.u }})
			defer p.o.Client.CloseIdleConnections()
			if rs := round(p, t0); len(rs) != 1 || rs[0].Outcome != OutcomeOK || rs[0].InputTokens != 7 || rs[0].OutputTokens != 1 {
				t.Fatalf("first round: %+v, want one ok probe with 7+1 tokens", rs)
			}
			if rs := round(p, t0.Add(tt.next-time.Millisecond)); len(rs) != 0 {
				t.Errorf("just before %v: %d probes, want none", tt.next, len(rs))
			}
			if rs := round(p, t0.Add(tt.next)); len(rs) != 1 {
				t.Errorf("at %v: %d probes, want one", tt.next, len(rs))
			}
			want := fmt.Sprintf(`/v1/chat/completions %d.sig.p/m {"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`, t0.Add(10*time.Second+signSlack).UnixMilli())
			if len(*got) == 0 || (*got)[0] != want {
				t.Errorf("front door got %q, want %q first", *got, want)
			}
		})
	}
}

// refuse is a Claimer that claims nothing.
type refuse struct{}

func (refuse) Claim(string, time.Time, time.Duration) bool { return false }

// TestRound_AsksTheClaimer verifies a probe another replica claims is not
// sent, is counted as not_claimed, and is not asked again before its
// interval.
func TestRound_AsksTheClaimer(t *testing.T) {
	h, front, got := newHost(t, "probes: {enabled: true, interval: 20s, jitter: 0}", 200)
	p := New(Options{Host: h, FrontDoor: front.URL, Claimer: refuse{}})
	for _, at := range []time.Duration{0, 10 * time.Second} {
		if rs := round(p, t0.Add(at)); len(rs) != 0 {
			t.Errorf("at %v: %d probes, want none", at, len(rs))
		}
	}
	if len(*got) != 0 || fmt.Sprint(h.skipped) != "[not_claimed]" {
		t.Errorf("front door got %d, skipped %v; want 0 and one not_claimed", len(*got), h.skipped)
	}
}

// TestRound_HalfOpen verifies half-open targets: an open one is not
// probed; once half-open it is probed synthetically, taking its slot; a
// slot already taken (by a user with synthetic probing off, or a probe in
// flight) is left alone; a probe whose outcome was not recorded (it never
// reached the front door, or the fake front door records nothing) gives
// its slot back when it ends.
func TestRound_HalfOpen(t *testing.T) {
	openNow := func(h *host) {
		h.b.Record(t0, breaker.Outcome{Kind: breaker.AuthFailure})
	}
	t.Run("open: not probed", func(t *testing.T) {
		h, front, _ := newHost(t, "probes: {enabled: true}", 200)
		openNow(h)
		if rs := round(New(Options{Host: h, FrontDoor: front.URL}), t0.Add(time.Second)); len(rs) != 0 {
			t.Errorf("open target: %d probes, want none", len(rs))
		}
	})
	t.Run("half-open: probed synthetically", func(t *testing.T) {
		h, front, _ := newHost(t, "probes: {enabled: true}", 200)
		h.b = breaker.New("p/m", breaker.Settings{OpenFor: time.Second, AuthOpenFor: time.Second})
		openNow(h)
		rs := round(New(Options{Host: h, FrontDoor: front.URL}), t0.Add(2*time.Second))
		if len(rs) != 1 || !rs[0].HalfOpen {
			t.Fatalf("half-open target: %+v, want one half-open probe", rs)
		}
		// The fake front door records nothing in the breaker: the ended
		// probe gives its slot back (through Envoy the attempt phase has
		// freed it already, and this is a no-op).
		if n := h.b.Snapshot(t0.Add(2 * time.Second)).ProbesInFlight; n != 0 {
			t.Errorf("probes in flight = %d, want 0", n)
		}
	})
	t.Run("half-open with its slot taken: not probed", func(t *testing.T) {
		h, front, got := newHost(t, "probes: {enabled: true}", 200)
		h.b = breaker.New("p/m", breaker.Settings{OpenFor: time.Second, AuthOpenFor: time.Second})
		openNow(h)
		h.b.Admit(t0.Add(2*time.Second), 0)
		if rs := round(New(Options{Host: h, FrontDoor: front.URL}), t0.Add(2*time.Second)); len(rs) != 0 || len(*got) != 0 {
			t.Errorf("slot taken: %d probes, front door got %d; want none", len(rs), len(*got))
		}
	})
	t.Run("half-open, not claimed: the slot is given back", func(t *testing.T) {
		h, front, got := newHost(t, "probes: {enabled: true}", 200)
		h.b = breaker.New("p/m", breaker.Settings{OpenFor: time.Second, AuthOpenFor: time.Second})
		openNow(h)
		if rs := round(New(Options{Host: h, FrontDoor: front.URL, Claimer: refuse{}}), t0.Add(2*time.Second)); len(rs) != 0 || len(*got) != 0 {
			t.Errorf("not claimed: %d probes, front door got %d; want none", len(rs), len(*got))
		}
		if n := h.b.Snapshot(t0.Add(2 * time.Second)).ProbesInFlight; n != 0 || fmt.Sprint(h.skipped) != "[not_claimed]" {
			t.Errorf("probes in flight = %d, skipped %v; want 0 and not_claimed", n, h.skipped)
		}
	})
	t.Run("half-open, front door down: the slot is given back", func(t *testing.T) {
		h, _, _ := newHost(t, "probes: {enabled: true}", 200)
		h.b = breaker.New("p/m", breaker.Settings{OpenFor: time.Second, AuthOpenFor: time.Second})
		openNow(h)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + ln.Addr().String()
		ln.Close()
		rs := round(New(Options{Host: h, FrontDoor: down}), t0.Add(2*time.Second))
		if len(rs) != 1 || rs[0].Outcome != OutcomeError || rs[0].Err == "" {
			t.Fatalf("front door down: %+v, want one probe with an error", rs)
		}
		if n := h.b.Snapshot(t0.Add(2 * time.Second)).ProbesInFlight; n != 0 {
			t.Errorf("probes in flight = %d, want 0", n)
		}
	})
}

// TestOutcomeOf verifies how a probe's status is judged.
func TestOutcomeOf(t *testing.T) {
	for status, want := range map[int]string{200: OutcomeOK, 204: OutcomeOK, 400: OutcomeNeutral, 404: OutcomeNeutral,
		401: OutcomeFailed, 403: OutcomeFailed, 429: OutcomeFailed, 500: OutcomeFailed, 503: OutcomeFailed} {
		if got := outcomeOf(status); got != want {
			t.Errorf("outcomeOf(%d) = %q, want %q", status, got, want)
		}
	}
	if !strings.HasPrefix(truncate(strings.Repeat("x", 300), 200), strings.Repeat("x", 200)) {
		t.Error("truncate cut too much")
	}
}

// firingClock is a clock.Timers whose timers fire at once, at a fixed time.
type firingClock struct{ at time.Time }

func (c firingClock) Now() time.Time { return c.at }
func (c firingClock) NewTimer(time.Duration) clock.Timer {
	ch := make(chan time.Time, 1)
	ch <- c.at
	return firedTimer(ch)
}

type firedTimer chan time.Time

func (t firedTimer) C() <-chan time.Time { return t }
func (t firedTimer) Stop() bool          { return false }

// cancelling is a host that cancels the run after its first probe.
type cancelling struct {
	*host
	cancel context.CancelFunc
}

func (c cancelling) ObserveProbe(r Result) {
	c.host.ObserveProbe(r)
	c.cancel()
}

// TestRun_RoundsOnTheClockUntilCancelled verifies Run sends the due probes
// when its clock's timer fires and returns once its context ends.
func TestRun_RoundsOnTheClockUntilCancelled(t *testing.T) {
	h, front, _ := newHost(t, "probes: {enabled: true}", 200)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(Options{Host: cancelling{h, cancel}, Clock: firingClock{t0}, FrontDoor: front.URL})
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending")
	}
	if len(h.results) != 1 {
		t.Errorf("Run sent %d probes, want 1", len(h.results))
	}
	p.o.Client.CloseIdleConnections()
}
