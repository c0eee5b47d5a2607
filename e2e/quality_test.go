package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
)

// The quality stack: one chain per first provider (openai, azure,
// anthropic, gemini, each a fakellm in that shape), each failing over to
// qGood (an OpenAI fakellm), with every quality check on.
const qGood = "good"

// qFirst are the providers a quality chain starts with, and their APIs.
var qFirst = []struct{ name, api string }{
	{"q-openai", "openai"},
	{"q-azure", "azure-openai"},
	{"q-anthropic", "anthropic"},
	{"q-gemini", "gemini"},
}

// qModel is the client model selecting the chain that starts with name.
func qModel(name string) string { return name + "-first" }

var setQualityKeys sync.Once

// newQualityStack starts a local stack on matrix entry v with the quality
// chains; edit, when set, rewrites its config.
func newQualityStack(t *testing.T, v string, edit func(string) string) *stack {
	t.Helper()
	if externalURL() != "" {
		t.Skip("skipped against E2E_ENVOY_URL: needs the quality chains on four provider kinds")
	}
	version, backport := envoyVersion(v)
	s := &stack{t: t, version: version, backport45355: backport, local: true, fakes: map[string]fake{}, clock: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	var b strings.Builder
	b.WriteString("server: {stream_first_event_timeout: 1s}\nproviders:\n")
	all := append(qFirst, struct{ name, api string }{qGood, "openai"})
	for _, p := range all {
		f := fakellm.StartTB(t, fakellm.Options{Name: p.name})
		s.fakes[p.name] = f
		host, port, _ := net.SplitHostPort(f.Addr)
		fmt.Fprintf(&b, "  - {name: %s, api: %s, host: %s, port: %s, tls: false, auth: {key_env: E2E_Q_KEY}}\n", p.name, p.api, host, port)
	}
	setQualityKeys.Do(func() {
		if err := os.Setenv("E2E_Q_KEY", providerKey("quality")); err != nil {
			t.Fatal(err)
		}
	})
	b.WriteString("chains:\n")
	for _, p := range qFirst {
		fmt.Fprintf(&b, "  - name: %s\n    match: {models: [%s]}\n    targets: [{provider: %s, model: %s}, {provider: %s, model: %s}]\n",
			p.name, qModel(p.name), p.name, xModel(p.name), qGood, xModel(qGood))
		b.WriteString("    quality: {empty: true, invalid_json: true, truncated_below: 0.5, refusal: true}\n")
	}
	b.WriteString("breaker: {consecutive_failures: 3, open_for: 30s, jitter: 0}\nlimits: {max_body_bytes: 64KiB}\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.grpcAddr = ln.Addr().String()
	fmt.Fprintf(&b, "envoy: {ext_proc_address: %q, per_try_timeout: 5s, retry_base_interval: 1ms}\n", s.grpcAddr)
	cfg := b.String()
	if edit != nil {
		cfg = edit(cfg)
	}
	s.startFront(ln, cfg)
	return s
}

// qualityCase is one poor answer and the check that catches it.
type qualityCase struct {
	kind   fakellm.Kind
	reason string // the trace's quality=<reason>
	stream bool   // decidable on a stream
}

var qualityCases = []qualityCase{
	{fakellm.KindEmptyAnswer, "empty", true},
	{fakellm.KindNotJSON, "invalid_json", false},
	{fakellm.KindTruncated, "truncated", true},
	{fakellm.KindRefusal, "refusal", true},
}

// checkQualityFailover verifies the answer came from qGood on attempt 2,
// after first's attempt failed the quality check reason.
func checkQualityFailover(t *testing.T, h http.Header, first, reason string) {
	t.Helper()
	tr := h.Get("x-llm-failover-trace")
	if got := h.Get("x-llm-failover-provider"); got != qGood {
		t.Fatalf("answered by %q, want %q (trace %q)", got, qGood, tr)
	}
	want := "attempt=1;provider=" + first + ";model=" + xModel(first) + ";outcome=quality;status=200;"
	if !strings.Contains(tr, want) || !strings.Contains(tr, ";quality="+reason+", attempt=2;provider="+qGood) {
		t.Errorf("trace %q: want attempt 1 %s... quality=%s, then attempt 2 on %s", tr, want, reason, qGood)
	}
}

// TestQuality_ChatCompletionsFailsOverPoorAnswers verifies, through the
// front door with the SDK's Chat Completions, that each provider's empty,
// non-JSON, truncated and refused answer is failed over to the next target,
// whole and streamed (invalid JSON is not decidable on a stream: the
// stream reaches the client), with the check named in the trace.
func TestQuality_ChatCompletionsFailsOverPoorAnswers(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newQualityStack(t, v, nil)
		for _, p := range qFirst {
			for _, c := range qualityCases {
				for _, stream := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/stream=%v", p.name, c.reason, stream)
					s.setFaults(p.name, fakellm.Fault{Kind: c.kind})
					params := openai.ChatCompletionNewParams{
						Model:     qModel(p.name),
						Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
						MaxTokens: openai.Int(100),
					}
					if c.kind == fakellm.KindNotJSON {
						params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
					}
					ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
					var resp *http.Response
					var text string
					var err error
					if stream {
						st := s.client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&resp))
						var acc openai.ChatCompletionAccumulator
						for st.Next() {
							acc.AddChunk(st.Current())
						}
						err = st.Err()
						st.Close()
						if len(acc.Choices) > 0 {
							text = acc.Choices[0].Message.Content
						}
					} else {
						var cc *openai.ChatCompletion
						cc, err = s.client.Chat.Completions.New(ctx, params, option.WithResponseInto(&resp))
						if err == nil && len(cc.Choices) > 0 {
							text = cc.Choices[0].Message.Content
						}
					}
					cancel()
					s.fakes[p.name].ClearFaults()
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if stream && !c.stream {
						if got := resp.Header.Get("x-llm-failover-provider"); got != p.name {
							t.Errorf("%s: answered by %q, want %q (not judged on a stream)", name, got, p.name)
						}
						continue
					}
					checkQualityFailover(t, resp.Header, p.name, c.reason)
					if c.kind == fakellm.KindNotJSON {
						text = strings.TrimSpace(text)
						if !strings.HasPrefix(text, "{") {
							t.Errorf("%s: answer %q is not the good provider's JSON", name, text)
						}
					} else if !strings.Contains(text, "Hello from "+qGood) {
						t.Errorf("%s: answer %q, want the good provider's", name, text)
					}
				}
			}
		}
	})
}

// TestQuality_ResponsesFailsOverPoorAnswers verifies the same through
// the SDK's Responses API: OpenAI and Azure answer natively, Anthropic
// and Gemini through the translation.
func TestQuality_ResponsesFailsOverPoorAnswers(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newQualityStack(t, v, nil)
		for _, p := range qFirst {
			for _, c := range qualityCases {
				for _, stream := range []bool{false, true} {
					name := fmt.Sprintf("%s/%s/stream=%v", p.name, c.reason, stream)
					s.setFaults(p.name, fakellm.Fault{Kind: c.kind})
					params := textParams(qModel(p.name))
					params.MaxOutputTokens = openai.Int(100)
					if c.kind == fakellm.KindNotJSON {
						params.Text = responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}}
					}
					var text string
					var h http.Header
					if stream {
						txt, _, _, resp, err := s.streamResponse(params)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						text, h = txt, resp.Header
					} else {
						r, resp, err := s.newResponse(params)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						text, h = r.OutputText(), resp.Header
					}
					s.fakes[p.name].ClearFaults()
					if stream && !c.stream {
						if got := h.Get("x-llm-failover-provider"); got != p.name {
							t.Errorf("%s: answered by %q, want %q (not judged on a stream)", name, got, p.name)
						}
						continue
					}
					checkQualityFailover(t, h, p.name, c.reason)
					if c.kind != fakellm.KindNotJSON && !strings.Contains(text, "Hello from "+qGood) {
						t.Errorf("%s: answer %q, want the good provider's", name, text)
					}
				}
			}
		}
	})
}

// TestQuality_LastAttemptServesThePoorAnswer verifies that a poor answer
// on the last planned attempt reaches the client as it is (200, the
// refusal), recorded as quality in the trace and as an exhausted chain
// with reason quality in the audit trail.
func TestQuality_LastAttemptServesThePoorAnswer(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newQualityStack(t, v, func(cfg string) string {
			return strings.Replace(cfg, ", {provider: "+qGood+", model: "+xModel(qGood)+"}]", "]", 1) // q-openai alone
		})
		s.startAudit()
		s.setFaults("q-openai", fakellm.Fault{Kind: fakellm.KindRefusal})
		var resp *http.Response
		cc, err := s.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: qModel("q-openai"), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello.")},
		}, option.WithResponseInto(&resp), option.WithRequestTimeout(requestTimeout))
		if err != nil {
			t.Fatal(err)
		}
		if got := cc.Choices[0].Message.Refusal; !strings.Contains(got, "sorry") {
			t.Errorf("refusal = %q, want the provider's refusal", got)
		}
		if tr := resp.Header.Get("x-llm-failover-trace"); !strings.Contains(tr, "outcome=quality;status=200;") || !strings.Contains(tr, ";quality=refusal") {
			t.Errorf("trace %q, want outcome quality, quality=refusal", tr)
		}
		s.waitSettled()
		var found bool
		for _, e := range s.auditLines() {
			if e.Kind == events.KindExhausted && e.Reason == "quality" && e.Quality == "refusal" && e.From.Provider == "q-openai" {
				found = true
			}
		}
		if !found {
			t.Errorf("no exhausted event with reason quality, quality refusal")
		}
	})
}

// TestQuality_DegradedTargetIsRoutedAround verifies the breaker's quality
// trigger: once half of a target's answers in the window failed quality
// checks, its breaker opens (reason quality) and the next request goes
// straight to the next target, its first attempt; /metrics counts each
// quality failure by reason, as attempts with outcome quality, as
// failovers with reason quality, and the breaker's transition.
func TestQuality_DegradedTargetIsRoutedAround(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newQualityStack(t, v, func(cfg string) string {
			return strings.Replace(cfg, "breaker: {", "breaker: {triggers: {quality: {threshold: 0.5, window: 1m, min_requests: 2}}, ", 1)
		})
		s.setFaults("q-anthropic", fakellm.Fault{Kind: fakellm.KindEmptyAnswer, Times: -1})
		for range 2 {
			r := s.chatModel(qModel("q-anthropic"))
			if r.err != nil {
				t.Fatalf("request: %v", r.err)
			}
			checkQualityFailover(t, r.resp.Header, "q-anthropic", "empty")
		}
		s.waitSettled()
		b := s.proc.Registry().Lookup("q-anthropic/" + xModel("q-anthropic"))
		if sn := b.Snapshot(s.clock.Now()); sn.State.String() != "open" || sn.Opened.Reason != "quality" {
			t.Fatalf("breaker %v (reason %q), want open for quality", sn.State, sn.Opened.Reason)
		}
		n := s.fakes["q-anthropic"].Count()
		r := s.chatModel(qModel("q-anthropic"))
		if r.err != nil {
			t.Fatalf("request: %v", r.err)
		}
		if got, att := r.header("x-llm-failover-provider"), r.header("x-llm-failover-attempt"); got != qGood || att != "1" {
			t.Errorf("answered by %s on attempt %s, want %s on attempt 1 (trace %q)", got, att, qGood, r.header("x-llm-failover-trace"))
		}
		if got := s.fakes["q-anthropic"].Count(); got != n {
			t.Errorf("the degraded target got %d more requests, want 0", got-n)
		}
		var m strings.Builder
		if err := s.proc.WriteMetrics(&m); err != nil {
			t.Fatal(err)
		}
		target := `model="` + xModel("q-anthropic") + `",provider="q-anthropic"`
		for _, w := range []string{
			`llm_failover_quality_failures_total{chain="q-anthropic",` + target + `,reason="empty"} 2`,
			`llm_failover_attempts_total{model="` + xModel("q-anthropic") + `",outcome="quality",provider="q-anthropic"} 2`,
			`llm_failover_failovers_total{chain="q-anthropic",from_model="` + xModel("q-anthropic") + `",from_provider="q-anthropic",reason="quality",to_model="` + xModel(qGood) + `",to_provider="` + qGood + `"} 2`,
			`llm_failover_breaker_transitions_total{from="closed",` + target + `,reason="quality",to="open"} 1`,
		} {
			if !strings.Contains(m.String(), w) {
				t.Errorf("metrics: got no %s", w)
			}
		}
	})
}
