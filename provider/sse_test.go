package provider

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// frame feeds s to a fresh reader cut at the given points and collects events.
func frame(t testing.TB, s string, cuts ...int) []Event {
	var r SSEReader
	var got []Event
	collect := func(ev Event) error {
		got = append(got, Event{Name: ev.Name, Data: append([]byte{}, ev.Data...)})
		return nil
	}
	prev := 0
	for _, c := range append(cuts, len(s)) {
		if err := r.Feed([]byte(s[prev:c]), collect); err != nil {
			t.Fatal(err)
		}
		prev = c
	}
	return got
}

func ev(name, data string) Event { return Event{Name: name, Data: []byte(data)} }

// TestSSEReader_Framing verifies framing by the spec's rules: every line
// ending, comments, multi-line data, named events, events without data,
// ids and retries ignored, a leading BOM, and an unfinished last event held back.
func TestSSEReader_Framing(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"lf", "data: a\n\ndata: b\n\n", []Event{ev("", "a"), ev("", "b")}},
		{"crlf", "event: x\r\ndata: a\r\n\r\ndata: b\r\n\r\n", []Event{ev("x", "a"), ev("", "b")}},
		{"cr", "data: a\r\rdata: b\r\r", []Event{ev("", "a"), ev("", "b")}},
		{"mixed", "data: a\r\n\ndata: b\n\r\ndata: c\r\r\n", []Event{ev("", "a"), ev("", "b"), ev("", "c")}},
		{"comments", ": keep-alive\n\n:x\ndata: a\n: mid\n\n", []Event{ev("", "a")}},
		{"multiline", "data: a\ndata:b\ndata:  c\n\n", []Event{ev("", "a\nb\n c")}},
		{"no space", "data:a\n\n", []Event{ev("", "a")}},
		{"empty data", "data\n\ndata:\n\n", []Event{ev("", ""), ev("", "")}},
		{"no data", "event: ping\n\nid: 3\nretry: 10\n\n", nil},
		{"id ignored", "id: 7\nevent: e\ndata: x\n\n", []Event{ev("e", "x")}},
		{"bom", "\xef\xbb\xbfdata: a\n\n", []Event{ev("", "a")}},
		{"leading blank lines", "\n\n\ndata: a\n\n", []Event{ev("", "a")}},
		{"unfinished", "data: a\n\ndata: b\n", []Event{ev("", "a")}},
		{"anthropic", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			[]Event{ev("message_stop", `{"type":"message_stop"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := frame(t, tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("whole: got %q, want %q", got, tt.want)
			}
			// split at every byte
			for i := 0; i <= len(tt.in); i++ {
				if got := frame(t, tt.in, i); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("cut at %d: got %q, want %q", i, got, tt.want)
				}
			}
			// one byte at a time
			cuts := make([]int, 0, len(tt.in))
			for i := 1; i < len(tt.in); i++ {
				cuts = append(cuts, i)
			}
			if got := frame(t, tt.in, cuts...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("byte by byte: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSSEReader_StopKeepsRest verifies that an error from the callback stops
// framing, is returned, and leaves the following events for the next Feed.
func TestSSEReader_StopKeepsRest(t *testing.T) {
	var r SSEReader
	stop := errors.New("stop")
	var got []string
	err := r.Feed([]byte("data: a\n\ndata: b\n\ndata: c"), func(ev Event) error {
		got = append(got, string(ev.Data))
		return stop
	})
	if !errors.Is(err, stop) || !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("first feed: got %v %v, want [a] and the stop error", got, err)
	}
	if r.Pending() != len("data: b\n\ndata: c") {
		t.Errorf("pending: got %d, want %d", r.Pending(), len("data: b\n\ndata: c"))
	}
	err = r.Feed([]byte("\n\n"), func(ev Event) error { got = append(got, string(ev.Data)); return nil })
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("second feed: got %v %v, want [a b c]", got, err)
	}
	if r.Pending() != 0 {
		t.Errorf("pending after all events: got %d, want 0", r.Pending())
	}
}

// TestSSEReader_LongEventInTinyChunks verifies a large event fed a byte at a
// time is framed once and whole (the scan resumes instead of restarting).
func TestSSEReader_LongEventInTinyChunks(t *testing.T) {
	data := strings.Repeat("x", 1<<16)
	in := "data: " + data + "\n\n"
	var r SSEReader
	n := 0
	for i := 0; i < len(in); i++ {
		_ = r.Feed([]byte{in[i]}, func(ev Event) error {
			n++
			if string(ev.Data) != data {
				t.Errorf("data: got %d bytes, want %d", len(ev.Data), len(data))
			}
			return nil
		})
	}
	if n != 1 {
		t.Errorf("events: got %d, want 1", n)
	}
}
