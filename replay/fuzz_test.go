package replay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseScenario verifies that no incident file panics the parser and
// that an accepted one is within its documented bounds.
func FuzzParseScenario(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("incidents", "*.yaml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: x\nduration: 1s\nrate: 1\nmodel: m\ntargets: [a/b]\nfaults: [{target: a/b, from: 0s, to: 1s, every: 3}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseScenario(b)
		if err != nil {
			return
		}
		if sc.Rate < 1 || sc.Rate > 1000 || sc.Duration.D() > 24*60*60*1e9 || len(sc.Targets) == 0 {
			t.Errorf("accepted out-of-bounds scenario %+v", sc)
		}
		for _, fl := range sc.Faults {
			if fl.Every < 1 || fl.From >= fl.To {
				t.Errorf("accepted fault %+v", fl)
			}
		}
	})
}

// FuzzRead verifies that no audit file panics Read.
func FuzzRead(f *testing.F) {
	f.Add(`{"v":1,"time":"2026-01-01T00:00:00Z","kind":"attempt","request_id":"a","from":{"provider":"p","model":"m"},"reason":"success","outcome":"success","status":200}`)
	f.Add(`{"v":1,"time":"2026-01-01T00:00:00Z","kind":"attempt","from":{"provider":"p"},"reason":"overloaded","outcome":"failure","sent_at":"2027-01-01T00:00:00Z"}`)
	f.Add(`{"v":1,"time":"2026-01-01T00:00:00Z","kind":"breaker_transition","from":{"provider":"p"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := Read(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, r := range rec.Requests {
			for _, a := range r.Attempts {
				if a.SentAt.After(a.At) {
					t.Errorf("attempt sent after its outcome: %+v", a)
				}
			}
		}
		Recorded(rec)
	})
}
