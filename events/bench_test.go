package events

import (
	"fmt"
	"testing"
)

// BenchmarkBus_Publish measures Publish, the hot path's cost, with 0, 1
// and 8 subscribers that never read (every delivery after the buffer fills
// is a counted drop, the worst case for a subscriber), from parallel
// publishers as the ext_proc streams are.
func BenchmarkBus_Publish(b *testing.B) {
	for _, subs := range []int{0, 1, 8} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			bus := NewBus(Options{})
			for range subs {
				if _, err := bus.Subscribe(SubscribeOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			e := Event{Kind: KindFailover, RequestID: "5f2c1b7e-0d7e-4d1e-9b1e-3c9d3a7c1f00", Chain: "premium",
				From: Target{"openai", "gpt-4o"}, To: Target{"groq", "llama-3.3-70b-versatile"}, Reason: "overloaded",
				Status: 503, Attempt: 1, AddedLatencyMS: 120, Detail: "overloaded: upstream busy"}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bus.Publish(e)
				}
			})
		})
	}
}
