package events

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readEvents decodes every line of the files in dir whose names start with
// prefix, failing on any line that does not decode.
func readEvents(t *testing.T, dir, prefix string) (events []Event, files int) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, prefix+"*"))
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, MaxLineBytes)
		for sc.Scan() {
			e, err := Decode(sc.Bytes())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			events = append(events, e)
		}
		f.Close()
		files++
	}
	return events, files
}

// The sink writes the backlog, then every later event, one decodable JSON
// line each; when its context ends it writes what is still buffered before
// returning.
func TestFileSink_WritesEveryEventAsOneLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit", "events.jsonl")
	b := NewBus(Options{Clock: fixedClock{t0}})
	b.Publish(Event{Kind: KindConfigReload, Reason: "loaded"})
	s, err := NewFileSink(b, FileOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		b.Publish(Event{Kind: KindFailover, From: Target{"openai", "gpt-4o"}, Reason: "overloaded"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, _ := readEvents(t, filepath.Dir(path), "events")
	if len(got) != 101 || got[0].Kind != KindConfigReload || got[100].Seq != 101 {
		t.Fatalf("file has %d events (first %v), want 101 starting with the backlog's config_reload", len(got), got[0].Kind)
	}
	if st := s.Stats(); st != (FileStats{Written: 101}) {
		t.Errorf("Stats() = %+v, want 101 written", st)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

// Past max_size_mb the file rotates: the rotated files and the current
// one together hold every event, each line whole.
func TestFileSink_Rotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	b := NewBus(Options{Clock: fixedClock{t0}})
	s, err := NewFileSink(b, FileOptions{Path: path, MaxSizeMB: 1, Buffer: 10000})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6000 // ~350 bytes each: about 2 MB
	for range n {
		b.Publish(Event{Kind: KindFailover, Detail: strings.Repeat("x", 200)})
	}
	b.Close()
	if err := s.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, files := readEvents(t, dir, "events")
	if len(got) != n || files < 2 {
		t.Fatalf("%d events in %d files, want %d in at least 2", len(got), files, n)
	}
	seen := map[uint64]bool{}
	for _, e := range got {
		seen[e.Seq] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct seqs, want %d", len(seen), n)
	}
}

// A path that cannot be opened fails NewFileSink with the path's error.
func TestFileSink_BadPathFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", filepath.Join(file, "events.jsonl"), dir} {
		if _, err := NewFileSink(NewBus(Options{}), FileOptions{Path: p}); err == nil {
			t.Errorf("NewFileSink(%q): no error, want one", p)
		}
	}
}

// A sink that cannot keep up loses events past its buffer, counted, and
// Publish is never held up by it.
func TestFileSink_SlowSinkDropsCounted(t *testing.T) {
	b := NewBus(Options{})
	s, err := NewFileSink(b, FileOptions{Path: filepath.Join(t.TempDir(), "e.jsonl"), Buffer: 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 25 { // Run not started: nothing drains the buffer
		b.Publish(Event{Kind: KindProbe})
	}
	if st := s.Stats(); st.Dropped != 15 {
		t.Errorf("Dropped = %d, want 15", st.Dropped)
	}
	b.Close()
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != 10 {
		t.Errorf("Written = %d, want 10", st.Written)
	}
}

// Decode round-trips Encode, accepts unknown fields and kinds (additions
// to version 1), and refuses other versions, missing kinds, bad JSON and
// oversized lines.
func TestCodec(t *testing.T) {
	e := Event{V: 1, Seq: 7, Time: t0, Kind: KindBreakerTransition, From: Target{"a", "b"}, BreakerFrom: "closed",
		BreakerTo: "open", Failures: 3, CooldownUntil: t0.Add(time.Minute)}
	line, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(line); err != nil || got != e {
		t.Errorf("Decode(Encode(e)) = %+v, %v; want %+v", got, err, e)
	}
	for _, tc := range []struct {
		line    string
		wantErr error
		ok      bool
	}{
		{`{"v":1,"kind":"future_kind","new_field":[1]}`, nil, true},
		{`{"v":2,"kind":"failover"}`, ErrVersion, false},
		{`{"kind":"failover"}`, ErrVersion, false},
		{`{"v":1}`, nil, false},
		{`{"v":1,"kind":"failover","time":"yesterday"}`, nil, false},
		{`not json`, nil, false},
		{`{"v":1,"kind":"x","detail":"` + strings.Repeat("y", MaxLineBytes) + `"}`, nil, false},
	} {
		_, err := Decode([]byte(tc.line))
		if (err == nil) != tc.ok || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
			t.Errorf("Decode(%.60q) err = %v, want ok=%v (%v)", tc.line, err, tc.ok, tc.wantErr)
		}
	}
}

// FuzzDecode: Decode never panics, and what it accepts encodes and
// decodes again to the same event.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"seq":1,"time":"2026-11-30T10:00:00Z","kind":"failover","from":{"provider":"p","model":"m"},"status":503}`))
	f.Add([]byte(`{"v":1,"kind":"breaker_transition","cooldown_until":"2026-11-30T10:00:30Z","failures":3}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err != nil {
			return
		}
		again, err := Encode(e)
		if err != nil {
			return // a time outside JSON's years cannot be encoded
		}
		e2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", again, err)
		}
		a, _ := Encode(e2)
		if string(a) != string(again) {
			t.Fatalf("round trip changed:\n%s\n%s", again, a)
		}
	})
}
