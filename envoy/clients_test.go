package envoy

import (
	"slices"
	"testing"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// routeFilterOf returns the HCM and the route-phase ext_proc filter of c's bootstrap.
func routeFilterOf(t *testing.T, path string) (*hcmv3.HttpConnectionManager, *extprocv3.ExternalProcessor) {
	t.Helper()
	b, err := Bootstrap(loadConfig(t, path))
	if err != nil {
		t.Fatal(err)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	ep := &extprocv3.ExternalProcessor{}
	if err := hcm.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(ep); err != nil {
		t.Fatal(err)
	}
	return hcm, ep
}

// TestClients_RoutePhaseGetsCallerIdentity verifies that a clients policy
// makes the route phase receive source.address, the peer URI SAN and the
// jwt_authn payloads, with source.address the TCP peer (use_remote_address),
// and that without one nothing changes.
func TestClients_RoutePhaseGetsCallerIdentity(t *testing.T) {
	hcm, ep := routeFilterOf(t, "testdata/clients.config.yaml")
	if !hcm.GetUseRemoteAddress().GetValue() || !hcm.GetPreserveExternalRequestId() || hcm.GetXffNumTrustedHops() != 0 {
		t.Errorf("HCM use_remote_address %v, preserve_external_request_id %v, xff_num_trusted_hops %d; want true, true, 0",
			hcm.GetUseRemoteAddress().GetValue(), hcm.GetPreserveExternalRequestId(), hcm.GetXffNumTrustedHops())
	}
	if got := ep.GetRequestAttributes(); !slices.Equal(got, []string{"source.address", "connection.uri_san_peer_certificate"}) {
		t.Errorf("request_attributes = %q, want source.address and connection.uri_san_peer_certificate", got)
	}
	if got := ep.GetMetadataOptions().GetForwardingNamespaces().GetUntyped(); !slices.Equal(got, []string{"envoy.filters.http.jwt_authn"}) {
		t.Errorf("forwarding_namespaces = %q, want envoy.filters.http.jwt_authn", got)
	}
	if got := ep.GetMetadataOptions().GetReceivingNamespaces().GetUntyped(); len(got) != 2 {
		t.Errorf("receiving_namespaces = %q, want the plan's two", got)
	}
	hcm, ep = routeFilterOf(t, "testdata/minimal.config.yaml")
	if hcm.GetUseRemoteAddress() != nil || len(ep.GetRequestAttributes()) != 0 || ep.GetMetadataOptions().GetForwardingNamespaces() != nil {
		t.Errorf("without clients: use_remote_address %v, request_attributes %q, forwarding %v; want none",
			hcm.GetUseRemoteAddress(), ep.GetRequestAttributes(), ep.GetMetadataOptions().GetForwardingNamespaces())
	}
}
