package replay

import (
	"fmt"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
)

// t0 is the start of the recordings the tests build.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// outageEvents is a recording of n requests a second apart on chain c
// (p/m then q/m) where p/m answered 503 from request from to request to
// (excluded), each such request then answered by q/m: the recorded config
// had no breaker that opened.
func outageEvents(n, from, to int) []events.Event {
	var out []events.Event
	seq := uint64(0)
	add := func(e events.Event) {
		seq++
		e.V, e.Seq, e.Kind, e.Chain, e.Model = events.Version, seq, events.KindAttempt, "c", "m"
		out = append(out, e)
	}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("r%03d", i)
		if i >= from && i < to {
			add(events.Event{Time: at.Add(100 * time.Millisecond), SentAt: at, RequestID: id, From: events.Target{Provider: "p", Model: "m"},
				Attempt: 1, Reason: "overloaded", Outcome: "failure", Status: 503, TTFBMS: 100})
			add(events.Event{Time: at.Add(300 * time.Millisecond), SentAt: at.Add(100 * time.Millisecond), RequestID: id,
				From: events.Target{Provider: "q", Model: "m"}, Attempt: 2, Reason: "success", Outcome: "success", Status: 200, TTFBMS: 200,
				InputTokens: 10, OutputTokens: 5})
			continue
		}
		add(events.Event{Time: at.Add(150 * time.Millisecond), SentAt: at, RequestID: id, From: events.Target{Provider: "p", Model: "m"},
			Attempt: 1, Reason: "success", Outcome: "success", Status: 200, TTFBMS: 150, InputTokens: 10, OutputTokens: 5})
	}
	return out
}

// testConfig is a two-target chain c (p/m, q/m) with the breaker YAML br
// (flow style).
func testConfig(t testing.TB, br string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(`
providers: [{name: p, api: openai, host: localhost, tls: false}, {name: q, api: openai, host: localhost, tls: false}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}, {provider: q, model: m}]}]
breaker: ` + br + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// outageReport replays a 5-minute recording with a 2-minute outage of
// p/m under a candidate whose breaker opens after 3 failures for 30s.
func outageReport(t testing.TB) *Report {
	t.Helper()
	rec, err := FromEvents(outageEvents(300, 60, 180))
	if err != nil {
		t.Fatal(err)
	}
	cand := testConfig(t, "{consecutive_failures: 3, open_for: 30s, jitter: 0, recovery_stages: [0.5, 1.0], recovery_stage_duration: 10s}")
	return Compare(rec, nil, cand, [2]string{"", "candidate.yaml"}, Options{})
}
