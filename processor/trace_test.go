package processor

import (
	"strconv"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/provider"
)

// TestTraceStore_PendingIsBounded verifies attempts waiting for evidence are
// bounded (with the traces that hold them): past the bound none is blamed.
func TestTraceStore_PendingIsBounded(t *testing.T) {
	s := newTraceStore(16, time.Hour)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var settled []attemptRecord
	for i := range 100 {
		settled = append(settled, s.pend("plan-"+strconv.Itoa(i), now, attemptRecord{Attempt: 1, Provider: "p"})...)
	}
	if n := len(s.pending); n > s.maxPending() {
		t.Fatalf("pending: got %d, want at most %d", n, s.maxPending())
	}
	for _, r := range settled {
		if r.Class != provider.ClassCancelled {
			t.Fatalf("settled past the bound: got %v, want cancelled (not blamed)", r.Class)
		}
	}
}

// TestTraceStore_InFlightShownAsNoResponse verifies an attempt is listed from
// the moment it goes upstream, as no_response until it has an outcome.
func TestTraceStore_InFlightShownAsNoResponse(t *testing.T) {
	s := newTraceStore(16, time.Hour)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.begin("plan", now, attemptRecord{Attempt: 1, Provider: "a"})
	if got := formatTrace(s.get("plan", now)); got != "attempt=1;provider=a;model=;outcome=no_response;status=0;ms=0" {
		t.Fatalf("in flight: got %q", got)
	}
	s.finish("plan", now, attemptRecord{Attempt: 1, Provider: "a", Class: provider.ClassSuccess, Status: 200})
	if got := formatTrace(s.get("plan", now)); got != "attempt=1;provider=a;model=;outcome=success;status=200;ms=0" {
		t.Fatalf("finished: got %q", got)
	}
}

// TestFormatTrace_AppendsThePlacement verifies an attempt whose target was
// placed by a tier or region ends with its placement, and others do not.
func TestFormatTrace_AppendsThePlacement(t *testing.T) {
	recs := []attemptRecord{
		{Attempt: 1, Provider: "a", Model: "m", State: recDone, Class: provider.ClassServerError, Status: 500, Placement: "tier=1;weight=3/4;region=eu:preferred"},
		{Attempt: 2, Provider: "b", Model: "m", State: recDone, Class: provider.ClassSuccess, Status: 200},
	}
	want := "attempt=1;provider=a;model=m;outcome=server_error;status=500;ms=0;tier=1;weight=3/4;region=eu:preferred, attempt=2;provider=b;model=m;outcome=success;status=200;ms=0"
	if got := formatTrace(recs); got != want {
		t.Errorf("formatTrace:\n got  %q\n want %q", got, want)
	}
}

// BenchmarkTraceStore_PendAtBound measures an attempt that ends without an
// answer while the pending records are at their bound (a reset storm): it
// must not cost in proportion to the pending ones.
func BenchmarkTraceStore_PendAtBound(b *testing.B) {
	const entries = 10000
	s := newTraceStore(entries, time.Hour)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, 2*entries)
	for i := range ids {
		ids[i] = "plan-" + strconv.Itoa(i)
	}
	for _, id := range ids[:entries] {
		s.pend(id, now, attemptRecord{Attempt: 1, Provider: "p"})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.pend(ids[i%len(ids)], now, attemptRecord{Attempt: 1, Provider: "p"})
	}
}
