package envoy

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/llm-failover/llm-failover/config"
)

// unavailableBody is what the loopback listener answers: an OpenAI-style
// error the attempt phase classifies as a provider 503 and fails over.
const unavailableBody = `{"error":{"message":"The provider has no healthy host: its address did not resolve or no endpoint is up.","type":"server_error","param":null,"code":"no_healthy_upstream"}}` + "\n"

// unavailableListener listens on 127.0.0.1:envoy.unavailable_port and
// answers every request 503 with unavailableBody (a direct_response, no
// ext_proc). It is every provider cluster's priority-1 endpoint
// (unavailableEndpoints). Its HCM codec is AUTO, so HTTP/1.1 and HTTP/2
// (prior knowledge) clusters both reach it.
func unavailableListener(c *config.Config) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: UnavailableListener,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: UnavailableListener,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    UnavailableListener,
				Domains: []string{"*"},
				Routes:  []*routev3.Route{jsonDirectResponse("unavailable", 503, unavailableBody)},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: filterRouter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
	return hcmListener(UnavailableListener, socketAddress("127.0.0.1", c.Envoy.UnavailablePort), hcm)
}
