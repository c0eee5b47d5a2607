// Package access owns the client access policy of the route phase: it
// identifies the caller of a request (an API key it sends, compared as a
// SHA-256 hash in constant time; the mTLS URI SAN or JWT claim Envoy
// verified; its source address from Envoy's source.address attribute) and
// decides before any attempt whether the caller may use the chain and model
// it asks for, within its request rate and token budget per fixed window.
//
// A Policy is compiled once per configuration and is immutable. A Limiter
// holds the windows: one per configured client and one shared by every
// unknown caller, never anything keyed by what a caller sends, so its memory
// is bounded by the configuration. Time comes from the caller (now); nothing
// here reads the wall clock.
//
// Spec: docs/configuration.md ("clients") and docs/envoy-contract.md
// ("Route phase": the source.address, connection.uri_san_peer_certificate
// attributes and the envoy.filters.http.jwt_authn metadata).
package access
