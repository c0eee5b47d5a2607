package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3/option"

	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/processor"
)

// costUsage is what every fake reports in the cost scenarios: 1000 prompt
// tokens (200 of them cached) and 500 completion tokens.
var costUsage = fakellm.Usage{Prompt: 1000, Cached: 200, Completion: 500}

// The suite's targets priced: primary dear (tier 3), secondary cheap (tier
// 1), tertiary cheapest by price but tier 2. At costUsage an answer costs
// primary 0.024 (800×10 + 200×5 + 500×30 per million), secondary 0.002,
// tertiary 0.001 USD.
var costTargets = map[string]string{
	"primary":   "price: {input: 10, cached_input: 5, output: 30}, cost_tier: 3",
	"secondary": "price: {input: 1, output: 2}, cost_tier: 1",
	"tertiary":  "price: {input: 0.5, output: 1}, cost_tier: 2",
}

// priced edits the suite's config: prices and tiers on the targets, and
// budgets (YAML list items, may be empty) with the budgets section's extra
// fields.
func priced(budgets, section string) func(string) string {
	return func(cfg string) string {
		for n, extra := range costTargets {
			cfg = strings.Replace(cfg, "{provider: "+n+", model: "+targetModel(n)+"}",
				"{provider: "+n+", model: "+targetModel(n)+", "+extra+"}", 1)
		}
		if budgets != "" || section != "" {
			cfg += "budgets:\n" + section + "  list:\n" + budgets
		}
		return cfg
	}
}

// setUsage makes every fake of s report u.
func setUsage(t *testing.T, s *stack, u fakellm.Usage) {
	t.Helper()
	s.needLocal("fakellm usage set in process")
	for n, f := range s.fakes {
		if err := f.(*fakellm.Running).SetUsage(u); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
}

// metricsText is the server's /metrics page.
func (s *stack) metricsText() string {
	s.t.Helper()
	var b strings.Builder
	if err := s.proc.WriteMetrics(&b); err != nil {
		s.t.Fatal(err)
	}
	return b.String()
}

// TestCost_AnswerCostInTraceMetricsAndAudit verifies a non-streamed
// answer's tokens and cost in its trace header, the cost and token
// counters, and an answer_cost event per answer, streamed ones included.
func TestCost_AnswerCostInTraceMetricsAndAudit(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: priced("", "")})
		setUsage(t, s, costUsage)
		r := s.chat()
		s.mustOK(r, "primary")
		if tr := r.header("x-llm-failover-trace"); !strings.HasSuffix(tr, ";tokens=1000/200/500;cost_usd=0.024") {
			t.Fatalf("trace: got %q, want the answer's tokens and cost_usd=0.024", tr)
		}
		st := s.chatStream()
		if st.err != nil || st.usageChunk == nil || st.usageChunk.Usage.PromptTokens != 1000 {
			t.Fatalf("stream: %v, usage chunk %+v\n%s", st.err, st.usageChunk, st.raw)
		}
		s.waitSettled()
		text := s.metricsText()
		for _, w := range []string{
			`llm_failover_cost_usd_total{chain="main",model="primary-model",provider="primary"} 0.048`,
			`llm_failover_tokens_total{chain="main",model="primary-model",provider="primary",type="input"} 2000`,
			`llm_failover_tokens_total{chain="main",model="primary-model",provider="primary",type="cached_input"} 400`,
			`llm_failover_tokens_total{chain="main",model="primary-model",provider="primary",type="output"} 1000`,
		} {
			if !strings.Contains(text, w) {
				t.Errorf("metrics: got no %s", w)
			}
		}
		var costs []events.Event
		for _, e := range s.auditLines() {
			if e.Kind == events.KindAnswerCost {
				costs = append(costs, e)
			}
		}
		if len(costs) != 2 {
			t.Fatalf("answer_cost events: got %d (%+v), want 2", len(costs), costs)
		}
		for _, e := range costs {
			if e.From.Provider != "primary" || e.Chain != "main" || e.InputTokens != 1000 || e.CachedInputTokens != 200 ||
				e.OutputTokens != 500 || e.CostUSD == nil || *e.CostUSD != 0.024 || e.UsageEstimated || e.Attempt != 1 {
				t.Errorf("answer_cost: got %+v (cost %v), want primary's 1000/200/500 tokens at 0.024 USD", e, e.CostUSD)
			}
		}
	})
}

// TestCost_UnpricedTargetsAcrossProvidersShowUnknown verifies the usage an
// Anthropic and a Gemini provider report (cached tokens in their own
// fields) reaches the trace translated, and that targets without a price
// show cost_usd=unknown and count as unknown, not 0.
func TestCost_UnpricedTargetsAcrossProvidersShowUnknown(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newCrossStack(t, v)
		setUsage(t, s, costUsage)
		for _, name := range []string{xAnthropic, xGemini} {
			if name == xGemini {
				failFirst(t, s, 503, xAnthropic)
			}
			r := s.chatModel(claudeFirstModel)
			if r.err != nil {
				t.Fatalf("%s: %v\n%s", name, r.err, r.errBody)
			}
			if got := r.header("x-llm-failover-provider"); got != name {
				t.Fatalf("answered by %q, want %s", got, name)
			}
			if tr := r.header("x-llm-failover-trace"); !strings.HasSuffix(tr, ";tokens=1000/200/500;cost_usd=unknown") {
				t.Fatalf("%s trace: got %q, want tokens=1000/200/500;cost_usd=unknown", name, tr)
			}
			if u := r.completion.Usage; u.PromptTokens != 1000 || u.PromptTokensDetails.CachedTokens != 200 || u.CompletionTokens != 500 {
				t.Fatalf("%s usage: got %+v", name, u)
			}
		}
		s.waitSettled()
		text := s.metricsText()
		for _, name := range []string{xAnthropic, xGemini} {
			w := fmt.Sprintf(`llm_failover_cost_unknown_total{chain="claude-first",model=%q,provider=%q} 1`, xModel(name), name)
			if !strings.Contains(text, w) {
				t.Errorf("metrics: got no %s", w)
			}
		}
		if strings.Contains(text, `llm_failover_cost_usd_total{chain="claude-first"`) {
			t.Errorf("metrics: an unpriced answer was counted in llm_failover_cost_usd_total")
		}
	})
}

// answeredBy sends n chat requests and returns who answered each, and the
// x-llm-failover-budget header of each.
func answeredBy(t *testing.T, s *stack, n int) (who, budgets []string) {
	t.Helper()
	for range n {
		r := s.chat()
		if r.err != nil {
			t.Fatalf("request %d: %v\n%s", len(who)+1, r.err, r.errBody)
		}
		who = append(who, r.header("x-llm-failover-provider"))
		budgets = append(budgets, r.header("x-llm-failover-budget"))
	}
	return who, budgets
}

// TestBudget_WarningThenCapMoveThePlansMidRun verifies a dollar budget
// crossing its warning share mid-run moves the plans to the cheapest tier
// first (secondary, tier 1), and once exhausted with exhausted: cap plans
// only targets under the cap, cheapest price first (tertiary), with the
// header and the budget events saying so.
func TestBudget_WarningThenCapMoveThePlansMidRun(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: priced(
			"    - {name: main-usd, chain: main, usd: 0.06, warn: 0.5, exhausted: cap, price_cap: {input: 1, output: 2}}\n", "")})
		setUsage(t, s, costUsage)
		// 0.024 each on primary: the second crosses 0.03 (the warning);
		// then 0.002 each on secondary: the eighth reaches 0.06 (the limit).
		who, budgets := answeredBy(t, s, 9)
		want := []string{"primary", "primary", "secondary", "secondary", "secondary", "secondary", "secondary", "secondary", "tertiary"}
		if strings.Join(who, ",") != strings.Join(want, ",") {
			t.Fatalf("answered by: got %v, want %v", who, want)
		}
		w := "state=warning;budget=main-usd"
		wantHeaders := []string{"", "", w, w, w, w, w, w, "state=capped;budget=main-usd"}
		if strings.Join(budgets, ",") != strings.Join(wantHeaders, ",") {
			t.Fatalf("x-llm-failover-budget: got %q, want %q", budgets, wantHeaders)
		}
		s.waitSettled()
		if text := s.metricsText(); !strings.Contains(text, `llm_failover_budget_used_share{budget="main-usd",unit="usd"} 1.0`) ||
			!strings.Contains(text, `llm_failover_budget_decisions_total{budget="main-usd",state="capped"} 1`) {
			t.Errorf("metrics: no used share 1.01 or capped decision for main-usd:\n%s", grepLines(text, "budget"))
		}
		var crossed []string
		for _, e := range s.auditLines() {
			if e.Kind == events.KindBudget {
				crossed = append(crossed, e.Budget+":"+e.Reason)
			}
		}
		if strings.Join(crossed, ",") != "main-usd:warning,main-usd:exhausted" {
			t.Fatalf("budget events: got %v, want the warning then the exhaustion of main-usd", crossed)
		}
	})
}

// grepLines returns the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBudget_ExhaustedRefusesUntilTheWindowEnds verifies a token budget
// that refuses answers 429 budget_exceeded with Retry-After at the hour's
// end once exhausted, never reaching a provider, and serves again in the
// next window.
func TestBudget_ExhaustedRefusesUntilTheWindowEnds(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newStack(t, v, stackOpts{edit: priced("    - {name: main-tokens, chain: main, window: hour, tokens: 3000}\n", "")})
		setUsage(t, s, costUsage)
		who, _ := answeredBy(t, s, 2) // 1500 tokens each: exactly 3000
		if strings.Join(who, ",") != "primary,primary" {
			t.Fatalf("answered by %v, want primary twice (the answer reaching the limit is served)", who)
		}
		s.clock.Advance(15 * time.Minute)
		s.resetFakes()
		r := s.chat()
		if r.status() != 429 || r.apiErr == nil || r.apiErr.Code != "budget_exceeded" || r.apiErr.Type != "insufficient_quota" {
			t.Fatalf("over budget: got %d %v\n%s", r.status(), r.err, r.errBody)
		}
		if got := r.header("retry-after"); got != "2700" {
			t.Fatalf("Retry-After: got %q, want 2700 (the hour's end)", got)
		}
		if got := r.header("x-llm-failover-budget"); got != "state=refused;budget=main-tokens" {
			t.Fatalf("x-llm-failover-budget: got %q", got)
		}
		for n, f := range s.fakes {
			if c := f.Count(); c != 0 {
				t.Fatalf("%s got %d requests after the budget was exhausted, want 0", n, c)
			}
		}
		s.clock.Advance(45 * time.Minute)
		s.mustOK(s.chat(), "primary")
	})
}

// restartServer saves the budgets, stops the ext_proc server and serves a
// new processor with the same configuration on the same address (an
// llm-failover restart behind the same Envoy).
func (s *stack) restartServer() {
	s.t.Helper()
	s.waitSettled()
	if err := s.proc.SaveBudgets(); err != nil {
		s.t.Fatal(err)
	}
	s.stopExtProc()
	cfg, err := s.parseConfig(s.cfgYAML)
	if err != nil {
		s.t.Fatal(err)
	}
	proc, err := processor.New(processor.Options{Config: cfg, Clock: s.clock, Events: s.startAudit()})
	if err != nil {
		s.t.Fatal(err)
	}
	var ln net.Listener
	for range 50 {
		if ln, err = net.Listen("tcp", s.grpcAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("relisten %s: %v", s.grpcAddr, err)
	}
	s.proc = proc
	s.serveGRPC(ln)
}

// TestBudget_RestartKeepsTheCounters verifies the budget counters survive
// a restart through budgets.state_file: a budget exhausted before the
// restart still refuses after it.
func TestBudget_RestartKeepsTheCounters(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		state := filepath.Join(t.TempDir(), "budgets.json")
		s := newStack(t, v, stackOpts{edit: priced("    - {name: main-tokens, chain: main, window: day, tokens: 3000}\n",
			fmt.Sprintf("  state_file: %q\n", state))})
		setUsage(t, s, costUsage)
		answeredBy(t, s, 2)
		s.restartServer()
		r := s.chat()
		if r.status() != 429 || r.apiErr == nil || r.apiErr.Code != "budget_exceeded" {
			t.Fatalf("after restart: got %d %v, want 429 budget_exceeded\n%s", r.status(), r.err, r.errBody)
		}
		if got := r.header("retry-after"); got != "86400" {
			t.Fatalf("Retry-After: got %q, want 86400 (the day's end)", got)
		}
	})
}

// TestCost_ResponsesAPIJSONAndStream verifies the Responses API's answers
// are costed too: an Anthropic answer translated to a response object
// shows its tokens in the trace, and a streamed one publishes its usage
// (cached tokens included) in answer_cost at the stream's end.
func TestCost_ResponsesAPIJSONAndStream(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s, _ := newResponsesStack(t, v)
		setUsage(t, s, costUsage)
		_, resp, err := s.newResponse(textParams(claudeFirstModel))
		if err != nil {
			t.Fatal(err)
		}
		if tr := resp.Header.Get("x-llm-failover-trace"); !strings.HasSuffix(tr, ";tokens=1000/200/500;cost_usd=unknown") {
			t.Fatalf("trace: got %q, want the translated usage and cost_usd=unknown", tr)
		}
		_, _, final, _, err := s.streamResponse(textParams(claudeFirstModel))
		if err != nil || final == nil || final.Usage.InputTokens != 1000 || final.Usage.InputTokensDetails.CachedTokens != 200 {
			t.Fatalf("stream: %v, final %+v", err, final)
		}
		s.waitSettled()
		var got []string
		for _, e := range s.auditLines() {
			if e.Kind == events.KindAnswerCost {
				got = append(got, fmt.Sprintf("%s %d/%d/%d estimated=%v priced=%v", e.From.Provider, e.InputTokens, e.CachedInputTokens, e.OutputTokens, e.UsageEstimated, e.CostUSD != nil))
			}
		}
		want := "anthropic 1000/200/500 estimated=false priced=false"
		if len(got) != 2 || got[0] != want || got[1] != want {
			t.Fatalf("answer_cost events: got %q, want twice %q", got, want)
		}
	})
}

// TestCost_EmbeddingsAnswersAreCosted verifies an embeddings answer's usage
// (prompt tokens only) reaches its trace entry and the token counter.
func TestCost_EmbeddingsAnswersAreCosted(t *testing.T) {
	forVersions(t, func(t *testing.T, entry string) {
		s := newEmbedStack(t, entry)
		_, resp, err := s.embed(embedModel, "hello")
		if err != nil {
			t.Fatal(err)
		}
		if tr := resp.Header.Get("x-llm-failover-trace"); !strings.HasSuffix(tr, ";tokens=4/0/0;cost_usd=unknown") {
			t.Fatalf("trace: got %q, want tokens=4/0/0;cost_usd=unknown", tr)
		}
		s.waitSettled()
		if w := `llm_failover_tokens_total{chain="embed",model="embed-openai-model",provider="embed-openai",type="input"} 4`; !strings.Contains(s.metricsText(), w) {
			t.Fatalf("metrics: got no %s", w)
		}
	})
}

// TestBudget_PerClientCountsOnlyThatClient verifies a budget of one client
// of the clients policy refuses that client once exhausted while another
// caller (unknown, allowed by the default policy) is still served.
func TestBudget_PerClientCountsOnlyThatClient(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		budgets := priced("    - {name: team-a-tokens, client: team-a, window: day, tokens: 1500}\n", "")
		clients := withClients("  default: {action: allow}\n  list:\n    - {name: team-a, api_keys: [\"" + clientKeyHash + "\"]}\n")
		s := newStack(t, v, stackOpts{edit: func(cfg string) string { return clients(budgets(cfg)) }})
		setUsage(t, s, costUsage)
		s.mustOK(s.chat(), "primary") // 1500 tokens: team-a's budget is spent
		s.resetFakes()
		s.mustRefuse(s.chat(), 429, "budget_exceeded")
		s.mustOK(s.chat(option.WithHeaderDel("authorization")), "primary") // an unknown caller: another budget
	})
}
