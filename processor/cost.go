package processor

import (
	"strconv"
	"strings"

	"github.com/llm-failover/llm-failover/cost"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/telemetry"
)

// This file prices answers in the attempt phase: once an answer's usage is
// known (a held JSON answer, or a stream's end) its cost is computed from
// the target's price (routing.Table.PriceFor), shown in the trace, counted
// in the metrics, published as an answer_cost event and charged to the
// budgets (budget.go).

// answerCost is an answer's usage and what it cost.
type answerCost struct {
	usage  cost.Usage
	usd    float64
	priced bool // the target has a price: usd is known
}

// costAnswer prices the answer whose usage u reported (or, without a
// reported usage, the estimates: the request body's bytes / 4 and
// outTokens) and records it everywhere, once per attempt. An active
// probe's answer is not a client's: its tokens are the probe's own
// (llm_failover_probe_tokens_total, the probe event), and it is neither
// costed here nor charged to a budget.
func (a *attemptStream) costAnswer(u provider.Usage, outTokens int64) {
	if a.cost != nil || a.plan.Probe {
		return
	}
	cu := cost.Usage{Input: u.Prompt, CachedInput: u.Cached, Output: u.Completion}
	if !u.Reported {
		cu = cost.Usage{Input: int64(len(a.preq.Body) / 4), Output: outTokens, Estimated: true}
	}
	c := &answerCost{usage: cu}
	if p, ok := a.st.table.PriceFor(a.plan.Chain, a.target.Provider, a.target.Model); ok {
		c.usd, c.priced = cost.Of(cu, p), true
	}
	a.cost = c
	a.s.tel.CountCost(telemetry.AnswerCost{Chain: a.plan.Chain, Provider: a.target.Provider, Model: a.target.Model,
		Input: cu.Input, Cached: cu.CachedInput, Output: cu.Output, USD: c.usd, Priced: c.priced})
	a.auditCost(c)
	a.chargeBudgets(c)
}

// auditCost publishes the answer_cost event of an answer.
func (a *attemptStream) auditCost(c *answerCost) {
	if a.s.events == nil {
		return
	}
	e := a.attemptEvent(events.KindAnswerCost, a.s.clock.Now())
	e.Status = a.status
	e.InputTokens, e.CachedInputTokens, e.OutputTokens = c.usage.Input, c.usage.CachedInput, c.usage.Output
	e.UsageEstimated = c.usage.Estimated
	if c.priced {
		usd := c.usd
		e.CostUSD = &usd
	}
	a.s.events.Publish(e)
}

// appendCost adds an answer's usage and cost to its trace entry:
// ";tokens=IN/CACHED/OUT;cost_usd=X" (X "unknown" without a price; tokens
// prefixed "~" when estimated).
func appendCost(b *strings.Builder, c *answerCost) {
	if c == nil {
		return
	}
	b.WriteString(";tokens=")
	if c.usage.Estimated {
		b.WriteByte('~')
	}
	b.WriteString(strconv.FormatInt(c.usage.Input, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(c.usage.CachedInput, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(c.usage.Output, 10))
	b.WriteString(";cost_usd=")
	if !c.priced {
		b.WriteString("unknown")
		return
	}
	b.WriteString(strconv.FormatFloat(c.usd, 'f', -1, 64))
}
