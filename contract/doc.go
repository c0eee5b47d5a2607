// Package contract is the agreement between the Envoy configuration that
// package envoy generates and the ext_proc server in package processor
// (docs/envoy-contract.md): the gRPC metadata that tells the phases apart,
// the headers each side sets and reads, the dynamic metadata namespaces and
// endpoint metadata keys, the request attributes the phases ask for, and the
// plan the route phase hands to the attempt phase, with its one encoder,
// decoder and canonical (signed) encoding.
//
// Both sides import these names instead of writing them, so the generated
// configuration and the server cannot drift apart. The Envoy model in
// e2e/envoymodel deliberately does not import this package: it states the
// contract on its own, so that it never shares a mistake with the server.
package contract
