package processor

import (
	"strings"
	"testing"
)

// TestEnvoyReplyText_DropsTransportFailureReason verifies that what the
// client reads of Envoy's own reply keeps the reset reason but never the
// transport failure reason Envoy appends (certificate errors, addresses):
// after '|' in the response code details on every version, and in the body
// on Envoy 1.38 (#44746).
func TestEnvoyReplyText_DropsTransportFailureReason(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"1.39 details",
			`{"error":{"message":"upstream connect error or disconnect/reset before headers. reset reason: connection failure","type":"server_error","param":null,"code":"upstream_reset_before_response_started{connection_failure|delayed_connect_error:_Connection_refused}"}}`,
			"upstream_reset_before_response_started{connection_failure}: upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
		{"1.38 body",
			`{"error":{"message":"upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED","type":"server_error","param":null,"code":"upstream_reset_before_response_started{connection_failure|TLS_error:_CERTIFICATE_VERIFY_FAILED}"}}`,
			"upstream_reset_before_response_started{connection_failure}: upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
		{"per-try timeout", `{"error":{"message":"upstream request timeout","type":"server_error","param":null,"code":"upstream_per_try_timeout"}}`,
			"upstream_per_try_timeout: upstream request timeout"},
		{"not JSON", "no healthy upstream", "no healthy upstream"},
		{"plain text with a reason", "reset reason: connection failure, transport failure reason: tls", "reset reason: connection failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := envoyReplyText([]byte(tc.body))
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "TLS") || strings.Contains(got, "Connection_refused") {
				t.Errorf("%q still names the transport failure", got)
			}
		})
	}
}
