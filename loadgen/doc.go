// Package loadgen drives an ext_proc gRPC server the way Envoy does, for
// load tests (cmd/extproc-load, docs/performance.md).
//
// A Profile holds the two ext_proc filters a request goes through: the HTTP
// connection manager's filter (this project's route phase) and the
// upstream filter of the provider's cluster (the attempt phase), each with
// the fields of its ExternalProcessor configuration that decide what Envoy
// sends: processing modes, request_attributes (sent once, on the first
// message of the request direction), metadata_options forwarding
// namespaces (the dynamic metadata on every message, including each
// streamed body chunk) and receiving namespaces, allow_mode_override and
// send_body_without_waiting_for_header_response. The message sequence
// follows the e2e Envoy model (e2e/envoymodel, extproc.go decode and
// encode.go encode), which follows Envoy's ext_proc filter: a request body
// is sent whole with end_of_stream; a STREAMED response body is sent chunk
// by chunk without waiting for answers, which come back in order.
//
// LLMFailover builds this project's profile from the Envoy bootstrap the
// project generates for a configuration, so the harness follows the
// generator; AIGW is Envoy AI Gateway's shape, taken from its extension
// server. Run measures requests per second, the latency of whole requests
// (all messages of both filters) and the server's CPU per request from
// /proc/<pid>/stat, and optionally its allocations.
//
// Not modelled: retries and failover (every attempt succeeds), the
// router's headers beyond x-envoy-expected-rq-timeout-ms,
// x-envoy-attempt-count and :authority, mutation rules, message timeouts
// and trailers.
package loadgen
