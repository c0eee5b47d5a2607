package processor

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestVerifyProbe_AcceptsOnlyWhatTheServerSigned verifies the probe
// header: the server's own signature over the body verifies (and names its
// target), also after a key change with the previous key; a changed body,
// target or expiry, another key, an expired header and malformed values
// are refused, each with its reason.
func TestVerifyProbe_AcceptsOnlyWhatTheServerSigned(t *testing.T) {
	h := newHarness(t, "")
	s := h.srv
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
	good := s.SignProbe("openai/gpt-4o", body, now.Add(time.Minute))
	other, _ := newPlanKeys()
	other.set(other.random)
	foreign := (&Server{planKeys: other}).SignProbe("openai/gpt-4o", body, now.Add(time.Minute))
	ms, rest, _ := strings.Cut(good, ".")
	sig, _, _ := strings.Cut(rest, ".")
	tests := []struct {
		name    string
		header  string
		body    []byte
		at      time.Time
		wantKey string
		wantErr error
	}{
		{"its own signature", good, body, now, "openai/gpt-4o", nil},
		{"at its expiry", good, body, now.Add(time.Minute), "openai/gpt-4o", nil},
		{"after its expiry", good, body, now.Add(time.Minute + time.Millisecond), "", errProbeExpired},
		{"another body", good, []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"write a novel"}]}`), now, "", errProbeSignature},
		{"another target", ms + "." + sig + ".groq/llama-3.3-70b-versatile", body, now, "", errProbeSignature},
		{"a later expiry", "99999999999999." + sig + ".openai/gpt-4o", body, now, "", errProbeSignature},
		{"another key", foreign, body, now, "", errProbeSignature},
		{"no target", ms + "." + sig + ".", body, now, "", errProbeHeader},
		{"no signature", ms + "..openai/gpt-4o", body, now, "", errProbeHeader},
		{"not a number", "soon." + sig + ".openai/gpt-4o", body, now, "", errProbeHeader},
		{"a signature of another length", ms + ".AAAA.openai/gpt-4o", body, now, "", errProbeHeader},
		{"empty", "", body, now, "", errProbeHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := s.verifyProbe(tt.header, tt.body, tt.at)
			if key != tt.wantKey || !errors.Is(err, tt.wantErr) {
				t.Errorf("verifyProbe = %q, %v; want %q, %v", key, err, tt.wantKey, tt.wantErr)
			}
		})
	}
	t.Run("the previous key after a change", func(t *testing.T) {
		s.planKeys.set([]byte(strings.Repeat("k", 32)))
		if key, err := s.verifyProbe(good, body, now); key != "openai/gpt-4o" || err != nil {
			t.Errorf("verifyProbe = %q, %v; want the target, nil", key, err)
		}
	})
}

// FuzzProbe_VerifyNeverPanics verifies the probe header parser on
// arbitrary headers and bodies never panics and never accepts a header the
// server did not sign.
func FuzzProbe_VerifyNeverPanics(f *testing.F) {
	f.Add("1767225660000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.openai/gpt-4o", []byte(`{}`))
	f.Add("..", []byte(nil))
	f.Add("-1.x.y.z", []byte("ping"))
	k, _ := newPlanKeys()
	k.set(k.random)
	s := &Server{planKeys: k}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if key, err := s.verifyProbe(header, body, time.Unix(0, 0)); err == nil {
			t.Fatalf("verified a probe header nobody signed: %q (target %q)", header, key)
		}
	})
}
