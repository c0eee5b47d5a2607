package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// A message survives its own encoding: what a replica publishes is what
// the others adopt.
func TestMessage_RoundTrip(t *testing.T) {
	m := message{Target: "openai/gpt-4o", Replica: "pod-1", State: "open", OpenMS: 30000, Reason: "error rate", Status: 503}
	got, err := parseMessage("7 " + m.payload())
	if err != nil {
		t.Fatalf("parseMessage: %v", err)
	}
	m.Gen = 7
	if got != m {
		t.Fatalf("parsed %+v, want %+v", got, m)
	}
	if r := got.remote(); r.State != breaker.Open || r.OpenFor != 30*time.Second || r.Status != 503 {
		t.Fatalf("remote %+v", r)
	}
}

// Malformed messages are refused with an error, never applied.
func TestMessage_RefusesMalformed(t *testing.T) {
	for _, s := range []string{
		"",
		"7",
		"0 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"open\"}",
		"-1 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"open\"}",
		"7 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"ajar\"}",
		"7 {\"t\":\"\",\"r\":\"x\",\"s\":\"open\"}",
		"7 {\"t\":\"a/b\",\"r\":\"\",\"s\":\"open\"}",
		"7 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"open\",\"o\":-5}",
		"7 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"recovering\",\"st\":-1}",
		"7 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"open\",\"c\":1000}",
		"7 not json",
		"7 " + strings.Repeat("x", MaxMessageBytes),
	} {
		if _, err := parseMessage(s); err == nil {
			t.Errorf("parseMessage(%.60q) = nil error, want refused", s)
		}
	}
}

// A stored state gives the cooldown left by the server's clock, and none
// once it has ended.
func TestStoredMessage_CooldownLeft(t *testing.T) {
	v := []string{"4", "pod-2", "open", "30000", "0", "latency", "0", "1000000", "1010000"}
	m, ok := storedMessage("a/b", v)
	if !ok || m.OpenMS != 20000 || m.Gen != 4 || m.Replica != "pod-2" {
		t.Fatalf("storedMessage = %+v, %v; want 20s left at gen 4", m, ok)
	}
	v[8] = "1040000"
	if _, ok := storedMessage("a/b", v); ok {
		t.Fatal("an ended cooldown was adopted")
	}
	if _, ok := storedMessage("a/b", []string{"0", "", "", "0", "0", "", "0", "0", "1"}); ok {
		t.Fatal("an empty record was adopted")
	}
}

// parseMessage never panics, and what it accepts is in range.
func FuzzParseMessage(f *testing.F) {
	f.Add("7 {\"t\":\"openai/gpt-4o\",\"r\":\"pod-1\",\"s\":\"open\",\"o\":30000,\"why\":\"error rate\",\"c\":503}")
	f.Add("1 {\"t\":\"a/b\",\"r\":\"x\",\"s\":\"recovering\",\"st\":2}")
	f.Add("x")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parseMessage(s)
		if err != nil {
			return
		}
		if m.Gen == 0 || m.Target == "" || m.Replica == "" || m.OpenMS < 0 || m.Stage < 0 || m.Status < 0 || m.Status > 999 {
			t.Fatalf("accepted out-of-range message %+v", m)
		}
		if _, ok := stateOf(m.State); !ok {
			t.Fatalf("accepted state %q", m.State)
		}
	})
}

// parseAffinity never panics, and what it accepts is in range.
func FuzzParseAffinity(f *testing.F) {
	f.Add(`{"r":"a","k":"0102030405060708090a0b0c0d0e0f10","p":"claude","m":"sonnet","ttl":3600000}`)
	f.Add(`{"r":"a","k":"01","p":"claude","m":"sonnet","ttl":1}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, _, err := parseAffinity(s)
		if err != nil {
			return
		}
		if m.Replica == "" || m.Provider == "" || m.Model == "" || m.TTLMS <= 0 || len(m.Key) != 32 {
			t.Fatalf("accepted out-of-range message %+v", m)
		}
	})
}
