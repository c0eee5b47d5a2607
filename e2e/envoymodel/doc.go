// Package envoymodel is a behavioural model of the parts of Envoy 1.38, 1.39
// and 1.40 that llm-failover relies on (docs/design.md section 2,
// docs/compatibility.md), for tests where no Envoy binary can run.
// Options.Version picks the version played (default 1.40). It reads an envoy.yaml into go-control-plane's bootstrapv3.Bootstrap,
// serves the first HTTP connection manager listener on a loopback address
// (Options.Listen) and every other HCM listener on its configured loopback
// address (or on a socket the caller bound for it, Options.Listeners) (such as the "unavailable" listener provider clusters reach
// through a priority-1 endpoint), and talks real gRPC to the configured
// ext_proc server and real HTTP to the clusters' endpoints.
//
// It is a test instrument, not a proxy: every modelled rule names the Envoy
// source file or proto field it follows, and says "guess" where it guesses.
//
// What differs per version (version.go; release commits in the
// wbpcode/envoy mirror: v1.38.0 f1dd21b16c, v1.39.0 8eea3285d6, 1.40 read at
// 1.40.0-dev cb2a49b):
//
//   - Config a version lacks is refused at load, with its path: every field,
//     typed_config type and enum value of the 1.40 API missing from the
//     release's API (absent_api.txt, generated from envoy/apidata and kept
//     equal to it by a test), such as RetryPolicy.refresh_cluster_on_retry
//     on 1.38, even written as false, and the priority_group cluster
//     specifier on 1.38 and 1.39.
//
//   - refresh_cluster_on_retry (1.39, 1.40): a retry re-runs the cluster
//     specifier after the attempt count is incremented and before the
//     x-envoy-attempt-count header is rewritten (router.cc doRetry,
//     continueDoRetry), so a matcher keyed on that header sees the previous
//     attempt's count. Only the matcher and priority_group refresh; a plain
//     cluster and cluster_header (DynamicRouteEntry) keep their cluster. On
//     1.38 a retry always reuses the first attempt's cluster.
//
//   - #45355 (in 1.39 and 1.40, not in v1.38.0): see the ext_proc item
//     below. On 1.38 a STREAMED headers answer continues the held response
//     headers at once (handleHeaderContinue at f1dd21b16c), unless the
//     upstream body had already ended. Options.Backport45355 plays a 1.38.x
//     build with the backport (#46952), whose presence in Istio 1.30's Envoy
//     is unknown: the e2e matrix plays 1.38 both without it and with it.
//
//   - #44746 (in 1.39 and 1.40): the local reply for an upstream reset no
//     longer shows the transport failure reason in its body; on 1.38 it
//     does (", transport failure reason: delayed connect error: Connection
//     refused"). The response code details name it on every version.
//
//   - #44819 (in 1.39 and 1.40): a HeaderMatcher (route match headers,
//     retriable_headers) matches a header sent several times value by
//     value; on 1.38 it matches the values joined with ",".
//
// The same on every version:
//
//   - The matcher cluster specifier (matcher.go): a matcher_tree on
//     HttpRequestHeaderMatchInput (every value of the header joined with
//     ","), exact_match_map, nested matchers, on_no_match (a key found whose
//     nested matcher does not match falls through to the enclosing
//     on_no_match), ClusterAction leaves. Nothing matched on the route's
//     evaluation leaves no cluster (503 cluster_not_found); on a refresh it
//     keeps the previous cluster. Other matcher shapes are load errors.
//   - cluster_header: the header's first value names the cluster; none or an
//     unknown name is a 503 cluster_not_found.
//   - The aggregate cluster (priority.go; lb_policy CLUSTER_PROVIDED
//     required): the children's priorities that have a host, linearized in
//     child order; the host comes from the child (its metadata, hostname,
//     protocol, connection pool and max_requests), while the upstream HTTP
//     filters, xds.cluster_name, the retry policy of HttpProtocolOptions and
//     the max_retries breaker are the aggregate's. A child aggregate is not
//     modelled.
//   - retry_priority envoy.retry_priorities.previous_priorities
//     (update_frequency > 0): on retries, the priorities of the hosts
//     attempted so far get no load; when none is left, the exclusions are
//     cleared and the load wraps around to the first priority. It applies
//     to any cluster: a provider cluster's priority-1 endpoint takes a
//     retry. Other retry priorities are load errors.
//   - HttpProtocolOptions.retry_policy of the first attempt's cluster
//     replaces the route's retry policy (router.cc getEffectiveRetryPolicy)
//     except per_try_timeout, which stays the route's (finalTimeout).
//
// What it models:
//
//   - HCM: the downstream remote address (the source.address attribute:
//     the TCP peer with use_remote_address, else the client's last
//     x-forwarded-for entry, xff_num_trusted_hops either way; downstream.go)
//     and the x-forwarded-for append with use_remote_address,
//     x-request-id generation (replaced on edge requests with
//     use_remote_address unless preserve_external_request_id), the
//     stripping of x-envoy-* control headers from external clients
//     (conn_manager_utility.cc cleanInternalHeaders: without
//     internal_address_config every request is external) and of the
//     route configuration's internal_only_headers, virtual host and route
//     matching, direct_response, http_filters (envoy.filters.http.ext_proc,
//     then envoy.filters.http.router; other filters are ignored with a
//     warning), the request body buffer limit (per_connection_buffer_limit_bytes,
//     default 1 MiB, raised but never lowered by the route's
//     request_body_buffer_limit; 413), local_reply_config (mappers with
//     and/or, status_code and CEL response.code_details filters, inline body,
//     json_format body_format_override; local replies only, see localreply.go).
//   - ext_proc (both phases): gRPC initial metadata, message order, processing
//     modes (SEND/SKIP, NONE/BUFFERED/STREAMED), mode_override,
//     send_body_without_waiting_for_header_response, forward_rules
//     (allowed_headers, disallowed_headers; a header kept from the server
//     stays in the request; mutation_utils.cc headerCanBeForwarded), header
//     mutation rules
//     (mutation_rules.cc Checker, allow_expression before allow_envoy;
//     mutation_utils.cc applyHeaderMutations: only raw_value and the
//     deprecated append are read, append_action is not), the header count
//     and size limits of a mutation, the content-length check on body
//     replacement,
//     clear_route_cache / route_cache_action, receiving and forwarding
//     metadata namespaces, request_attributes (those in attributes.go;
//     connection.* TLS attributes are absent, as on a plain-text
//     listener), message_timeout (started by
//     every message sent, stopped by every answer processed, even while
//     earlier chunks await theirs), a gRPC
//     client without grpc-go's 4 MiB receive limit (envoy_grpc
//     max_receive_message_length, default unlimited),
//     failure_mode_allow, status_on_error, ImmediateResponse, spurious messages,
//     with Envoy's response code details for each local reply.
//     A local reply of an upstream (attempt-phase) ext_proc filter (an
//     ImmediateResponse, or status_on_error after a gRPC error, message
//     timeout, rejected mutation or content-length mismatch) goes to the
//     client at once through the HCM encoder filters and is never retried
//     (ext_proc.cc sendImmediateResponse, upstream_request.cc
//     UpstreamFilterManager::sendLocalReply).
//     On 1.39 and 1.40, STREAMED response bodies follow Envoy #45355 (processor_state.cc
//     handleHeaderContinue): a headers answer does not release the held
//     response headers; they go on with the first answered body chunk, or
//     when the gRPC stream ends (onGrpcClose, failure_mode_allow), after
//     which chunks pass unprocessed. Until then the router has not seen the
//     headers: per_try_timeout runs and an upstream reset is retried.
//   - Router: cluster, cluster_header, weighted_clusters (refused with
//     refresh_cluster_on_retry: #44823's refresh is not modelled), the
//     matcher cluster specifier plugin and, on 1.40, the priority_group
//     plugin with its metadata override; retry_policy (retry_on 5xx,
//     gateway-error, reset, connect-failure, retriable-status-codes,
//     retriable-headers, envoy-ratelimited; num_retries; jittered backoff;
//     per_try_timeout; refresh_cluster_on_retry); a response with
//     x-envoy-ratelimited is not retried; the request headers
//     x-envoy-retry-on, x-envoy-max-retries, x-envoy-retriable-status-codes,
//     x-envoy-retriable-header-names (retry_state_impl.cc),
//     x-envoy-upstream-rq-timeout-ms and x-envoy-upstream-rq-per-try-timeout-ms
//     (router.cc FilterUtility::finalTimeout), honoured and removed before
//     the upstream request; x-envoy-expected-rq-timeout-ms; route timeout;
//     auto_host_rewrite; include_request_attempt_count; upstream HTTP
//     filters per attempt sharing one request header map; the retry
//     buffer limit (router.cc calculateEffectiveBufferLimit: the route's
//     request body limit when set, even below the connection's; a larger
//     body gets no retry); "no healthy
//     upstream" (a 503 local reply, never retried) when no priority has a
//     host.
//   - credential_injector as an upstream HTTP filter with the generic
//     credential (credential_injector_filter.cc, generic_impl.cc): header
//     (default authorization) = header_value_prefix + the secret, set after
//     the ext_proc filters before it (an ext_proc filter in BUFFERED request
//     body mode holds the headers until its body answer), overwrite (else an
//     existing header is kept and the request goes on),
//     allow_request_without_credential (else an empty or missing secret is
//     a 401 "Failed to inject credential." upstream local reply, details
//     failed_to_inject_credential, straight to the client, never retried).
//     The secret comes from an SDS file (sds_config.path_config_source;
//     inline_string or inline_bytes generic secrets): read at load and
//     re-read when a request finds another file at the path (os.SameFile),
//     which is what a rename onto the path (Envoy's MovedTo watch,
//     filesystem_subscription_impl.cc) produces; a file written in place is
//     not noticed, as in Envoy. Envoy applies a new file when its main
//     thread handles the event, the model on the next request. More lenient than Envoy only for a file
//     created at the path without a rename. A rejected update (parse error,
//     unknown field, not exactly one resource, another secret's name)
//     keeps the previous secret (sds_api.cc SdsApi::onConfigUpdate).
//     Static secrets, watched_directory and other credential types are load
//     errors; a generic secret read from a file or the environment is not
//     modelled and is rejected like a bad update.
//   - Clusters: STATIC (IP or pipe endpoints), STRICT_DNS and LOGICAL_DNS
//     (one lb_endpoint only, as Envoy requires) with names resolved when a
//     host is picked, from the hosts file only (RFC 6761 localhost and
//     .invalid answered without a lookup; no DNS query is made; an
//     unresolved name contributes no host); endpoint priorities: the lowest
//     priority with a host takes all the load (exact while every host is
//     healthy, as here); circuit_breakers (DEFAULT priority) max_requests
//     on every cluster (an ext_proc stream or an attempt holds one; overflow
//     is an Unavailable gRPC error for ext_proc, a 503 never retried for a
//     provider) and max_retries (default 3: retries in progress whose first
//     attempt went to the cluster; past it the response goes to the client
//     unretried; retry_budget is modelled as its min_retry_concurrency only).
//     The model never connects outside the loopback network: a host
//     elsewhere is a connection failure.
//   - Upstreams: HTTP/1.1 or h2c (explicit http2_protocol_options). TLS
//     transport sockets are NOT modelled: the model always speaks plain HTTP to
//     the endpoint, so tests point TLS clusters at plain loopback servers.
//
// Approximations: per_try_timeout runs from the start of the attempt
// (Envoy starts it once the request is complete and a connection is
// obtained) to the response headers reaching the router; the route timeout
// covers the time to response headers only; a request body over the limit
// is answered 413 even when no filter buffers it.
//
// What it does not model: listeners without an HCM or off the loopback
// network, TLS (transport_socket and transport_socket_matches: every
// endpoint is reached in plain text), HTTP/3,
// load-balancing policies beyond round robin, partial priority load (health
// checks, outlier detection, overprovisioning_factor below 100), DNS
// refresh and TTLs, the circuit breakers max_pending_requests and
// max_connections, the budget part of retry_budget, per_try_idle_timeout,
// hedging, override_message_timeout (a message carrying only it is treated
// as spurious, stricter than Envoy, which ignores it without
// max_message_timeout), Envoy's exact gRPC error messages (the model's come
// from grpc-go, after the same ext_proc_error_gRPC_error_<code> prefix),
// rate_limited_retry_back_off, retry host predicates, retry priorities
// other than previous_priorities, named cluster_specifier_plugins,
// x-envoy-retry-grpc-on, internal_address_config (every request is treated as
// external), the ext_proc stream close optimization (a stream stays open
// until its HTTP stream ends, so the model counts streams at least as long
// as Envoy), trailers, per-route filter config beyond disabled,
// processing_mode and failure_mode_allow, FULL_DUPLEX_STREAMED (treated as
// STREAMED), access logs, the admin interface, typed dynamic metadata, HTTP
// services for ext_proc, response trailers.
package envoymodel
