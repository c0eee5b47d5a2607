package budget

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/cost"
)

var t0 = time.Date(2026, 3, 31, 22, 30, 0, 0, time.UTC)

// TestWindow_StartsAndEndsOnUTCCalendarBoundaries verifies each window
// starts at its UTC calendar boundary and ends at the next one, across a
// month's end and from another time zone.
func TestWindow_StartsAndEndsOnUTCCalendarBoundaries(t *testing.T) {
	berlin := time.FixedZone("CEST", 2*3600)
	for _, tc := range []struct {
		w          config.BudgetWindow
		now        time.Time
		start, end time.Time
	}{
		{config.WindowHour, t0, time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)},
		{config.WindowDay, t0, time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{config.WindowMonth, t0, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{config.WindowDay, t0.In(berlin), time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{config.WindowMonth, time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		start := WindowStart(tc.w, tc.now)
		if !start.Equal(tc.start) || !WindowEnd(tc.w, start).Equal(tc.end) {
			t.Errorf("%s at %s: got %s..%s, want %s..%s", tc.w, tc.now, start, WindowEnd(tc.w, start), tc.start, tc.end)
		}
	}
}

// TestLocal_ConcurrentAddsAreExact is the property test of the counters:
// many goroutines charging at once, across a window change, lose and
// double-count nothing, and Get reads the exact sum.
func TestLocal_ConcurrentAddsAreExact(t *testing.T) {
	for round := range 20 {
		l := NewLocal()
		w1, w2 := t0, t0.Add(time.Hour)
		const goroutines, adds = 32, 500
		var wg sync.WaitGroup
		var want1, want2 [goroutines]int64
		for g := range goroutines {
			wg.Go(func() {
				for i := range adds {
					amount := int64(g*7+i%13) + 1
					if g%2 == 0 || i < adds/2 {
						l.Add("k", w1, amount)
						want1[g] += amount
					}
				}
			})
		}
		wg.Wait()
		var sum1 int64
		for _, v := range want1 {
			sum1 += v
		}
		if got := l.Get("k", w1); got != sum1 {
			t.Fatalf("round %d: window 1: got %d, want %d", round, got, sum1)
		}
		for g := range goroutines {
			wg.Go(func() {
				for i := range adds {
					amount := int64(i%5) + 1
					l.Add("k", w2, amount)
					want2[g] += amount
				}
			})
		}
		wg.Wait()
		var sum2 int64
		for _, v := range want2 {
			sum2 += v
		}
		if got := l.Get("k", w2); got != sum2 {
			t.Fatalf("round %d: window 2: got %d, want %d", round, got, sum2)
		}
		if got := l.Get("k", w1); got != 0 {
			t.Fatalf("round %d: the ended window reads %d, want 0", round, got)
		}
		if got := l.Add("k", w1, 5); got != 0 {
			t.Fatalf("round %d: an add to the ended window returned %d, want 0 (dropped)", round, got)
		}
	}
}

// TestSet_ConcurrentChargesCrossEachThresholdOnce verifies charges from
// many goroutines count exactly and report the warning and the limit
// crossing exactly once each.
func TestSet_ConcurrentChargesCrossEachThresholdOnce(t *testing.T) {
	warn := 0.5
	s := NewSet(&config.Budgets{List: []config.Budget{{Name: "b", Window: config.WindowDay, Tokens: 10_000, Warn: &warn, Exhausted: config.BudgetRefuse}}}, NewLocal())
	var mu sync.Mutex
	crossings := map[State]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			for range 100 {
				for _, c := range s.Charge(Charge{Chain: "c", Tokens: 3}, t0) {
					mu.Lock()
					crossings[c.State]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	var used int64
	s.Each(t0, func(u Usage) { used = u.Used })
	if used != 40*100*3 {
		t.Fatalf("used: got %d, want %d", used, 40*100*3)
	}
	if crossings[Warning] != 1 || crossings[Refused] != 1 || len(crossings) != 2 {
		t.Fatalf("crossings: got %v, want one warning and one refused", crossings)
	}
}

// TestSet_DecideTakesTheStrictestMatchingBudget verifies the decision of
// each combination of matching budgets and their states.
func TestSet_DecideTakesTheStrictestMatchingBudget(t *testing.T) {
	cfg := &config.Budgets{List: []config.Budget{
		{Name: "main-usd", Chain: "main", Window: config.WindowDay, USD: 1, Exhausted: config.BudgetCap, PriceCap: &config.Price{Input: 1, Output: 2}},
		{Name: "main-usd-2", Chain: "main", Window: config.WindowHour, USD: 1, Exhausted: config.BudgetCap, PriceCap: &config.Price{Input: 3, Output: 1}},
		{Name: "team", Client: "team-a", Window: config.WindowHour, Tokens: 100, Exhausted: config.BudgetRefuse},
		{Name: "all", Window: config.WindowMonth, Tokens: 1000, Exhausted: config.BudgetRefuse},
	}}
	config.ApplyBudgetDefaults(cfg)
	for _, tc := range []struct {
		name          string
		charge        []Charge
		chain, client string
		want          Decision
	}{
		{"nothing spent", nil, "main", "team-a", Decision{}},
		{"past the warning share", []Charge{{Chain: "main", NanoUSD: cost.NanoUSD(0.8), Priced: true}}, "main", "x", Decision{State: Warning, Budget: "main-usd"}},
		{"just under the warning share", []Charge{{Chain: "main", NanoUSD: cost.NanoUSD(0.79), Priced: true}}, "main", "x", Decision{}},
		{"another chain is not counted", []Charge{{Chain: "main", NanoUSD: cost.NanoUSD(5), Priced: true}}, "other", "x", Decision{}},
		{"unpriced answers count no dollars", []Charge{{Chain: "main", Tokens: 5}}, "main", "x", Decision{}},
		{"exhausted caps: the lowest caps", []Charge{{Chain: "main", NanoUSD: cost.NanoUSD(1), Priced: true}}, "main", "x",
			Decision{State: Capped, Budget: "main-usd", Cap: cost.Price{Input: 1, Output: 1}}},
		{"a refusal beats a cap, until the hour's end", []Charge{{Chain: "main", Client: "team-a", Tokens: 100, NanoUSD: cost.NanoUSD(1), Priced: true}}, "main", "team-a",
			Decision{State: Refused, Budget: "team", RetryAt: time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)}},
		{"two refusals: the latest end", []Charge{{Chain: "x", Client: "team-a", Tokens: 1000}}, "main", "team-a",
			Decision{State: Refused, Budget: "team", RetryAt: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSet(cfg, NewLocal())
			for _, c := range tc.charge {
				s.Charge(c, t0)
			}
			if got := s.Decide(tc.chain, tc.client, t0); got != tc.want {
				t.Fatalf("Decide: got %+v, want %+v", got, tc.want)
			}
			if got := s.Decide(tc.chain, tc.client, t0.AddDate(0, 1, 0)); got.State != Under {
				t.Fatalf("a month later: got %+v, want under", got)
			}
		})
	}
}

// TestPersister_RestartKeepsCurrentWindows verifies the state file carries
// the current windows' counters into a new store, drops ended windows and
// budgets no longer configured, and leaves no temporary file behind.
func TestPersister_RestartKeepsCurrentWindows(t *testing.T) {
	cfg := &config.Budgets{List: []config.Budget{
		{Name: "day", Window: config.WindowDay, Tokens: 1000},
		{Name: "hour", Window: config.WindowHour, Tokens: 1000},
	}}
	config.ApplyBudgetDefaults(cfg)
	dir := t.TempDir()
	path := filepath.Join(dir, "budgets.json")
	l := NewLocal()
	s := NewSet(cfg, l)
	s.Charge(Charge{Tokens: 120}, t0)
	l.Add("gone|day|tokens", WindowStart(config.WindowDay, t0), 5)
	p := NewPersister(path, time.Minute, l, nil)
	if err := p.Close(t0); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	// One hour later: the hour's window ended, the day's did not.
	l2 := NewLocal()
	s2 := NewSet(cfg, l2)
	n, err := NewPersister(path, time.Minute, l2, nil).Load(t0.Add(time.Hour), s2.WindowEndOf)
	if err != nil || n != 1 {
		t.Fatalf("Load: %d counters, %v; want 1", n, err)
	}
	got := map[string]int64{}
	s2.Each(t0.Add(time.Hour), func(u Usage) { got[u.Budget.Name] = u.Used })
	if got["day"] != 120 || got["hour"] != 0 {
		t.Fatalf("after restart: got %v, want day 120, hour 0", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestPersister_RefusesBadFiles verifies a state file that is too large,
// not JSON or of another version loads nothing and says why, and a
// missing one is no error.
func TestPersister_RefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string][]byte{
		"large":   make([]byte, MaxStateBytes+1),
		"garbage": []byte("{not json"),
		"version": []byte(`{"v":2,"counters":[]}`),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		l := NewLocal()
		if n, err := NewPersister(path, time.Minute, l, nil).Load(t0, func(string, time.Time) time.Time { return t0.Add(time.Hour) }); err == nil || n != 0 {
			t.Errorf("%s: Load = %d, %v; want an error", name, n, err)
		}
	}
	if n, err := NewPersister(filepath.Join(dir, "missing"), time.Minute, NewLocal(), nil).Load(t0, nil); err != nil || n != 0 {
		t.Errorf("missing file: Load = %d, %v; want 0, nil", n, err)
	}
}

// TestPersister_MaybeSaveWritesAtMostEveryInterval verifies background
// writes follow the interval on the injected time.
func TestPersister_MaybeSaveWritesAtMostEveryInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.json")
	l := NewLocal()
	p := NewPersister(path, time.Minute, l, func(err error) { t.Error(err) })
	p.MaybeSave(t0) // the first charge writes
	p.wg.Wait()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("first MaybeSave wrote nothing: %v", err)
	}
	os.Remove(path)
	p.MaybeSave(t0.Add(59 * time.Second))
	p.wg.Wait()
	if _, err := os.Stat(path); err == nil {
		t.Fatal("MaybeSave wrote again within the interval")
	}
	p.MaybeSave(t0.Add(time.Minute))
	p.wg.Wait()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("MaybeSave after the interval wrote nothing: %v", err)
	}
}

// TestSet_ReloadKeepsCountersOfUnchangedBudgets verifies a new Set over the
// same store (a configuration reload) keeps the counter of a budget whose
// name, window and unit are unchanged, and starts a budget whose window or
// unit changed at 0.
func TestSet_ReloadKeepsCountersOfUnchangedBudgets(t *testing.T) {
	l := NewLocal()
	before := &config.Budgets{List: []config.Budget{{Name: "a", Tokens: 100}, {Name: "b", Tokens: 100}, {Name: "c", Tokens: 100}}}
	config.ApplyBudgetDefaults(before)
	NewSet(before, l).Charge(Charge{Tokens: 40}, t0)
	after := &config.Budgets{List: []config.Budget{{Name: "a", Tokens: 200}, {Name: "b", Tokens: 100, Window: config.WindowHour}, {Name: "c", USD: 1}}}
	config.ApplyBudgetDefaults(after)
	got := map[string]int64{}
	NewSet(after, l).Each(t0, func(u Usage) { got[u.Budget.Name] = u.Used })
	if want := map[string]int64{"a": 40, "b": 0, "c": 0}; got["a"] != want["a"] || got["b"] != 0 || got["c"] != 0 {
		t.Fatalf("after reload: got %v, want %v", got, want)
	}
}
