// Package istio writes what an Istio operator applies to run llm-failover
// behind an Istio ingress gateway (and, optionally, workloads' sidecars):
// EnvoyFilter patches carrying the Envoy pieces of envoy.BuildFragments for
// the Envoy release the Istio release is built on (Istio 1.30 = Envoy 1.38,
// Istio 1.31 = Envoy 1.39), a ServiceEntry and DestinationRule (TLS
// origination) per provider host, and the Kubernetes Service of the
// ext_proc server. docs/istio.md describes the objects and what the
// operator must provide; the EnvoyFilter API is
// https://istio.io/latest/docs/reference/config/networking/envoy-filter/.
package istio
