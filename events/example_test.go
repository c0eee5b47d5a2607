package events_test

import (
	"fmt"
	"os"
	"time"

	"github.com/llm-failover/llm-failover/events"
)

type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }

// A subscriber that joins late gets the recent history as its backlog,
// then live events; each event encodes as one JSON line.
func ExampleBus() {
	bus := events.NewBus(events.Options{Clock: fixed(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))})
	bus.Publish(events.Event{Kind: events.KindBreakerTransition, From: events.ParseTarget("openai/gpt-4o"),
		Reason: "consecutive failures", BreakerFrom: "closed", BreakerTo: "open", Failures: 3})
	sub, err := bus.Subscribe(events.SubscribeOptions{})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	bus.Publish(events.Event{Kind: events.KindFailover, RequestID: "r1", Chain: "premium",
		From: events.ParseTarget("openai/gpt-4o"), To: events.ParseTarget("groq/llama-3.3-70b-versatile"),
		Reason: "overloaded", Status: 503, Attempt: 1, AddedLatencyMS: 120})
	for _, e := range append(sub.Backlog, <-sub.C()) {
		line, _ := events.Encode(e)
		os.Stdout.Write(line)
	}
	fmt.Println(bus.Stats())
	// Output:
	// {"v":1,"seq":1,"time":"2026-11-30T10:00:00Z","kind":"breaker_transition","from":{"provider":"openai","model":"gpt-4o"},"reason":"consecutive failures","breaker_from":"closed","breaker_to":"open","failures":3}
	// {"v":1,"seq":2,"time":"2026-11-30T10:00:00Z","kind":"failover","request_id":"r1","chain":"premium","from":{"provider":"openai","model":"gpt-4o"},"to":{"provider":"groq","model":"llama-3.3-70b-versatile"},"reason":"overloaded","status":503,"attempt":1,"added_latency_ms":120}
	// {2 0 1}
}
