package processor

import (
	"testing"
	"time"
)

// TestTargetStats_CountsAttemptsErrorsTokensAndTTFB verifies a failover
// followed by an answer gives the failed target an attempt and an error,
// and the answering one an attempt with its reported tokens and its time to
// first byte; a target outside the configuration gets nothing.
func TestTargetStats_CountsAttemptsErrorsTokensAndTTFB(t *testing.T) {
	h := newHarness(t, "")
	dm := h.planFor(chatBody)
	s1 := h.runAttempt(dm, 1, "openai", "req-1", chatBody)
	h.clock.Advance(40 * time.Millisecond)
	s1.send(respHeaders(false, ":status", "503", "content-type", "application/json"))
	s1.send(respBody(`{"error":{"message":"down","type":"server_error"}}`, true))
	s1.recv()
	s1.recv()
	s1.close()
	s2 := h.runAttempt(dm, 2, "groq", "req-1", chatBody)
	defer s2.close()
	h.clock.Advance(250 * time.Millisecond)
	s2.send(respHeaders(false, ":status", "200", "content-type", "application/json"))
	s2.send(respBody(`{"id":"x","model":"llama","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}`, true))
	s2.recvSetHeaders()
	s2.recv()

	tests := []struct {
		key  string
		want TargetStats
	}{
		{"openai/gpt-4o", TargetStats{Attempts: 1, Errors: 1, TTFBP50: 40 * time.Millisecond, TTFBP95: 40 * time.Millisecond}},
		{"groq/llama-3.3-70b-versatile", TargetStats{Attempts: 1, Tokens: 42, TTFBP50: 250 * time.Millisecond, TTFBP95: 250 * time.Millisecond}},
	}
	for _, tt := range tests {
		if got := h.srv.TargetStats(tt.key); got != tt.want {
			t.Errorf("TargetStats(%s) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
	h.srv.recordStats("nobody/x", 0, time.Second, nil)
	if got := h.srv.TargetStats("nobody/x"); got != (TargetStats{}) {
		t.Errorf("TargetStats of an unconfigured target = %+v, want none", got)
	}
}

// TestQuantile_NearestRank verifies the quantiles of the TTFB samples.
func TestQuantile_NearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.95, 95 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := quantile(s, tt.q); got != tt.want {
			t.Errorf("quantile(1..100ms, %v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile([]time.Duration{7}, 0.95); got != 7 {
		t.Errorf("quantile of one sample = %v, want it", got)
	}
}

// TestTargetStats_KeepsTheLastTTFBSamples verifies the quantiles come from
// the last admin.ttfb_samples samples only.
func TestTargetStats_KeepsTheLastTTFBSamples(t *testing.T) {
	h := newHarness(t, "admin: {ttfb_samples: 16}\n")
	for i := 1; i <= 116; i++ { // 1..100ms are pushed out by 16 samples of 1s..1.015s
		d := time.Duration(i) * time.Millisecond
		if i > 100 {
			d = time.Second + time.Duration(i-101)*time.Millisecond
		}
		h.srv.recordStats("openai/gpt-4o", 0, d, nil)
	}
	got := h.srv.TargetStats("openai/gpt-4o")
	if got.Attempts != 116 || got.TTFBP50 != time.Second+7*time.Millisecond || got.TTFBP95 != time.Second+14*time.Millisecond {
		t.Errorf("TargetStats = %+v, want 116 attempts, p50 1.007s and p95 1.014s from the last 16 samples", got)
	}
}
