package fleet_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fleet"
	"github.com/llm-failover/llm-failover/fleet/redistest"
	"github.com/llm-failover/llm-failover/routing"
)

// BenchmarkPlan measures one request's local routing work (plan, then the
// attempt's outcome recorded) with fleet mode off, on, and on with shared
// counting: the fleet adds only a non-blocking hook to it. Compare the
// ns/op of the three in one run.
func BenchmarkPlan(b *testing.B) {
	rd := redistest.Start(b)
	for _, mode := range []struct {
		name         string
		fleet, share bool
	}{{"fleet=off", false, false}, {"fleet=on", true, false}, {"fleet=on,shared_counting", true, true}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg, err := config.Parse([]byte(fleetYAML + breakerYAML))
			if err != nil {
				b.Fatal(err)
			}
			reg := routing.NewRegistry(nil, nil)
			table := routing.NewTable(cfg, reg, rand.Float64)
			if mode.fleet {
				fc := cfg.Fleet
				fc.Redis.Address, fc.Redis.KeyPrefix, fc.SharedCounting = rd.Addr(), "bench-"+mode.name+":", mode.share
				f, err := fleet.New(fleet.Options{Config: fc, Registry: reg})
				if err != nil {
					b.Fatal(err)
				}
				f.Start()
				defer f.Close()
			}
			ch := table.Config().Chain("main")
			ok := breaker.Outcome{Kind: breaker.Success, Latency: time.Millisecond}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := table.Plan(ch, time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				table.Breaker(ch, 0).Record(time.Time{}, ok)
				_ = p
			}
		})
	}
}
