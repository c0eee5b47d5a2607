package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

// Publish stamps the version, a sequence from 1 and the clock's time, and
// keeps a time the caller set.
func TestBus_PublishStamps(t *testing.T) {
	b := NewBus(Options{Clock: fixedClock{t0}})
	got1 := b.Publish(Event{Kind: KindFailover})
	set := t0.Add(-time.Minute).In(time.FixedZone("x", 3600))
	got2 := b.Publish(Event{Kind: KindProbe, Time: set, V: 99, Seq: 42})
	if got1.V != Version || got1.Seq != 1 || !got1.Time.Equal(t0) {
		t.Errorf("first = v%d seq %d %v, want v%d seq 1 %v", got1.V, got1.Seq, got1.Time, Version, t0)
	}
	if got2.V != Version || got2.Seq != 2 || !got2.Time.Equal(set) || got2.Time.Location() != time.UTC {
		t.Errorf("second = v%d seq %d %v, want v%d seq 2 %v in UTC", got2.V, got2.Seq, got2.Time, Version, set)
	}
}

// A subscriber receives what is published after it subscribed, in order,
// and its backlog holds what came before, with no gap and no duplicate.
func TestBus_SubscriberGetsBacklogThenLive(t *testing.T) {
	b := NewBus(Options{Clock: fixedClock{t0}})
	b.Publish(Event{Kind: KindFailover, RequestID: "r1"})
	b.Publish(Event{Kind: KindFailover, RequestID: "r2"})
	s, err := b.Subscribe(SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b.Publish(Event{Kind: KindFailover, RequestID: "r3"})
	var seqs []uint64
	for _, e := range s.Backlog {
		seqs = append(seqs, e.Seq)
	}
	seqs = append(seqs, (<-s.C()).Seq)
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Errorf("backlog+live seqs = %v, want [1 2 3]", seqs)
	}
}

// A subscriber that does not read loses events once its buffer is full;
// Publish does not block and the losses are counted on the subscription
// and the bus, while other subscribers still get everything.
func TestBus_FullSubscriberDropsWithoutBlocking(t *testing.T) {
	b := NewBus(Options{Buffer: 2})
	slow, _ := b.Subscribe(SubscribeOptions{})
	fast, _ := b.Subscribe(SubscribeOptions{Buffer: 10})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5 {
			b.Publish(Event{Kind: KindFailover})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	if got := slow.Dropped(); got != 3 {
		t.Errorf("slow.Dropped() = %d, want 3", got)
	}
	if got := fast.Dropped(); got != 0 {
		t.Errorf("fast.Dropped() = %d, want 0", got)
	}
	if st := b.Stats(); st != (Stats{Published: 5, Dropped: 3, Subscribers: 2}) {
		t.Errorf("Stats() = %+v, want {Published:5 Dropped:3 Subscribers:2}", st)
	}
	if got := len(fast.C()); got != 5 {
		t.Errorf("fast got %d events, want 5", got)
	}
}

// The history keeps only the last Options.History events, oldest first;
// History < 0 keeps none.
func TestBus_HistoryIsBounded(t *testing.T) {
	for _, tc := range []struct {
		history int
		want    string
	}{
		{3, "[5 6 7]"},
		{10, "[1 2 3 4 5 6 7]"},
		{-1, "[]"},
	} {
		t.Run(fmt.Sprint(tc.history), func(t *testing.T) {
			b := NewBus(Options{History: tc.history})
			for range 7 {
				b.Publish(Event{Kind: KindProbe})
			}
			seqs := []uint64{}
			for _, e := range b.Recent() {
				seqs = append(seqs, e.Seq)
			}
			if fmt.Sprint(seqs) != tc.want {
				t.Errorf("Recent() seqs = %v, want %s", seqs, tc.want)
			}
		})
	}
}

// Subscribe refuses subscribers beyond MaxSubscribers, and accepts again
// after one closes.
func TestBus_MaxSubscribers(t *testing.T) {
	b := NewBus(Options{MaxSubscribers: 2})
	s1, _ := b.Subscribe(SubscribeOptions{})
	if _, err := b.Subscribe(SubscribeOptions{}); err != nil {
		t.Fatalf("second Subscribe: %v", err)
	}
	if _, err := b.Subscribe(SubscribeOptions{}); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("third Subscribe err = %v, want ErrTooManySubscribers", err)
	}
	s1.Close()
	s1.Close() // twice is harmless
	if _, err := b.Subscribe(SubscribeOptions{}); err != nil {
		t.Errorf("Subscribe after a Close: %v", err)
	}
}

// A subscription with Kinds gets only those kinds, in its backlog and live.
func TestBus_KindsFilter(t *testing.T) {
	b := NewBus(Options{})
	b.Publish(Event{Kind: KindProbe})
	b.Publish(Event{Kind: KindFailover})
	s, _ := b.Subscribe(SubscribeOptions{Kinds: []Kind{KindFailover}})
	b.Publish(Event{Kind: KindConfigReload})
	b.Publish(Event{Kind: KindFailover})
	if len(s.Backlog) != 1 || s.Backlog[0].Kind != KindFailover {
		t.Errorf("backlog = %+v, want one failover", s.Backlog)
	}
	s.Close()
	var got []Kind
	for e := range s.C() {
		got = append(got, e.Kind)
	}
	if fmt.Sprint(got) != "[failover]" {
		t.Errorf("live kinds = %v, want [failover]", got)
	}
}

// Closing the bus closes every subscription's channel, discards later
// events and refuses later subscribers; a nil bus discards events.
func TestBus_Close(t *testing.T) {
	b := NewBus(Options{})
	s, _ := b.Subscribe(SubscribeOptions{})
	b.Close()
	b.Publish(Event{Kind: KindProbe})
	if _, ok := <-s.C(); ok {
		t.Error("C() delivered after Close, want closed")
	}
	if _, err := b.Subscribe(SubscribeOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close err = %v, want ErrClosed", err)
	}
	var nb *Bus
	nb.Publish(Event{Kind: KindProbe}) // must not panic
}

// Concurrent publishers, subscribers and closes are race-free and every
// event delivered to a subscriber arrives in sequence order.
func TestBus_Concurrent(t *testing.T) {
	b := NewBus(Options{Buffer: 8, History: 16})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				b.Publish(Event{Kind: KindFailover})
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 20 {
				s, err := b.Subscribe(SubscribeOptions{})
				if err != nil {
					continue
				}
				var last uint64
				for range 5 {
					e := <-s.C()
					if e.Seq != 0 && e.Seq <= last {
						t.Errorf("seq %d after %d", e.Seq, last)
					}
					last = e.Seq
					if e.Seq == 2000 {
						break
					}
				}
				s.Close()
			}
		})
	}
	// Keep publishing until the readers are done, so none waits forever.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				b.Publish(Event{Kind: KindProbe})
			}
		}
	}()
	wg.Wait()
	close(stop)
	b.Close()
}

// Publish replaces control characters and invalid UTF-8 in string fields
// with spaces and bounds them to MaxTextLen bytes.
func TestBus_PublishCleansText(t *testing.T) {
	b := NewBus(Options{})
	e := b.Publish(Event{
		Kind:      KindPolicyDenial,
		RequestID: "a\nb\tc\xff",
		From:      Target{Provider: "p", Model: "m\x00"},
		Detail:    strings.Repeat("é", MaxTextLen),
	})
	if e.RequestID != "a b c " || e.From.Model != "m " {
		t.Errorf("RequestID, From.Model = %q, %q; want %q, %q", e.RequestID, e.From.Model, "a b c ", "m ")
	}
	if len(e.Detail) > MaxTextLen || !utf8.ValidString(e.Detail) {
		t.Errorf("Detail is %d bytes (valid UTF-8: %v), want <= %d and valid", len(e.Detail), utf8.ValidString(e.Detail), MaxTextLen)
	}
}

// An event's JSON has "v":1 and omits every field that does not apply.
func TestEvent_JSONOmitsEmpty(t *testing.T) {
	b := NewBus(Options{Clock: fixedClock{t0}})
	e := b.Publish(Event{Kind: KindFailover, RequestID: "r1", Chain: "chat",
		From: Target{"openai", "gpt-4o"}, To: Target{"anthropic", "claude"}, Reason: "5xx", Status: 503, Attempt: 0, AddedLatencyMS: 120})
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"seq":1,"time":"2026-11-30T10:00:00Z","kind":"failover","request_id":"r1","chain":"chat",` +
		`"from":{"provider":"openai","model":"gpt-4o"},"to":{"provider":"anthropic","model":"claude"},` +
		`"reason":"5xx","status":503,"added_latency_ms":120}`
	if string(got) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}

// ParseTarget splits at the first slash, so a model may contain slashes.
func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
	}{
		{"openai/gpt-4o", Target{"openai", "gpt-4o"}},
		{"together/meta-llama/Llama-3", Target{"together", "meta-llama/Llama-3"}},
		{"openai", Target{Provider: "openai"}},
		{"", Target{}},
	} {
		if got := ParseTarget(tc.in); got != tc.want || got.String() != tc.in {
			t.Errorf("ParseTarget(%q) = %+v (String %q), want %+v", tc.in, got, got.String(), tc.want)
		}
	}
}

// TestBus_RoutineKindsStayOutOfTheHistory verifies answer_cost events (one
// per request) reach every subscriber but the ones skipping routine kinds,
// and never take a place in the history.
func TestBus_RoutineKindsStayOutOfTheHistory(t *testing.T) {
	b := NewBus(Options{History: 2})
	defer b.Close()
	b.Publish(Event{Kind: KindFailover})
	all, err := b.Subscribe(SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	timeline, err := b.Subscribe(SubscribeOptions{SkipRoutine: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b.Publish(Event{Kind: KindAnswerCost})
	}
	b.Publish(Event{Kind: KindProbe})
	var kinds []Kind
	for _, e := range b.Recent() {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 2 || kinds[0] != KindFailover || kinds[1] != KindProbe {
		t.Fatalf("history: got %v, want failover and probe only", kinds)
	}
	if got := len(all.C()); got != 6 {
		t.Fatalf("subscriber of every kind: got %d events, want 6", got)
	}
	if got := len(timeline.C()); got != 1 || (<-timeline.C()).Kind != KindProbe {
		t.Fatalf("subscriber skipping routine kinds: got %d events, want the probe only", got)
	}
}
