package budget

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// FuzzLoadState verifies any state file either loads or is refused with an
// error, never panics, and loads only positive counters of configured
// budgets' current windows.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"v":1,"saved":"2026-03-31T22:30:00Z","counters":[{"key":"b|day|tokens","window_start":"2026-03-31T00:00:00Z","value":5}]}`))
	f.Add([]byte(`{"v":1,"counters":[{"key":"b|day|tokens","window_start":"2026-03-30T00:00:00Z","value":5},{"key":"x","value":-1}]}`))
	f.Add([]byte(`{"v":1,"counters":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"v":1,"counters":[{"key":"b|day|tokens","window_start":"2026-03-31T05:00:00Z","value":5}]}`))
	cfg := &config.Budgets{List: []config.Budget{{Name: "b", Window: config.WindowDay, Tokens: 100}}}
	config.ApplyBudgetDefaults(cfg)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		l := NewLocal()
		s := NewSet(cfg, l)
		n, err := NewPersister(path, time.Minute, l, nil).Load(t0, s.WindowEndOf)
		if err != nil && n != 0 {
			t.Fatalf("Load: %d counters with error %v", n, err)
		}
		for _, c := range l.Snapshot() {
			if c.Key != "b|day|tokens" || c.Value <= 0 || !c.Start.Equal(WindowStart(config.WindowDay, t0)) {
				t.Fatalf("loaded %+v: not a positive counter of the current day of budget b", c)
			}
		}
	})
}
