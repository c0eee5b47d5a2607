// Package xds serves the Envoy resources llm-failover generates over ADS
// (the aggregated discovery service, state of the world), so that a config
// reload that adds a provider or changes a chain reaches Envoy without a
// restart; and it writes the bootstrap that points Envoy at that server.
//
// The resources are envoy.BuildFragments' pieces, whatever topology the
// configured Envoy version uses: the client listener (its routes through
// RDS), the other listeners, the route configuration and every cluster; no
// secret, so no key, is ever served. They are served with go-control-plane's SotW server and
// snapshot cache (pkg/server/v3, pkg/cache/v3), every Envoy that connects
// getting the same snapshot. The protocol is
// https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol; the
// operator's guide is docs/xds.md.
package xds
