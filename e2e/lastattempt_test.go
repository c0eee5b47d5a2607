package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/fakellm"
)

// TestLastAttempt_StreamErrorReachesTheClient verifies that when every
// provider's stream fails in its first event, the first two fail over and
// the last one's stream reaches the client as it is (translated: an OpenAI
// error event), promptly, with the three attempts in the trace header and no
// further attempt (the in-band last answer is never retried).
func TestLastAttempt_StreamErrorReachesTheClient(t *testing.T) {
	forVersions(t, func(t *testing.T, v string) {
		s := newCrossStack(t, v)
		for _, p := range xProviders {
			if err := s.fakes[p.name].SetFaults(sched(fakellm.Fault{Kind: fakellm.KindStreamError, Times: -1})); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		r := s.chatStream()
		if took := time.Since(start); took > promptly {
			t.Errorf("took %v, want under %v", took, promptly)
		}
		if r.err == nil {
			t.Fatalf("stream succeeded, want the last provider's error event:\n%s", r.raw)
		}
		if r.resp == nil {
			t.Fatal("no response")
		}
		trace := r.resp.Header.Get("x-llm-failover-trace")
		for i, p := range xProviders {
			if !strings.Contains(trace, "attempt="+strconv.Itoa(i+1)+";provider="+p.name) {
				t.Errorf("trace %q lacks attempt %d on %s", trace, i+1, p.name)
			}
		}
		for _, p := range xProviders {
			if c := s.fakes[p.name].Count(); c != 1 {
				t.Errorf("%s received %d requests, want 1 (no retry of the last answer)", p.name, c)
			}
		}
	})
}
