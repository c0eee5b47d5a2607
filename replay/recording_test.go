package replay

import (
	"errors"
	"strings"
	"testing"
)

// TestRead_RefusesBadInput verifies Read's errors: a line that is not an
// event names its line number, and events without any attempt say how to
// record them.
func TestRead_RefusesBadInput(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"not json", "{\"v\":1,\"kind\":\"probe\"}\nnot json\n", "line 2"},
		{"other version", "{\"v\":2,\"kind\":\"attempt\"}\n", "line 1"},
		{"no attempt", "{\"v\":1,\"kind\":\"probe\"}\n", "audit.attempts: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read(%q) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
	if _, err := Read(strings.NewReader("")); !errors.Is(err, ErrNoAttempts) {
		t.Errorf("Read of nothing = %v, want ErrNoAttempts", err)
	}
}

// TestRead_SkipsUnknownAttemptsAndCountsThem verifies that an attempt with
// a class this version does not know is counted in Skipped, not replayed.
func TestRead_SkipsUnknownAttemptsAndCountsThem(t *testing.T) {
	in := `{"v":1,"time":"2026-01-01T00:00:00Z","kind":"attempt","request_id":"a","from":{"provider":"p","model":"m"},"reason":"success","outcome":"success","status":200}
{"v":1,"time":"2026-01-01T00:00:01Z","kind":"attempt","request_id":"b","from":{"provider":"p","model":"m"},"reason":"novel","outcome":"success"}
`
	rec, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Requests) != 1 || rec.Skipped[`attempt with unknown class "novel"`] != 1 {
		t.Errorf("requests %d, skipped %v; want 1 request and the novel class skipped once", len(rec.Requests), rec.Skipped)
	}
}

// TestClassOf_KnowsEveryProviderClass verifies that every class the
// provider package names (quality included) is read back from an event.
func TestClassOf_KnowsEveryProviderClass(t *testing.T) {
	for _, name := range []string{"success", "overloaded", "cut", "quality"} {
		if c, ok := classOf(name); !ok || c.String() != name {
			t.Errorf("classOf(%q) = %v, %v", name, c, ok)
		}
	}
}
