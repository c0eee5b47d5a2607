package provider

import (
	"strconv"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// BenchmarkRequestPath measures a request body's way through this package
// as the processor takes it, for 2 KB, 64 KB and 1 MB bodies: Inspect and
// the target's Check (route phase), then its Prepare (attempt phase). The
// per-KB cost is the slope between sizes.
func BenchmarkRequestPath(b *testing.B) {
	for _, api := range []config.API{config.APIOpenAI, config.APIAnthropic, config.APIGemini} {
		for _, size := range []int{2 << 10, 64 << 10, 1 << 20} {
			b.Run(string(api)+"/"+strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
				body := chatBody(size)
				tg := targetFor(api)
				a, _ := For(api)
				ep := tg.ep
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					in, perr := Inspect(body)
					if perr != nil {
						b.Fatal(perr)
					}
					if err := a.Check(&ep, in.Request(body, tg.model)); err != nil {
						b.Fatal(err)
					}
					if _, err := a.Prepare(&ep, in.Request(body, tg.model)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
