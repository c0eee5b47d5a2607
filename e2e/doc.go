// Package e2e holds the end-to-end failover scenarios (issue 4): every
// scenario goes through the HTTP front door with the official OpenAI Go SDK
// (github.com/openai/openai-go/v3) as the client, while fake providers
// (package fakellm) record what reached them.
//
// By default each test runs once per Envoy version (forVersions: 1.38, 1.39,
// 1.40, and 1.38 with the #45355 backport, as parallel subtests
// envoy-<entry>) and each run builds its own stack on 127.0.0.1: three fake
// OpenAI-style providers (primary, secondary, tertiary, tls: false), an
// llm-failover config for them with envoy.version set, the envoy.yaml that
// envoy.Generate makes from it for that version (checked with
// envoy.CheckVersion), the real ext_proc server (processor.New) on a gRPC
// server, and the Envoy behavioural model (package e2e/envoymodel) playing
// that version and serving that envoy.yaml.
// Each stack's envoy.unavailable_port (the loopback listener that answers
// 503 for a provider with no healthy host) is a port free at run time, so
// stacks of parallel tests never share it; a stack whose model cannot serve
// that listener fails. The model is a test instrument; its package documentation lists what it
// models and what it does not.
//
// The cross-provider scenarios (issue 5, crossprovider_test.go) build another
// stack the same way: an OpenAI primary, an Anthropic secondary and a Gemini
// tertiary, each fake answering in its own format, with the provider keys in
// environment variables; the client still speaks only OpenAI.
//
// The scenarios of issue 8 (what a real Envoy and real provider faults
// showed) are grouped by concern: lifecycle_test.go (drain and reload while
// a request fails over, a misconfigured deployment's answer, client
// cancellations and the breaker), bounds_test.go (a silent 200 stream fails
// over at stream_first_event_timeout; a request's attempts are bounded by its
// own plan) and faults_test.go (compressing providers, 200s that are not
// answers, cut bodies and streams, errors after a stream's first event, the
// retry marker, client credentials, echoed keys and absurd Retry-After).
// unresolvable_test.go: a provider whose DNS name does not resolve (a .invalid
// host) fails over through the unavailable endpoint, opens its breaker, and
// as a chain's only target gets the client an OpenAI-style 503 at once.
// The scenarios of issue 9: clients_test.go (a clients section: callers
// allowed by key and source, refused 401/403/429 before any provider is
// asked) and envoykeys_test.go (a provider key held by Envoy: injected,
// rotated by renaming its secret file, never seen by the server).
// Some need the server's breaker registry or a config of their own and are
// skipped against a real Envoy.
//
// # Against a real Envoy
//
// With E2E_ENVOY_URL set (the Envoy listener, e.g. http://127.0.0.1:10000)
// the scenarios use that front door instead, and E2E_FAKE_ADMIN_URLS names
// the fake providers' base URLs, whose /_fake/ admin API sets faults and
// reads records:
//
//	E2E_ENVOY_URL=http://127.0.0.1:10000 \
//	E2E_FAKE_ADMIN_URLS=primary=http://127.0.0.1:8081,secondary=http://127.0.0.1:8082,tertiary=http://127.0.0.1:8083 \
//	go test ./e2e/...
//
// The stack behind that URL must run the configuration in the Output of
// Example_externalConfig (e2e/stack_test.go; go test ./e2e -run Example_externalConfig
// checks it):
// the same providers, chain and limits, with the provider keys
// sk-primary-e2e, sk-secondary-e2e and sk-tertiary-e2e, generated into
// envoy.yaml with `llm-failover envoy-config`; docker compose (the repository's
// docker-compose.yml with that config mounted) is the usual way. Scenarios
// that need an injected clock (breaker cooldown and recovery) or control of
// the ext_proc server (stop and restart), and the cross-provider scenarios,
// whose config differs, are skipped in that mode with a message saying so.
//
// The whole suite runs in under a minute; it must stay well under 5 minutes
// with -race on 2 cores. Timing bounds are generous, and the load scenario
// (TestScenario8_LoadWithFaults) bounds its concurrency by the machine and
// gives every timeout room (stackOpts.slowMachine: the per-try timeout and,
// through envoy.route_message_timeout and envoy.attempt_message_slack, both
// ext_proc message timeouts), so a loaded machine slows it down without
// failing it.
package e2e
