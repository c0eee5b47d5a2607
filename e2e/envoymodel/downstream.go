package envoymodel

import (
	"net"
	"net/netip"
	"strings"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// downstreamAddress is the downstream remote address the HCM gives the
// stream (StreamInfo downstreamAddressProvider().remoteAddress(), the
// source.address attribute), as conn_manager_utility.cc
// ConnectionManagerUtility::mutateRequestHeaders (1.40.0-dev cb2a49b)
// computes it from the TCP peer (Go's RemoteAddr form, "ip:port") and the
// request's x-forwarded-for, before Envoy appends to it:
//   - use_remote_address: with xff_num_trusted_hops n > 0 the address n-1
//     entries from the end of x-forwarded-for, else (or when that is not an
//     IP) the TCP peer;
//   - otherwise the default original IP detection
//     (http_connection_manager/config.cc adds envoy.http.original_ip_detection.xff
//     with xff_num_trusted_hops when none is configured; xff.cc
//     XffIPDetection::detect): the address n entries from the end, or the
//     TCP peer when that is not an IP (conn_manager_impl.cc keeps the
//     connection's address when detection finds none).
//
// An address from x-forwarded-for has port 0 (utility.cc
// getLastAddressFromXFF: parseInternetAddressNoThrow without a port).
// original_ip_detection_extensions other than the default are not modelled.
func downstreamAddress(hcm *hcmv3.HttpConnectionManager, h *headerMap, peer string) string {
	hops := hcm.GetXffNumTrustedHops()
	if hcm.GetUseRemoteAddress().GetValue() {
		if hops > 0 {
			if a, ok := lastXFFAddress(h.value("x-forwarded-for"), h.has("x-forwarded-for"), hops-1); ok {
				return a
			}
		}
		return peer
	}
	if a, ok := lastXFFAddress(h.value("x-forwarded-for"), h.has("x-forwarded-for"), hops); ok {
		return a
	}
	return peer
}

// lastXFFAddress is utility.cc Utility::getLastAddressFromXFF: skip the last
// skip entries, then the last entry, trimmed of spaces and tabs, must be an
// IP address; it is printed with port 0 as Address::Instance asString does.
func lastXFFAddress(xff string, present bool, skip uint32) (string, bool) {
	if !present {
		return "", false
	}
	for range skip {
		i := strings.LastIndexByte(xff, ',')
		if i < 0 {
			return "", false
		}
		xff = xff[:i]
	}
	if i := strings.LastIndexByte(xff, ','); i >= 0 {
		xff = xff[i+1:]
	}
	a, err := netip.ParseAddr(strings.Trim(xff, " \t"))
	if err != nil || a.Zone() != "" {
		return "", false
	}
	return net.JoinHostPort(a.String(), "0"), true
}

// appendXFF is conn_manager_utility.cc ConnectionManagerUtility::appendXff,
// run with use_remote_address unless skip_xff_append: the TCP peer's IP is
// appended to x-forwarded-for with "," (utility.cc Utility::appendXff).
// Envoy appends its own node address (config.localAddress()) instead of a
// loopback peer; the model does not know it and appends the loopback peer
// (guess: an address the client cannot choose either way).
func appendXFF(hcm *hcmv3.HttpConnectionManager, h *headerMap, peer string) {
	if !hcm.GetUseRemoteAddress().GetValue() || hcm.GetSkipXffAppend() {
		return
	}
	host, _, err := net.SplitHostPort(peer)
	if err != nil {
		return
	}
	if v := h.value("x-forwarded-for"); h.has("x-forwarded-for") && v != "" {
		h.set("x-forwarded-for", v+","+host)
		return
	}
	h.set("x-forwarded-for", host)
}
