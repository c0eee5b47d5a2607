package affinity

import (
	"strings"
	"sync"
	"testing"
	"time"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// fixedClock is a clock a test moves by hand.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func mustKeyer(t *testing.T, sources ...Source) *Keyer {
	t.Helper()
	if len(sources) == 0 {
		sources = Sources
	}
	k, err := NewKeyer(testSecret, sources)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	turn1 = `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the weather?"}],"tools":[]}`
	turn2 = `{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the weather?"},
	  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"w","arguments":"{}"}}]},
	  {"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`
)

// TestKey_Sources: each source yields a key in the configured order, and
// the source it came from; a request naming no conversation has none.
func TestKey_Sources(t *testing.T) {
	k := mustKeyer(t)
	for _, tc := range []struct {
		name   string
		req    Request
		source Source
	}{
		{"header first", Request{Chain: "c", Header: "s-1", Body: []byte(`{"user":"u","prompt_cache_key":"p","messages":[{"role":"user","content":"x"}]}`)}, SourceHeader},
		{"prompt_cache_key before user", Request{Chain: "c", Body: []byte(`{"user":"u","prompt_cache_key":"p"}`)}, SourcePromptCacheKey},
		{"user", Request{Chain: "c", Body: []byte(`{"user":"u","messages":[{"role":"user","content":"x"}]}`)}, SourceUser},
		{"messages", Request{Chain: "c", Body: []byte(turn1)}, SourceMessages},
		{"responses input string", Request{Chain: "c", Body: []byte(`{"instructions":"i","input":"hello"}`)}, SourceMessages},
		{"responses input items", Request{Chain: "c", Body: []byte(`{"input":[{"role":"user","content":"hello"}]}`)}, SourceMessages},
		{"empty strings are no identifier", Request{Chain: "c", Body: []byte(`{"user":"","prompt_cache_key":""}`)}, ""},
		{"wrong types are no identifier", Request{Chain: "c", Body: []byte(`{"user":7,"prompt_cache_key":{},"messages":"x"}`)}, ""},
		{"system only is no opening", Request{Chain: "c", Body: []byte(`{"messages":[{"role":"system","content":"s"}]}`)}, ""},
		{"not JSON", Request{Chain: "c", Body: []byte(`not json`)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, src := k.Key(tc.req)
			if src != tc.source || key.IsZero() != (tc.source == "") {
				t.Errorf("Key = %s, %q; want source %q (zero key: %v)", key, src, tc.source, tc.source == "")
			}
		})
	}
}

// TestKey_LaterTurnsKeepTheKey: a later turn repeating the opening with
// more messages has the key of the first turn; another opening, another
// chain, another source or another secret has another.
func TestKey_LaterTurnsKeepTheKey(t *testing.T) {
	k := mustKeyer(t, SourceMessages)
	k1, _ := k.Key(Request{Chain: "c", Body: []byte(turn1)})
	k2, _ := k.Key(Request{Chain: "c", Body: []byte(turn2)})
	if k1 != k2 || k1.IsZero() {
		t.Fatalf("turn 1 key %s, turn 2 key %s; want equal and non-zero", k1, k2)
	}
	other, _ := k.Key(Request{Chain: "c", Body: []byte(strings.Replace(turn1, "weather", "time", 1))})
	chain, _ := k.Key(Request{Chain: "d", Body: []byte(turn1)})
	k2s, _ := NewKeyer([]byte("another secret of 32 bytes......"), []Source{SourceMessages})
	secret, _ := k2s.Key(Request{Chain: "c", Body: []byte(turn1)})
	hk := mustKeyer(t, SourceHeader, SourceUser)
	h, _ := hk.Key(Request{Chain: "c", Header: "x"})
	u, _ := hk.Key(Request{Chain: "c", Body: []byte(`{"user":"x"}`)})
	for name, got := range map[string]Key{"another opening": other, "another chain": chain, "another secret": secret} {
		if got == k1 {
			t.Errorf("%s: key %s equals the conversation's", name, got)
		}
	}
	if h == u {
		t.Errorf("header %q and user %q have the same key %s", "x", "x", h)
	}
}

// TestKey_NoIdentifierInKey: the key does not contain the identifier (it is
// a keyed hash), and NewKeyer refuses short secrets and unknown sources.
func TestKey_NoIdentifierInKey(t *testing.T) {
	k := mustKeyer(t)
	key, _ := k.Key(Request{Chain: "c", Header: "session-abc"})
	if strings.Contains(key.String(), "session") || len(key.String()) != 32 {
		t.Errorf("key %q reveals its identifier or is not 32 hex characters", key)
	}
	if _, err := NewKeyer([]byte("short"), Sources); err == nil {
		t.Error("NewKeyer accepted a 5-byte secret")
	}
	if _, err := NewKeyer(testSecret, []Source{"cookie"}); err == nil {
		t.Error("NewKeyer accepted source \"cookie\"")
	}
}

// TestLocal_TTLAndBound: an entry lives until ttl after its last Put (not
// at ttl), the bound forgets the least recently used, and Put replaces.
func TestLocal_TTLAndBound(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewLocal(2, c)
	a, b, d := Key{1}, Key{2}, Key{3}
	s.Put(a, Target{"p", "m"}, time.Minute)
	c.t = c.t.Add(time.Minute - time.Nanosecond)
	if got, ok := s.Get(a); !ok || got != (Target{"p", "m"}) {
		t.Fatalf("Get just before the ttl = %v, %v; want p/m", got, ok)
	}
	s.Put(a, Target{"q", "m"}, time.Minute) // refreshed and moved
	c.t = c.t.Add(time.Minute - time.Nanosecond)
	if got, ok := s.Get(a); !ok || got.Provider != "q" {
		t.Fatalf("Get after a refreshing Put = %v, %v; want q/m", got, ok)
	}
	c.t = c.t.Add(time.Nanosecond)
	if got, ok := s.Get(a); ok {
		t.Fatalf("Get at the ttl = %v; want expired", got)
	}
	if s.Len() != 0 {
		t.Errorf("Len after expiry = %d, want 0 (dropped when read)", s.Len())
	}
	s.Put(a, Target{"p", "m"}, time.Hour)
	s.Put(b, Target{"p", "m"}, time.Hour)
	s.Get(a) // a is now more recent than b
	s.Put(d, Target{"p", "m"}, time.Hour)
	if _, ok := s.Get(b); ok {
		t.Error("the least recently used conversation survived the bound of 2")
	}
	if _, ok := s.Get(a); !ok {
		t.Error("a recently read conversation was forgotten")
	}
	s.Resize(1)
	if s.Len() != 1 {
		t.Errorf("Len after Resize(1) = %d, want 1", s.Len())
	}
}

// TestLocal_ConcurrentUse: Get, Put, Resize and Len from many goroutines
// keep the bound (run with -race).
func TestLocal_ConcurrentUse(t *testing.T) {
	c := &fixedClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewLocal(8, c)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := Key{byte(g), byte(i)}
				s.Put(k, Target{"p", "m"}, time.Minute)
				s.Get(k)
				if i%50 == 0 {
					s.Resize(8)
				}
			}
		}()
	}
	wg.Wait()
	if n := s.Len(); n != 8 {
		t.Errorf("Len after 800 Puts with a bound of 8 = %d, want 8", n)
	}
}
