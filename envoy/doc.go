// Package envoy generates the Envoy 1.40 bootstrap (envoy.yaml) that goes with an
// llm-failover configuration, and checks any envoy.yaml against Envoy's API.
//
// Generate builds the bootstrap from go-control-plane v1.40.0 types and prints
// it as YAML in a stable order; Check decodes a file strictly into
// envoy.config.bootstrap.v3.Bootstrap, runs the generated validators on it and
// on every typed_config Any inside it, and then makes the cross-reference
// checks Envoy makes at load time plus the ones our contract needs. The
// contract the output follows is docs/envoy-contract.md, its names and plan
// codec package contract; the Envoy mechanisms are described in
// docs/design.md section 2.
package envoy
