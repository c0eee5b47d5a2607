package envoymodel

import (
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestDownstreamAddress verifies source.address as the HCM computes it:
// the TCP peer with use_remote_address, the client's x-forwarded-for
// without it (the default xff detection), trusted hops either way.
func TestDownstreamAddress(t *testing.T) {
	const peer = "203.0.113.9:41000"
	edge := &hcmv3.HttpConnectionManager{UseRemoteAddress: wrapperspb.Bool(true)}
	edgeHop := &hcmv3.HttpConnectionManager{UseRemoteAddress: wrapperspb.Bool(true), XffNumTrustedHops: 1}
	inner := &hcmv3.HttpConnectionManager{}
	innerHop := &hcmv3.HttpConnectionManager{XffNumTrustedHops: 1}
	tests := []struct {
		name string
		hcm  *hcmv3.HttpConnectionManager
		xff  string // "" means no header
		want string
	}{
		{"edge ignores a forged xff", edge, "10.0.0.1", peer},
		{"edge without xff", edge, "", peer},
		{"edge with one trusted hop takes the last entry", edgeHop, "1.1.1.1, 10.0.0.1", "10.0.0.1:0"},
		{"edge trusted hop with a bad entry falls back to the peer", edgeHop, "junk", peer},
		{"default detection takes the client's last xff entry", inner, "1.1.1.1,10.0.0.1", "10.0.0.1:0"},
		{"default detection with ipv6", inner, " 2001:db8::1 ", "[2001:db8::1]:0"},
		{"default detection without xff keeps the peer", inner, "", peer},
		{"default detection with garbage keeps the peer", inner, "nope", peer},
		{"default detection with a trusted hop skips one", innerHop, "1.1.1.1, 10.0.0.1", "1.1.1.1:0"},
		{"trusted hop past the first entry keeps the peer", innerHop, "10.0.0.1", peer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &headerMap{}
			if tt.xff != "" {
				h.set("x-forwarded-for", tt.xff)
			}
			if got := downstreamAddress(tt.hcm, h, peer); got != tt.want {
				t.Errorf("downstreamAddress = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAppendXFF verifies that an edge HCM appends the peer to x-forwarded-for.
func TestAppendXFF(t *testing.T) {
	edge := &hcmv3.HttpConnectionManager{UseRemoteAddress: wrapperspb.Bool(true)}
	h := &headerMap{}
	h.set("x-forwarded-for", "10.0.0.1")
	appendXFF(edge, h, "203.0.113.9:41000")
	if got := h.value("x-forwarded-for"); got != "10.0.0.1,203.0.113.9" {
		t.Errorf("x-forwarded-for = %q, want 10.0.0.1,203.0.113.9", got)
	}
	h = &headerMap{}
	appendXFF(&hcmv3.HttpConnectionManager{}, h, "203.0.113.9:41000")
	if h.has("x-forwarded-for") {
		t.Errorf("x-forwarded-for added without use_remote_address")
	}
}
