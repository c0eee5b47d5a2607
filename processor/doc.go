// Package processor is the Envoy ext_proc service of llm-failover
// (envoy.service.ext_proc.v3.ExternalProcessor). One Server serves both
// phases, told apart by the gRPC initial metadata x-llm-failover-phase: the
// route phase (HTTP connection manager filter) validates the request and
// publishes the plan as dynamic metadata; the attempt phase (upstream filter
// on each provider cluster) rewrites each attempt for its provider, judges the
// response, feeds the breakers and tells Envoy whether to retry. Each stream is
// one state machine owned by one goroutine; the contract with Envoy is
// docs/envoy-contract.md, its names and the plan codec package contract
// (processor signs and verifies plans), and the map of the system
// docs/design.md. It speaks only ext_proc and plans: what a request or
// answer says in the client's format is asked of package provider
// (Inspect, Check, translators, ClientError, UsageMeter), and hold timers
// run on the injected clock (package clock). On chains with affinity the
// route phase also names the request's conversation and keeps it on its
// target (affinity.go, package affinity).
package processor
