package envoymodel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// retryPolicy is the compiled route (or virtual host) retry_policy.
type retryPolicy struct {
	on          map[string]bool
	numRetries  int
	statusCodes map[int]bool
	headers     []*routev3.HeaderMatcher
	perTry      time.Duration
	base, max   time.Duration
	refresh     bool
	// priorityUpdateFrequency is the previous_priorities retry priority's
	// update_frequency; 0 without a retry priority.
	priorityUpdateFrequency int
}

// compileRetry follows route_components.proto RetryPolicy and
// source/common/router/retry_policy_impl.cc: num_retries defaults to 1,
// retry_back_off base_interval to 25ms and max_interval to 10x base.
func compileRetry(rp *routev3.RetryPolicy) *retryPolicy {
	p := &retryPolicy{on: map[string]bool{}, statusCodes: map[int]bool{}, base: 25 * time.Millisecond}
	if rp == nil {
		return p
	}
	for _, s := range strings.Split(rp.GetRetryOn(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			p.on[s] = true
		}
	}
	p.numRetries = 1
	if v := rp.GetNumRetries(); v != nil {
		p.numRetries = int(v.GetValue())
	}
	for _, c := range rp.GetRetriableStatusCodes() {
		p.statusCodes[int(c)] = true
	}
	p.headers = rp.GetRetriableHeaders()
	if d := rp.GetPerTryTimeout(); d != nil {
		p.perTry = d.AsDuration()
	}
	if b := rp.GetRetryBackOff(); b != nil {
		if d := b.GetBaseInterval(); d != nil {
			p.base = d.AsDuration()
		}
		if d := b.GetMaxInterval(); d != nil {
			p.max = d.AsDuration()
		}
	}
	if p.max == 0 {
		p.max = 10 * p.base
	}
	p.refresh = rp.GetRefreshClusterOnRetry()
	// Checked at load (checkRetryPolicy): only previous_priorities.
	p.priorityUpdateFrequency, _ = compileRetryPriority(rp.GetRetryPriority())
	return p
}

// fromRequestHeaders is the RetryStateImpl constructor's reading of the
// request headers (retry_state_impl.cc, 1.40.0-dev cb2a49b): x-envoy-retry-on
// adds retry_on policies; x-envoy-max-retries replaces num_retries when
// retry_on is not empty and the value is a number;
// x-envoy-retriable-status-codes and x-envoy-retriable-header-names add
// codes and name-only matchers. RetryStateImpl::create then removes every
// retry header so none goes upstream (removeRetryHeaders). retry_on names
// the model does not know are ignored, as parseRetryOn does.
func (p *retryPolicy) fromRequestHeaders(h *headerMap) {
	if v, ok := h.get("x-envoy-retry-on"); ok {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				p.on[s] = true
			}
		}
	}
	if v, ok := h.get("x-envoy-max-retries"); ok && len(p.on) > 0 {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			p.numRetries = int(n)
		}
	}
	if v, ok := h.get("x-envoy-retriable-status-codes"); ok {
		for _, s := range strings.Split(v, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				p.statusCodes[n] = true
			}
		}
	}
	if v, ok := h.get("x-envoy-retriable-header-names"); ok {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				p.headers = append(p.headers, &routev3.HeaderMatcher{Name: s})
			}
		}
	}
	removeRetryHeaders(h)
}

// removeRetryHeaders is the end of retry_state_impl.cc RetryStateImpl::create.
func removeRetryHeaders(h *headerMap) {
	for _, k := range []string{"x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries",
		"x-envoy-hedge-on-per-try-timeout", "x-envoy-retriable-header-names",
		"x-envoy-retriable-status-codes", "x-envoy-upstream-rq-per-try-timeout-ms"} {
		h.del(k)
	}
}

// retryOnHeaders is retry_state_impl.cc wouldRetryFromHeaders.
func (p *retryPolicy) retryOnHeaders(h *headerMap, individually bool) bool {
	// A response carrying x-envoy-ratelimited (from an upstream Envoy) is
	// retried only with retry_on envoy-ratelimited.
	if h.has("x-envoy-ratelimited") {
		return p.on["envoy-ratelimited"]
	}
	code, _ := strconv.Atoi(h.value(":status"))
	if p.on["5xx"] && code >= 500 && code < 600 {
		return true
	}
	if p.on["gateway-error"] && (code == 502 || code == 503 || code == 504) {
		return true
	}
	if p.on["retriable-4xx"] && code == 409 {
		return true
	}
	if p.on["retriable-status-codes"] && p.statusCodes[code] {
		return true
	}
	if p.on["retriable-headers"] {
		for _, hm := range p.headers {
			if matchHeader(hm, h, individually) {
				return true
			}
		}
	}
	return false
}

type failKind int

const (
	failReset failKind = iota + 1
	failConnect
	failPerTryTimeout
	failGlobalTimeout
	// failOverflow: the cluster's max_requests circuit breaker refused the
	// request (never retried: retry_state_impl.cc wouldRetryFromReset).
	failOverflow
)

// retryOnReset is retry_state_impl.cc wouldRetryFromReset: 5xx and
// gateway-error retry any reset before headers (timeouts included), reset
// retries resets and per-try timeouts (guess for the timeout case),
// connect-failure retries connection failures.
func (p *retryPolicy) retryOnReset(k failKind) bool {
	switch k {
	case failGlobalTimeout, failOverflow:
		return false // router.cc onResponseTimeout; wouldRetryFromReset: overflow never
	case failConnect:
		return p.on["5xx"] || p.on["gateway-error"] || p.on["reset"] || p.on["connect-failure"]
	case failPerTryTimeout:
		return p.on["5xx"] || p.on["gateway-error"] || p.on["reset"]
	}
	return p.on["5xx"] || p.on["gateway-error"] || p.on["reset"]
}

// backoff is JitteredExponentialBackOffStrategy::nextBackOffMs
// (source/common/common/backoff_strategy.cc, the same in v1.38.0, v1.39.0
// and 1.40.0-dev): the interval starts at base and doubles after each retry
// while it is below max/2 (doubling_limit_), else becomes max; the n-th
// retry (n from 1) waits random() % interval milliseconds, so in
// [0, min(base*2^(n-1), max)), in whole milliseconds.
func (p *retryPolicy) backoff(n int, rnd func() uint64) time.Duration {
	base, maxMs := uint64(p.base/time.Millisecond), uint64(p.max/time.Millisecond)
	interval := base
	for i := 1; i < n && interval < maxMs; i++ {
		if interval < maxMs/2 {
			interval *= 2
		} else {
			interval = maxMs
		}
	}
	if interval == 0 {
		return 0
	}
	return time.Duration(rnd()%interval) * time.Millisecond
}

type attemptResult struct {
	resp *response
	// final marks a local reply of an upstream filter: sent to the client
	// as it is, never retried.
	final bool
	// fail is set when no response headers came (reset, timeout).
	fail   failKind
	reason string
}

// retryLoop is the router filter (source/common/router/router.cc) with
// retry_state_impl.cc deciding retries.
func (rs *stream) retryLoop(body []byte) *response {
	ra := rs.route.GetRoute()
	first := rs.m.clusters[rs.clusterName]
	if first == nil {
		// router.cc decodeHeaders: cluster not found (an unknown name, or the
		// empty name of a matcher that matched nothing) ->
		// cluster_not_found_response_code (default 503), never retried.
		code := 503
		if ra.GetClusterNotFoundResponseCode() == routev3.RouteAction_NOT_FOUND {
			code = 404
		} else if ra.GetClusterNotFoundResponseCode() == routev3.RouteAction_INTERNAL_SERVER_ERROR {
			code = 500
		}
		return localReply(code, "cluster_not_found", "")
	}
	// The route's retry policy (the virtual host's when the route has none)
	// gives per_try_timeout (router.cc FilterUtility::finalTimeout reads
	// route.retryPolicy()); everything else comes from the effective policy,
	// the first attempt's cluster's HttpProtocolOptions.retry_policy when it
	// has one (router.cc Filter::getEffectiveRetryPolicy, used by
	// createRetryState and, from 8eea3285d6, for cross_cluster_retry_).
	rpb := ra.GetRetryPolicy()
	if rpb == nil {
		rpb = rs.vhost.GetRetryPolicy()
	}
	routePerTry := compileRetry(rpb).perTry
	if first.retryPolicy != nil {
		rpb = first.retryPolicy
	}
	// route timeout: default 15s, 0 disables (route_components.proto
	// RouteAction.timeout). The model applies it up to the response headers
	// (guess: Envoy applies it to the whole response; llm-failover sets 0s).
	global := 15 * time.Second
	if d := ra.GetTimeout(); d != nil {
		global = d.AsDuration()
	}
	// router.cc FilterUtility::finalTimeout (before the retry state is made):
	// x-envoy-upstream-rq-timeout-ms replaces the route timeout and is
	// removed; x-envoy-upstream-rq-per-try-timeout-ms replaces
	// per_try_timeout when it is a number and is removed either way; a
	// per-try timeout at or above a non-zero global timeout is dropped. Then
	// setTimeoutHeaders sets x-envoy-expected-rq-timeout-ms (the per-try
	// timeout, else the global one) when non-zero.
	h := rs.reqHeaders
	if v, ok := h.get("x-envoy-upstream-rq-timeout-ms"); ok {
		if n, err := strconv.ParseUint(v, 10, 63); err == nil {
			global = time.Duration(n) * time.Millisecond
		}
		h.del("x-envoy-upstream-rq-timeout-ms")
	}
	pol := compileRetry(rpb)
	pol.perTry = routePerTry
	if v, ok := h.get("x-envoy-upstream-rq-per-try-timeout-ms"); ok {
		if n, err := strconv.ParseUint(v, 10, 63); err == nil {
			pol.perTry = time.Duration(n) * time.Millisecond
		}
		h.del("x-envoy-upstream-rq-per-try-timeout-ms")
	}
	if global > 0 && pol.perTry >= global {
		pol.perTry = 0
	}
	if exp := pol.perTry; (exp > 0 || global > 0) && !rs.m.suppressEnvoyHeaders {
		if exp == 0 {
			exp = global
		}
		h.set("x-envoy-expected-rq-timeout-ms", itoa(exp.Milliseconds()))
	}
	// retry_state_impl.cc: the retry state exists only when retry_on is set
	// (route or x-envoy-retry-on); the retry headers are removed either way.
	if len(pol.on) > 0 || h.has("x-envoy-retry-on") {
		pol.fromRequestHeaders(h)
	} else {
		removeRetryHeaders(h)
	}
	// The retry priority lives in the retry state (retry_state_impl.cc),
	// made only when a retry_on policy is set.
	if len(pol.on) > 0 && pol.priorityUpdateFrequency > 0 {
		rs.retryPriority = &previousPriorities{updateFrequency: pol.priorityUpdateFrequency}
	}
	var deadline time.Time
	if global > 0 {
		deadline = time.Now().Add(global)
	}
	retriesLeft := pol.numRetries
	// router.cc decodeData: a request body over the retry buffer limit
	// cannot be buffered for a retry: the retry state is dropped
	// ("retry or redirect buffer overflow") and the request gets one attempt.
	if limit := rs.retryBufferLimit(); uint64(len(body)) > limit && retriesLeft > 0 {
		rs.log.Debug("request body over the retry buffer limit: no retries", "bytes", len(body), "limit", limit)
		retriesLeft = 0
	}
	// The retry state's circuit breaker is the first attempt's cluster's
	// max_retries (router.cc doRetry: a cross-cluster retry keeps "the
	// initial cluster's configuration like circuit breaking").
	var breaker *cluster
	holding := false
	defer func() {
		if holding {
			breaker.retries.Add(-1)
		}
	}()
	// mayRetry is retry_state_impl.cc RetryStateImpl::shouldRetry after a
	// positive decision: the slot held since the previous retry is given
	// back (resetRetry), the request's own retries are counted, then the
	// cluster's max_retries (default 3) bounds the retries in progress
	// (RetryStatus::NoOverflow: the response or reset goes to the client).
	// A slot is held until the next decision or the final response headers
	// (router.cc onUpstreamHeaders resets the retry state).
	mayRetry := func() bool {
		if holding {
			breaker.retries.Add(-1)
			holding = false
		}
		if retriesLeft == 0 {
			return false
		}
		retriesLeft--
		if breaker.retries.Add(1) > breaker.maxRetries {
			breaker.retries.Add(-1)
			rs.log.Debug("retry circuit breaker overflow (max_retries)", "cluster", breaker.name)
			return false
		}
		holding = true
		return true
	}
	for attempt := 1; ; attempt++ {
		rs.attempt = attempt
		// refresh_cluster_on_retry (1.39 on) re-runs the cluster specifier on
		// every retry (router.cc doRetry, after attempt_count_++ and before
		// continueDoRetry rewrites x-envoy-attempt-count, so a matcher on
		// that header sees the previous attempt's count); without it a retry
		// reuses the first cluster.
		if attempt > 1 && pol.refresh {
			rs.refreshCluster(attempt)
		}
		cl := first
		if attempt > 1 {
			cl = rs.m.clusters[rs.clusterName]
		}
		if cl == nil {
			// router.cc doRetry: a cluster gone on a retry is answered with
			// sendNoHealthyUpstreamResponse.
			return noHealthyUpstream()
		}
		if breaker == nil {
			breaker = cl
		}
		res := rs.doAttempt(cl, attempt, body, pol.perTry, deadline)
		if rs.ctx.Err() != nil {
			// The client reset its stream: no retry and no reply
			// (router.cc Filter::onDestroy); run does not encode this.
			if res.resp != nil {
				return res.resp
			}
			return localReply(503, "downstream_remote_disconnect", "")
		}
		switch {
		case res.final:
			return res.resp
		case res.resp != nil:
			if pol.retryOnHeaders(res.resp.headers, rs.m.matchHeadersIndividually()) && mayRetry() {
				res.resp.body.close()
				if !rs.sleep(pol.backoff(attempt, rs.m.rand), deadline) {
					return localReply(504, "upstream_response_timeout", "upstream request timeout")
				}
				continue
			}
			return res.resp
		default:
			if res.fail != failGlobalTimeout && pol.retryOnReset(res.fail) && mayRetry() {
				if !rs.sleep(pol.backoff(attempt, rs.m.rand), deadline) {
					return localReply(504, "upstream_response_timeout", "upstream request timeout")
				}
				continue
			}
			// router.cc onUpstreamReset: the body names the reset reason,
			// "retried and the latest" after a retry; the transport failure
			// reason is left out of the body
			// (hide_transport_failure_reason_in_response_body, default on).
			retried := ""
			if attempt > 1 {
				retried = "retried and the latest "
			}
			switch res.fail {
			case failPerTryTimeout:
				// router.cc onPerTryTimeoutCommon -> onUpstreamTimeoutAbort:
				// 504 "upstream request timeout", details upstream_per_try_timeout.
				return localReply(504, "upstream_per_try_timeout", "upstream request timeout")
			case failGlobalTimeout:
				// router.cc onResponseTimeout: details upstream_response_timeout.
				return localReply(504, "upstream_response_timeout", "upstream request timeout")
			case failConnect:
				// The details name the transport failure reason on every
				// version; the body does only on 1.38: #44746
				// (hide_transport_failure_reason_in_response_body) is in
				// 8eea3285d6, not in f1dd21b16c.
				details := "upstream_reset_before_response_started{connection_failure}"
				body := "upstream connect error or disconnect/reset before headers. " + retried + "reset reason: connection failure"
				if res.reason != "" {
					details = "upstream_reset_before_response_started{connection_failure|" + strings.ReplaceAll(res.reason, " ", "_") + "}"
					if rs.m.version == Version138 {
						body += ", transport failure reason: " + res.reason
					}
				}
				return localReply(503, details, body)
			case failOverflow:
				// The connection pool refused the request (max_requests):
				// never retried; x-envoy-overloaded is added unless
				// suppress_envoy_headers (router.cc onUpstreamAbort, dropped).
				lr := localReply(503, "upstream_reset_before_response_started{overflow}",
					"upstream connect error or disconnect/reset before headers. "+retried+"reset reason: overflow")
				if !rs.m.suppressEnvoyHeaders {
					lr.headers.set("x-envoy-overloaded", "true")
				}
				return lr
			}
			return localReply(503, "upstream_reset_before_response_started{remote_reset}",
				"upstream connect error or disconnect/reset before headers. "+retried+"reset reason: remote reset")
		}
	}
}

// noHealthyUpstream is router.cc Filter::sendNoHealthyUpstreamResponse.
func noHealthyUpstream() *response {
	return localReply(503, "no_healthy_upstream", "no healthy upstream")
}

// sleep waits d; false if the route deadline or the downstream ends first.
func (rs *stream) sleep(d time.Duration, deadline time.Time) bool {
	if !deadline.IsZero() && time.Now().Add(d).After(deadline) {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		// A select with both ready picks at random: a client that left
		// during the backoff gets no further attempt.
		return rs.ctx.Err() == nil
	case <-rs.ctx.Done():
		return false
	}
}

const (
	stateRunning int32 = iota
	stateHeaders
	statePerTry
	stateGlobal
)

// doAttempt runs one attempt: router header mutations, the upstream
// filters over the shared request header map with a fresh body copy, the
// upstream HTTP exchange, and the upstream filters on the response headers.
func (rs *stream) doAttempt(cl *cluster, attempt int, body []byte, perTry time.Duration, deadline time.Time) attemptResult {
	h := rs.reqHeaders // upstream filters mutate the router's map in place (docs/design.md, "Per-attempt rewrite")
	ps := cl.prioritySet(rs.ctx)
	var excluded []bool
	if attempt > 1 && rs.retryPriority != nil {
		excluded = rs.retryPriority.determine(ps)
	}
	ep, err := cl.pick(ps, excluded)
	if err == nil && rs.retryPriority != nil {
		rs.retryPriority.onHostAttempted(ep)
	}
	if err != nil {
		// router.cc createConnPoolOrHandleFailure -> sendNoHealthyUpstreamResponse:
		// a 503 local reply "no healthy upstream", response flag UH, details
		// no_healthy_upstream, on the first attempt and on a retry (doRetry);
		// never retried.
		return attemptResult{resp: noHealthyUpstream(), final: true}
	}
	if ep.network == "unix" {
		// Pipe endpoints are modelled for the gRPC cluster only.
		rs.log.Debug("pipe endpoints of HTTP clusters are not modelled: a connection failure", "cluster", cl.name)
		return attemptResult{fail: failConnect}
	}
	// circuit_breakers max_requests: the request holds a slot while it is
	// open (conn_pool_base.cc attachStreamToClient); past the limit the
	// pool fails it with Overflow. The pool, its limits and its protocol
	// are those of the host's cluster: for an aggregate cluster, the child
	// (cluster_manager_impl.cc takes the pool from host->cluster(), #11435;
	// the aggregate docs: only max_retries is the aggregate's).
	pool := ep.cluster
	if pool.active.Add(1) > pool.maxRequests {
		pool.active.Add(-1)
		return attemptResult{fail: failOverflow}
	}
	var releaseOnce sync.Once
	releaseSlot := func() { releaseOnce.Do(func() { pool.active.Add(-1) }) }
	actx, cancel := context.WithCancel(rs.ctx)
	var state atomic.Int32
	timerFor := func(d time.Duration, s int32) *time.Timer {
		return time.AfterFunc(d, func() {
			if state.CompareAndSwap(stateRunning, s) {
				cancel()
			}
		})
	}
	var timers []*time.Timer
	// per_try_timeout runs from the start of the attempt to the response
	// headers reaching the router, upstream filters included (docs/design.md,
	// "Retries and per-request bounds": it keeps running while the attempt
	// phase holds the headers).
	if perTry > 0 {
		timers = append(timers, timerFor(perTry, statePerTry))
	}
	if !deadline.IsZero() {
		timers = append(timers, timerFor(time.Until(deadline), stateGlobal))
	}
	var filters []*extProc
	cleanup := func() {
		for _, t := range timers {
			t.Stop()
		}
		cancel()
		releaseSlot()
		for _, p := range filters {
			p.close()
		}
		for _, p := range filters {
			p.wait()
		}
	}
	timedOut := func() failKind {
		switch state.Load() {
		case statePerTry:
			return failPerTryTimeout
		case stateGlobal:
			return failGlobalTimeout
		}
		return 0
	}
	// router.cc: x-envoy-attempt-count with include_request_attempt_count
	// (virtual host, or route).
	if rs.vhost.GetIncludeRequestAttemptCount() {
		h.set("x-envoy-attempt-count", itoa(int64(attempt)))
	}
	// route auto_host_rewrite: :authority becomes the endpoint's hostname
	// (router.cc, upstream host's hostname(); unchanged when empty).
	if rs.route.GetRoute().GetAutoHostRewrite().GetValue() && ep.hostname != "" {
		h.set(":authority", ep.hostname)
	}
	b := append([]byte(nil), body...) // a fresh copy of the buffered body per attempt
	at := &attemptInfo{n: attempt, cluster: cl, host: ep}
	// The upstream filters decode in order. An ext_proc filter in BUFFERED
	// request body mode holds the headers until its body answer, so the
	// filters after it see the headers with both answers' mutations
	// applied (processor_state.cc handleHeaderContinue).
	inject := func(i int) *response {
		for _, ci := range cl.injectors {
			if ci.after == i {
				if lr := ci.decode(h); lr != nil {
					return lr
				}
			}
		}
		return nil
	}
	for i, f := range cl.filters {
		if lr := inject(i); lr != nil {
			return rs.upstreamLocalReply(lr, timedOut, cleanup)
		}
		p := newExtProc(f, rs, at)
		p.abort = actx.Done()
		filters = append(filters, p)
		if lr := p.decode(h, &b, false); lr != nil {
			return rs.upstreamLocalReply(lr, timedOut, cleanup)
		}
	}
	if lr := inject(len(cl.filters)); lr != nil {
		return rs.upstreamLocalReply(lr, timedOut, cleanup)
	}
	if k := timedOut(); k != 0 {
		cleanup()
		return attemptResult{fail: k}
	}
	req, err := http.NewRequestWithContext(actx, h.value(":method"), "http://"+ep.dialAddr()+h.value(":path"), bytes.NewReader(b))
	if err != nil {
		cleanup()
		return attemptResult{fail: failReset, reason: err.Error()}
	}
	req.Host = h.value(":authority")
	for _, e := range h.kv {
		if strings.HasPrefix(e.k, ":") || e.k == "content-length" || e.k == "host" || hopByHop[e.k] {
			continue
		}
		req.Header.Add(e.k, e.v)
	}
	req.ContentLength = int64(len(b))
	sent := time.Now()
	up, err := pool.transport.RoundTrip(req)
	if err != nil {
		k := timedOut()
		cleanup()
		if k != 0 {
			return attemptResult{fail: k}
		}
		var ce *connectError
		if errors.As(err, &ce) {
			return attemptResult{fail: failConnect, reason: transportFailureReason(ce.err)}
		}
		return attemptResult{fail: failReset, reason: err.Error()}
	}
	rh := fromResponse(up.StatusCode, up.Header)
	// router.cc: x-envoy-upstream-service-time on upstream responses.
	if !rs.m.suppressEnvoyHeaders {
		rh.set("x-envoy-upstream-service-time", itoa(time.Since(sent).Milliseconds()))
	}
	var src bodySource = &httpBody{r: up.Body}
	// A response known to be empty (content-length 0, or an HTTP/2 HEADERS
	// frame with END_STREAM) reaches the filters as headers with end_stream
	// (the codec's decodeHeaders(end_stream)): no body message follows.
	endStream := up.ContentLength == 0
	if endStream {
		src = &bytesBody{onClose: func() { _ = up.Body.Close() }}
	}
	for i := len(filters) - 1; i >= 0; i-- {
		var lr *response
		rh, src, lr = filters[i].encode(rh, src, endStream)
		if lr != nil && lr.resetBeforeHeaders != nil {
			// The headers never reached the router: an upstream reset,
			// retried like any other (router.cc onUpstreamReset).
			_ = up.Body.Close()
			k := timedOut()
			cleanup()
			if k != 0 {
				return attemptResult{fail: k}
			}
			return attemptResult{fail: failReset, reason: lr.resetBeforeHeaders.Error()}
		}
		if lr != nil {
			_ = up.Body.Close()
			return rs.upstreamLocalReply(lr, timedOut, cleanup)
		}
	}
	if !state.CompareAndSwap(stateRunning, stateHeaders) {
		src.close()
		k := timedOut()
		cleanup()
		return attemptResult{fail: k}
	}
	for _, t := range timers {
		t.Stop()
	}
	return attemptResult{resp: &response{headers: rh, body: &cleanupBody{src: src, cleanup: cleanup}, endStream: endStream}}
}

// upstreamLocalReply models a local reply of an upstream (attempt-phase)
// ext_proc filter: an ImmediateResponse, or status_on_error after a gRPC
// error, stream reset, message timeout, rejected mutation or content-length
// mismatch. All of them go through ext_proc.cc Filter::sendImmediateResponse,
// which calls encoder_callbacks_->sendLocalReply for upstream filters too;
// router/upstream_request.cc UpstreamFilterManager::sendLocalReply aborts the
// upstream filter chains and forwards the reply to the downstream filter
// manager (parent_.callbacks()->sendLocalReply). The client gets it at once
// through the HCM encoder filters; it is never retried, and the router
// resets the attempt's upstream request (its connection or response body
// is dropped) when the downstream stream completes (router.cc onDestroy ->
// resetAll). A reply that is only the model's own signal of a per-try or
// route timeout (the attempt was torn down while a filter waited) is the
// timeout, retried as one.
func (rs *stream) upstreamLocalReply(lr *response, timedOut func() failKind, cleanup func()) attemptResult {
	k := timedOut()
	cleanup()
	if k != 0 {
		if lr.body != nil {
			lr.body.close()
		}
		return attemptResult{fail: k}
	}
	if rs.ctx.Err() != nil {
		return attemptResult{fail: failReset, reason: "downstream went away"}
	}
	rs.log.Debug("upstream ext_proc local reply goes to the client", "details", lr.details)
	return attemptResult{resp: lr, final: true}
}

// httpBody reads an upstream body chunk by chunk.
type httpBody struct {
	r   io.ReadCloser
	buf []byte
}

func (b *httpBody) next() ([]byte, bool, error) {
	if b.buf == nil {
		b.buf = make([]byte, 32<<10)
	}
	n, err := b.r.Read(b.buf)
	c := append([]byte(nil), b.buf[:n]...)
	if errors.Is(err, io.EOF) {
		return c, true, nil
	}
	if err != nil {
		return c, false, err
	}
	return c, false, nil
}

func (b *httpBody) close() { _ = b.r.Close() }

type cleanupBody struct {
	src     bodySource
	cleanup func()
	done    bool
}

func (c *cleanupBody) next() ([]byte, bool, error) { return c.src.next() }

func (c *cleanupBody) close() {
	if c.done {
		return
	}
	c.done = true
	c.src.close()
	c.cleanup()
}

// dialAddr is the URL host of the endpoint.
func (e *endpoint) dialAddr() string { return e.addr }

// transportFailureReason is the connection's failure reason Envoy reports
// for a failed connect: "delayed connect error: " and strerror(errno)
// (connection_impl.cc ConnectionImpl::onWriteReady; the same text at
// f1dd21b16c, 8eea3285d6 and cb2a49b). Guess: a loopback connect refused
// may instead fail at once ("immediate connect error: ..."); the model
// always says delayed. Other failures (the model refusing a host off the
// loopback network, a connect timeout) give no reason.
func transportFailureReason(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	// Go's errno texts are glibc's strerror with a lower-case first letter.
	msg := errno.Error()
	if msg == "" {
		return ""
	}
	return "delayed connect error: " + strings.ToUpper(msg[:1]) + msg[1:]
}

// matchHeadersIndividually: HeaderMatchers match a multi-valued header
// value by value (#44819, in 8eea3285d6, not in f1dd21b16c).
func (m *Model) matchHeadersIndividually() bool { return m.version != Version138 }
