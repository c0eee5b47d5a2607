package envoymodel

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

type structValue = structpb.Struct

// stream is one downstream HTTP request going through the model.
type stream struct {
	m      *Model
	ctx    context.Context
	start  time.Time
	log    *slog.Logger
	random uint64

	reqHeaders *headerMap
	// downstream is the downstream remote address ("ip:port"), the
	// source.address attribute (downstream.go).
	downstream string
	vhost      *routev3.VirtualHost
	route      *routev3.Route
	// retryPriority is the retry state's previous_priorities, nil without.
	retryPriority *previousPriorities
	// clusterName is the route's cluster for the current attempt.
	clusterName string
	attempt     int

	// dynMD is the stream's dynamic metadata (StreamInfo::dynamicMetadata),
	// shared by the HCM filters and the upstream filters: an upstream
	// filter's stream info is the router's
	// (source/common/router/upstream_request.cc UpstreamFilterManager::streamInfo,
	// 1.38 to 1.40).
	dynMD map[string]*structValue
	// mdMu guards dynMD: a held-body pump reads it while the stream's
	// goroutine applies a response.
	mdMu sync.Mutex
}

// response is a response on its way to the client.
type response struct {
	headers *headerMap
	body    bodySource
	// local marks a local reply; details is its response code details.
	local   bool
	details string
	// fromExtProc is the filter that sent it (it does not encode its own reply).
	fromExtProc *extProc
	// resetBeforeHeaders, set instead of a reply by a filter's encode, says
	// the upstream body failed while the filter held the response headers.
	resetBeforeHeaders error
	// abort resets the downstream stream before any response byte.
	abort bool
	// endStream: the response has no body (headers with end_stream).
	endStream bool
}

// localReply builds an Envoy local reply (source/common/http/utility.cc
// sendLocalReply): :status, and a text/plain body when there is one.
func localReply(code int, details, body string) *response {
	h := &headerMap{}
	h.add(":status", itoa(int64(code)))
	if body != "" {
		h.set("content-type", "text/plain")
	}
	h.set("content-length", itoa(int64(len(body))))
	return &response{headers: h, body: &bytesBody{b: []byte(body)}, local: true, details: details}
}

// getMD returns a copy of a namespace's dynamic metadata, or nil.
func (rs *stream) getMD(ns string) *structValue {
	rs.mdMu.Lock()
	defer rs.mdMu.Unlock()
	if s := rs.dynMD[ns]; s != nil {
		return proto.Clone(s).(*structValue)
	}
	return nil
}

// mergeMD is StreamInfo::setDynamicMetadata: MergeFrom into the namespace
// (top-level fields replaced).
func (rs *stream) mergeMD(ns string, s *structValue) {
	rs.mdMu.Lock()
	defer rs.mdMu.Unlock()
	cur := rs.dynMD[ns]
	if cur == nil {
		rs.dynMD[ns] = proto.Clone(s).(*structValue)
		return
	}
	if cur.Fields == nil {
		cur.Fields = map[string]*structpb.Value{}
	}
	for k, v := range s.GetFields() {
		cur.Fields[k] = proto.Clone(v).(*structpb.Value)
	}
}

func (rs *stream) routeName() string { return rs.route.GetName() }

// selectRoute (re)runs route matching and the cluster specifier
// (source/common/router/config_impl.cc; clear_route_cache re-runs it). A
// cluster specifier plugin makes a new route entry each time, so a matcher
// that matches nothing now leaves no cluster, whatever it matched before.
func (rs *stream) selectRoute() {
	rs.vhost = rs.m.selectVirtualHost(rs.reqHeaders.value(":authority"))
	rs.route, rs.clusterName = nil, ""
	if rs.vhost == nil {
		return
	}
	rs.route = matchRoute(rs.vhost, rs.reqHeaders, rs.m.matchHeadersIndividually())
	if rs.route.GetRoute() == nil {
		return
	}
	rs.clusterName, _ = rs.evalClusterSpecifier(max(rs.attempt, 1))
}

// evalClusterSpecifier evaluates the route's cluster specifier for an
// attempt; false when it names no cluster.
func (rs *stream) evalClusterSpecifier(attempt int) (string, bool) {
	ra := rs.route.GetRoute()
	switch cs := ra.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		return cs.Cluster, true
	case *routev3.RouteAction_ClusterHeader:
		// header_cluster_specifier.cc HeaderClusterSpecifierPlugin::route:
		// the header's first value, or no cluster.
		v, ok := rs.reqHeaders.get(strings.ToLower(cs.ClusterHeader))
		return v, ok
	case *routev3.RouteAction_WeightedClusters:
		var total uint64
		for _, c := range cs.WeightedClusters.GetClusters() {
			total += uint64(c.GetWeight().GetValue())
		}
		if total == 0 {
			return "", false
		}
		v := rs.random % total
		var begin uint64
		for _, c := range cs.WeightedClusters.GetClusters() {
			begin += uint64(c.GetWeight().GetValue())
			if v < begin {
				return c.GetName(), true
			}
		}
	case *routev3.RouteAction_InlineClusterSpecifierPlugin:
		if cm := rs.m.matchers[ra]; cm != nil {
			return cm.match(rs.reqHeaders)
		}
		if pg := rs.m.priorityGroups[ra]; pg != nil {
			c := pg.selectCluster(attempt, rs.getMD, rs.random)
			return c, c != ""
		}
	}
	return "", false
}

// refreshCluster is the retry's refreshRouteCluster
// (conn_manager_impl.cc ActiveStream::refreshRouteCluster on the route
// entry). Only the matcher (MatcherRouteEntry::refreshRouteCluster: no match
// keeps the previous cluster) and, on 1.40, priority_group refresh; a plain
// cluster, cluster_header (DynamicRouteEntry) and the other plugins
// inherit the empty RouteEntryImplBase::refreshRouteCluster (config_impl.h)
// and keep their cluster. weighted_clusters with refresh are refused at
// load (checkRoutes).
func (rs *stream) refreshCluster(attempt int) {
	ra := rs.route.GetRoute()
	if rs.m.matchers[ra] == nil && rs.m.priorityGroups[ra] == nil {
		return
	}
	c, ok := rs.evalClusterSpecifier(attempt)
	rs.log.Debug("retry refreshes the route's cluster", "attempt", attempt, "matched", ok, "cluster", c, "previous", rs.clusterName)
	if ok {
		rs.clusterName = c
	}
}

// bufferLimit is the filter manager's buffer limit for the request body:
// the listener's per_connection_buffer_limit_bytes (the codec stream's limit,
// default 1 MiB), raised, never lowered, to the route's request body limit
// (conn_manager_impl.cc ActiveStream::refreshBufferLimit; router.cc
// decodeHeaders raises it the same way).
func (rs *stream) bufferLimit() uint64 {
	limit := rs.m.bufferLimit
	if v, ok := rs.routeBodyLimit(); ok && v > limit {
		limit = v
	}
	return limit
}

// routeBodyLimit is the route's request body limit, first found: route
// request_body_buffer_limit, virtual host request_body_buffer_limit, route
// per_request_buffer_limit_bytes, virtual host per_request_buffer_limit_bytes
// (config_impl.cc getRequestBodyBufferLimit).
func (rs *stream) routeBodyLimit() (uint64, bool) {
	switch {
	case rs.route.GetRequestBodyBufferLimit() != nil:
		return rs.route.GetRequestBodyBufferLimit().GetValue(), true
	case rs.vhost.GetRequestBodyBufferLimit() != nil:
		return rs.vhost.GetRequestBodyBufferLimit().GetValue(), true
	// Envoy 1.40 still honours the deprecated per_request_buffer_limit_bytes
	// when request_body_buffer_limit is unset, so the model must too.
	//lint:ignore SA1019 deprecated field modelled on purpose (see above)
	case rs.route.GetPerRequestBufferLimitBytes() != nil:
		//lint:ignore SA1019 deprecated field modelled on purpose (see above)
		return uint64(rs.route.GetPerRequestBufferLimitBytes().GetValue()), true
	//lint:ignore SA1019 deprecated field modelled on purpose (see above)
	case rs.vhost.GetPerRequestBufferLimitBytes() != nil:
		//lint:ignore SA1019 deprecated field modelled on purpose (see above)
		return uint64(rs.vhost.GetPerRequestBufferLimitBytes().GetValue()), true
	}
	return 0, false
}

// retryBufferLimit is router.cc Filter::calculateEffectiveBufferLimit: the
// route's request body limit when set (even below the filter manager's),
// else the filter manager's limit. The router buffers the request body for
// retries up to it.
func (rs *stream) retryBufferLimit() uint64 {
	if v, ok := rs.routeBodyLimit(); ok {
		return v
	}
	return rs.bufferLimit()
}

// run takes the request through the HCM filter chain and the router, and
// the response back through the filters in reverse order.
func (rs *stream) run(r *http.Request) *response {
	rs.selectRoute()
	limit := rs.bufferLimit()
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		lr := localReply(400, "downstream_body_read_error", "")
		rs.m.localReply.rewrite(lr)
		return lr
	}
	overLimit := uint64(len(body)) > limit
	var active []*extProc
	closeAll := func() {
		for _, p := range active {
			p.close()
		}
		for _, p := range active {
			p.wait()
		}
	}
	encodeFrom := func(resp *response, upTo int) *response {
		// A local reply is rewritten by local_reply_config before any
		// encoder filter sees it (utility.cc prepareLocalReply runs rewrite
		// before encode_headers); an upstream response never is.
		rs.m.localReply.rewrite(resp)
		h, src := resp.headers, resp.body
		// A local reply without a body is encoded with end_stream on its
		// headers (utility.cc sendLocalReply: encode_headers(...,
		// body_text.empty())), like an empty upstream response: the
		// filters get no body message (a BUFFERED mode_override has nothing
		// to replace).
		endStream := resp.endStream
		if bb, ok := src.(*bytesBody); ok && resp.local && len(bb.b) == 0 {
			endStream = true
		}
		for i := upTo - 1; i >= 0; i-- {
			p := active[i]
			if p == resp.fromExtProc {
				continue
			}
			var lr *response
			h, src, lr = p.encode(h, src, endStream)
			if lr != nil && lr.resetBeforeHeaders != nil {
				// The router already passed the headers on
				// (downstream_response_started_): an upstream reset now resets
				// the downstream stream (router.cc onUpstreamReset).
				rs.log.Debug("upstream reset while an HCM filter held the response headers", "err", lr.resetBeforeHeaders)
				resp.abort = true
				resp.body = &cleanupBody{src: &bytesBody{}, cleanup: closeAll}
				return resp
			}
			if lr != nil {
				// A local reply while encoding replaces the response; the
				// filters before this one still encode it
				// (filter_manager.cc sendLocalReply; rewritten either way).
				rs.m.localReply.rewrite(lr)
				h, src = lr.headers, lr.body
				resp.local = true
			}
		}
		// The HCM filters' streams live until the response body is done
		// (a STREAMED response body still talks to them).
		resp.headers, resp.body = h, &cleanupBody{src: src, cleanup: closeAll}
		return resp
	}
	for _, f := range rs.m.filters {
		p := newExtProc(f, rs, nil)
		if !p.applyPerRoute(rs.perRoute(f.name)) {
			continue
		}
		active = append(active, p)
		if lr := p.decode(rs.reqHeaders, &body, overLimit); lr != nil {
			if lr.fromExtProc == nil {
				lr.fromExtProc = p
			}
			return encodeFrom(lr, len(active))
		}
		if p.clearRoute {
			p.clearRoute = false
			rs.selectRoute()
		}
	}
	if overLimit {
		// The router buffers the body for retries; over the limit and with
		// no buffering filter Envoy still answers 413 (guess: the model
		// needs the whole body).
		return encodeFrom(localReply(413, "request_payload_too_large", "Payload Too Large"), len(active))
	}
	resp := rs.router(body)
	if rs.ctx.Err() != nil {
		// The client reset its stream: the HCM destroys the filter chain
		// (conn_manager_impl.cc ActiveStream::onResetStream -> the
		// filters' onDestroy, router.cc Filter::onDestroy resetting the
		// upstream requests). Nothing is encoded: no local reply for the
		// attempt the reset cut short reaches an encoder filter.
		resp.body.close()
		closeAll()
		return &response{abort: true, body: &bytesBody{}}
	}
	return encodeFrom(resp, len(active))
}

// router is the router filter: direct_response, or the retry loop.
func (rs *stream) router(body []byte) *response {
	if rs.route == nil {
		// router.cc: no route -> 404 (NR).
		return localReply(404, "route_not_found", "")
	}
	if dr := rs.route.GetDirectResponse(); dr != nil {
		// router.cc: direct_response is a local reply with the configured body.
		b := dr.GetBody().GetInlineString()
		if b == "" {
			b = string(dr.GetBody().GetInlineBytes())
		}
		lr := localReply(int(dr.GetStatus()), "direct_response", b)
		for _, hv := range rs.route.GetResponseHeadersToAdd() {
			lr.headers.set(hv.GetHeader().GetKey(), hv.GetHeader().GetValue())
		}
		return lr
	}
	if rs.route.GetRoute() == nil {
		return localReply(404, "route_not_found", "")
	}
	return rs.retryLoop(body)
}

// write sends the response to the client, flushing every chunk so SSE
// streams through.
func (rs *stream) write(w http.ResponseWriter, resp *response) {
	defer resp.body.close()
	if resp.abort {
		rs.log.Debug("downstream stream reset before the response headers")
		panic(http.ErrAbortHandler)
	}
	code, _ := strconv.Atoi(resp.headers.value(":status"))
	if code < 100 {
		code = 502
	}
	wh := w.Header()
	for _, e := range resp.headers.kv {
		if len(e.k) > 0 && e.k[0] == ':' {
			continue
		}
		wh.Add(e.k, e.v)
	}
	// HCM server_header_transformation OVERWRITE (default): server: envoy.
	wh.Set("server", "envoy")
	w.WriteHeader(code)
	fl, _ := w.(http.Flusher)
	for {
		c, eos, err := resp.body.next()
		if err != nil {
			rs.log.Debug("response body aborted", "err", err)
			// Envoy resets the downstream stream.
			panic(http.ErrAbortHandler)
		}
		if eos {
			// Envoy destroys the stream's filters (closing their ext_proc
			// streams) as it encodes the end of the response, before a
			// client can see it and send another request; release them
			// before the last bytes go out.
			resp.body.close()
		}
		if len(c) > 0 {
			if _, err := w.Write(c); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if eos {
			return
		}
	}
}
