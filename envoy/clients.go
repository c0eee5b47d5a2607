package envoy

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// clientAttributes adds what the route-phase filter needs to identify
// callers when c has a clients policy, and nothing otherwise: the
// request_attributes source.address and connection.uri_san_peer_certificate
// (Envoy sends them with the request headers message) and, with
// clients.jwt, the jwt_authn namespace in its forwarding_namespaces
// (ext_proc sends only forwarding namespaces to the server).
func clientAttributes(c *config.Config, route *extprocv3.ExternalProcessor) {
	if !c.Clients.Active() {
		return
	}
	route.RequestAttributes = append(route.RequestAttributes, contract.ClientAttributes()...)
	if c.Clients.JWT != nil {
		if route.MetadataOptions == nil {
			route.MetadataOptions = &extprocv3.MetadataOptions{}
		}
		route.MetadataOptions.ForwardingNamespaces = &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{contract.JWTNamespace}}
	}
}

// clientAddress makes source.address the TCP peer when c has a clients
// policy: without use_remote_address Envoy takes the downstream address
// from the last x-forwarded-for entry (conn_manager_utility.cc
// mutateRequestHeaders with the default xff original IP detection and 0
// trusted hops), which any client can write. preserve_external_request_id
// keeps a client's x-request-id, as without use_remote_address.
func clientAddress(c *config.Config, hcm *hcmv3.HttpConnectionManager) {
	if !c.Clients.Active() {
		return
	}
	hcm.UseRemoteAddress = wrapperspb.Bool(true)
	hcm.PreserveExternalRequestId = true
}
