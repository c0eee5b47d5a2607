package envoymodel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// extProcConfig is one compiled envoy.filters.http.ext_proc filter.
type extProcConfig struct {
	m        *Model
	name     string
	pb       *extprocv3.ExternalProcessor
	cluster  string
	md       metadata.MD
	timeout  time.Duration
	mode     procMode
	recvNS   map[string]bool
	fwdNS    []string
	rules    *mutationrulesv3.HeaderMutationRules
	onError  int
	upstream bool
	// grpcCluster is the envoy_grpc cluster (nil for google_grpc): its
	// circuit breaker bounds the streams.
	grpcCluster *cluster
}

// procMode is the effective ProcessingMode of one filter instance.
type procMode struct {
	reqHeader, respHeader   extprocv3.ProcessingMode_HeaderSendMode
	reqBody, respBody       extprocv3.ProcessingMode_BodySendMode
	reqTrailer, respTrailer extprocv3.ProcessingMode_HeaderSendMode
}

func modeFrom(pm *extprocv3.ProcessingMode) procMode {
	// processing_mode.proto: header modes DEFAULT mean SEND for headers and
	// SKIP for trailers; body modes default to NONE.
	md := procMode{
		reqHeader:   pm.GetRequestHeaderMode(),
		respHeader:  pm.GetResponseHeaderMode(),
		reqBody:     pm.GetRequestBodyMode(),
		respBody:    pm.GetResponseBodyMode(),
		reqTrailer:  pm.GetRequestTrailerMode(),
		respTrailer: pm.GetResponseTrailerMode(),
	}
	if md.reqHeader == extprocv3.ProcessingMode_DEFAULT {
		md.reqHeader = extprocv3.ProcessingMode_SEND
	}
	if md.respHeader == extprocv3.ProcessingMode_DEFAULT {
		md.respHeader = extprocv3.ProcessingMode_SEND
	}
	return md
}

func (m *Model) compileExtProc(name string, pb *extprocv3.ExternalProcessor) (*extProcConfig, error) {
	ec := &extProcConfig{
		m:       m,
		name:    name,
		pb:      pb,
		timeout: 200 * time.Millisecond, // ext_proc.proto message_timeout default 200ms
		mode:    modeFrom(pb.GetProcessingMode()),
		recvNS:  map[string]bool{},
		rules:   pb.GetMutationRules(),
		onError: 500, // ext_proc.proto status_on_error default 500
		md:      metadata.MD{},
	}
	if d := pb.GetMessageTimeout(); d != nil {
		ec.timeout = d.AsDuration()
	}
	if s := pb.GetStatusOnError(); s != nil && s.GetCode() != 0 {
		ec.onError = int(s.GetCode())
	}
	// metadata_options: receiving_namespaces unset means none accepted,
	// forwarding_namespaces unset means none sent (ext_proc.proto MetadataOptions).
	for _, ns := range pb.GetMetadataOptions().GetReceivingNamespaces().GetUntyped() {
		ec.recvNS[ns] = true
	}
	ec.fwdNS = pb.GetMetadataOptions().GetForwardingNamespaces().GetUntyped()
	if pb.GetHttpService() != nil {
		return nil, fmt.Errorf("ext_proc %q: http_service is not modelled", name)
	}
	gs := pb.GetGrpcService()
	var target string
	var dialOpts []grpc.DialOption
	// The gRPC client has no receive limit unless
	// envoy_grpc.max_receive_message_length is set (grpc_service.proto,
	// default 0 = unlimited; source/common/grpc/async_client_impl.cc
	// AsyncClientImpl, decoder_.setMaxFrameLength), and none on sending:
	// grpc-go's own 4 MiB receive default must not apply.
	maxRecv := math.MaxInt32
	switch {
	case gs.GetEnvoyGrpc() != nil:
		ec.cluster = gs.GetEnvoyGrpc().GetClusterName()
		cl := m.clusters[ec.cluster]
		if cl == nil || len(cl.levels) == 0 {
			return nil, fmt.Errorf("ext_proc %q: unknown or empty gRPC cluster %q", name, ec.cluster)
		}
		ec.grpcCluster = cl
		if v := gs.GetEnvoyGrpc().GetMaxReceiveMessageLength(); v != nil && v.GetValue() > 0 && v.GetValue() < math.MaxInt32 {
			maxRecv = int(v.GetValue())
		}
		// Connections go to a host the cluster picks (priorities, DNS
		// names), never off the loopback network.
		target = "passthrough:///" + ec.cluster
		dialOpts = append(dialOpts, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			ep, err := cl.pick(cl.prioritySet(ctx), nil)
			if err != nil {
				return nil, err
			}
			if ep.network == "unix" {
				return (&net.Dialer{}).DialContext(ctx, "unix", ep.addr)
			}
			if err := loopbackOnly(ep.addr); err != nil {
				return nil, err
			}
			return (&net.Dialer{Timeout: cl.connectTimeout}).DialContext(ctx, "tcp", ep.addr)
		}))
	case gs.GetGoogleGrpc() != nil:
		addr := gs.GetGoogleGrpc().GetTargetUri()
		ec.cluster = "google_grpc:" + addr
		target = "passthrough:///" + addr
		if strings.HasPrefix(addr, "unix:") {
			target = addr
		}
	default:
		return nil, fmt.Errorf("ext_proc %q: no grpc_service", name)
	}
	// grpc_service.initial_metadata is sent as gRPC request metadata on
	// every stream (source/common/grpc/async_client_impl.cc).
	for _, hv := range gs.GetInitialMetadata() {
		v := hv.GetValue()
		if len(hv.GetRawValue()) > 0 {
			v = string(hv.GetRawValue())
		}
		ec.md.Append(hv.GetKey(), v)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.conns[ec.cluster]; !ok {
		// Envoy reconnects to the gRPC cluster on demand; the short backoff
		// models that (guess: Envoy's connection pool has no gRPC-style
		// exponential reconnect backoff).
		dialOpts = append(dialOpts,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecv), grpc.MaxCallSendMsgSize(math.MaxInt32)),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, MaxDelay: 200 * time.Millisecond},
				MinConnectTimeout: time.Second,
			}))
		cc, err := grpc.NewClient(target, dialOpts...)
		if err != nil {
			return nil, fmt.Errorf("ext_proc %q: %w", name, err)
		}
		m.conns[ec.cluster] = cc
	}
	return ec, nil
}

// attemptInfo is what an upstream (attempt phase) filter knows about its attempt.
type attemptInfo struct {
	n       int
	cluster *cluster
	host    *endpoint
}

// extProc is one ext_proc filter instance: one gRPC stream per HTTP stream
// (or per attempt for an upstream filter), opened on the first message
// (source/extensions/filters/http/ext_proc/ext_proc.cc openStream).
type extProc struct {
	cfg     *extProcConfig
	rs      *stream
	attempt *attemptInfo
	mode    procMode

	ctx    context.Context
	cancel context.CancelFunc
	client extprocsvc.ExternalProcessor_ProcessClient
	msgs   chan recvMsg

	// complete is ext_proc.cc processing_complete_: the server is ignored
	// for the rest of the stream.
	complete      bool
	sentReqAttrs  bool
	sentRespAttrs bool
	// sentProtocol is ext_proc.cc protocol_config_encoded_.
	sentProtocol bool
	// clearRoute is set when a decode response cleared the route cache.
	clearRoute bool

	// failOpen is a per-route failure_mode_allow override.
	failOpen *wrapperspb.BoolValue

	// abort ends waits early: the attempt was reset (per-try timeout)
	// and its upstream filter chain destroyed. Nil for HCM filters.
	abort <-chan struct{}

	// upstreamErr, when set, is closed when the upstream response body
	// fails; upstreamErrOf then returns the error.
	upstreamErr   <-chan struct{}
	upstreamErrOf func() error

	// release gives the gRPC cluster's circuit breaker slot back.
	release func()

	// closed is set once the gRPC stream is closed; the pump reads it.
	closed atomic.Bool

	// lastSend and armed are the message timer: every message sent
	// (re)starts it (processor_state.cc onStartProcessorCall), every answer
	// processed stops it (onFinishProcessorCall -> stopMessageTimer), even
	// when chunks sent earlier still await their answers.
	lastSend atomic.Int64
	armed    atomic.Bool
	sendMu   sync.Mutex
	pumpDone chan struct{}
}

type recvMsg struct {
	resp *extprocsvc.ProcessingResponse
	err  error
}

func newExtProc(cfg *extProcConfig, rs *stream, at *attemptInfo) *extProc {
	return &extProc{cfg: cfg, rs: rs, attempt: at, mode: cfg.mode}
}

func (p *extProc) open() error {
	if p.client != nil {
		return nil
	}
	p.cfg.m.mu.Lock()
	cc := p.cfg.m.conns[p.cfg.cluster]
	p.cfg.m.mu.Unlock()
	if cc == nil {
		return status.Error(codes.Unavailable, "model closed")
	}
	// The stream is a request on the gRPC cluster: past the cluster's
	// circuit_breakers max_requests (default 1024) the connection pool
	// refuses it (conn_pool_base.cc attachStreamToClient, "max streams
	// overflow"), the async client's router answers a 503 local reply with
	// details upstream_reset_before_response_started{overflow} (router.cc
	// onUpstreamReset), which the gRPC async client turns into Unavailable
	// with those details as the message (async_client_impl.cc onHeaders ->
	// streamError, enhancedGrpcMessage), and ext_proc into onGrpcError.
	if cl := p.cfg.grpcCluster; cl != nil {
		if cl.active.Add(1) > cl.maxRequests {
			cl.active.Add(-1)
			return status.Error(codes.Unavailable, "upstream_reset_before_response_started{overflow}")
		}
		var once sync.Once
		p.release = func() { once.Do(func() { cl.active.Add(-1) }) }
	}
	ctx, cancel := context.WithCancel(metadata.NewOutgoingContext(context.WithoutCancel(p.rs.ctx), p.cfg.md))
	p.ctx, p.cancel = ctx, cancel
	stop := context.AfterFunc(p.rs.ctx, cancel)
	cl, err := extprocsvc.NewExternalProcessorClient(cc).Process(ctx)
	if err != nil {
		stop()
		cancel()
		p.releaseStream()
		return err
	}
	p.client = cl
	p.msgs = make(chan recvMsg, 64)
	go func() {
		defer stop()
		for {
			r, err := cl.Recv()
			if err != nil {
				// The server ended the stream: its HTTP/2 stream on the
				// gRPC cluster is done.
				p.releaseStream()
			}
			select {
			case p.msgs <- recvMsg{r, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return nil
}

// releaseStream gives the stream's circuit breaker slot back (once).
func (p *extProc) releaseStream() {
	if p.release != nil {
		p.release()
	}
}

// close ends the gRPC stream (ext_proc.cc closeStream / onDestroy).
func (p *extProc) close() {
	p.closed.Store(true)
	defer p.releaseStream()
	if p.client != nil {
		p.sendMu.Lock()
		_ = p.client.CloseSend()
		p.sendMu.Unlock()
	}
	if p.cancel != nil {
		p.cancel()
	}
}

// wait waits for the held-body pump, if any; call after the upstream body
// was closed.
func (p *extProc) wait() {
	if p.pumpDone != nil {
		<-p.pumpDone
	}
}

// send sends one message with the forwarding namespaces as metadata_context
// (ext_proc.cc addDynamicMetadata) and restarts the message timer.
func (p *extProc) send(req *extprocsvc.ProcessingRequest) error {
	if err := p.open(); err != nil {
		return err
	}
	// Set on every message, empty without forwarding namespaces
	// (addDynamicMetadata assigns metadata_context unconditionally).
	mc := &corev3.Metadata{}
	for _, ns := range p.cfg.fwdNS {
		if s := p.rs.getMD(ns); s != nil {
			if mc.FilterMetadata == nil {
				mc.FilterMetadata = map[string]*structpb.Struct{}
			}
			mc.FilterMetadata[ns] = s
		}
	}
	req.MetadataContext = mc
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	// The filter's first message carries its body modes and
	// send_body_without_waiting_for_header_response (ext_proc.cc
	// Filter::encodeProtocolConfig, called by buildHeaderRequest,
	// setupBodyChunk and sendTrailers; 1.38 to 1.40 alike).
	if !p.sentProtocol { // under sendMu: a held-body pump sends too
		p.sentProtocol = true
		req.ProtocolConfig = &extprocsvc.ProtocolConfiguration{RequestBodyMode: p.mode.reqBody, ResponseBodyMode: p.mode.respBody,
			SendBodyWithoutWaitingForHeaderResponse: p.cfg.pb.GetSendBodyWithoutWaitingForHeaderResponse()}
	}
	// message_timeout: the timer is (re)started for every message sent
	// (processor_state.cc onStartProcessorCall); docs/design.md, "Holding the answer".
	p.lastSend.Store(time.Now().UnixNano())
	p.armed.Store(true)
	if err := p.client.Send(req); err != nil {
		if errors.Is(err, io.EOF) {
			// grpc-go reports the real status on Recv.
			return errSendEOF
		}
		return err
	}
	return nil
}

var errSendEOF = errors.New("send on closed stream")

type wantKind int

const (
	wantRequestHeaders wantKind = iota + 1
	wantRequestBody
	wantResponseHeaders
	wantResponseBody
)

func (w wantKind) String() string {
	switch w {
	case wantRequestHeaders:
		return "request_headers"
	case wantRequestBody:
		return "request_body"
	case wantResponseHeaders:
		return "response_headers"
	case wantResponseBody:
		return "response_body"
	}
	return fmt.Sprintf("want(%d)", int(w))
}

// exchange sends req and waits for the answer of kind want. It returns the
// response, or a local reply, or neither when the filter stopped processing
// (failure_mode_allow, or the server closed the stream).
func (p *extProc) exchange(req *extprocsvc.ProcessingRequest, want wantKind) (*extprocsvc.ProcessingResponse, *response) {
	if p.complete {
		return nil, nil
	}
	if err := p.send(req); err != nil {
		if errors.Is(err, errSendEOF) {
			// The real error arrives on the receive side.
			return p.await(want)
		}
		return p.grpcError(err)
	}
	return p.await(want)
}

// await waits for the next message and checks that it is the one expected.
func (p *extProc) await(want wantKind) (*extprocsvc.ProcessingResponse, *response) {
	if p.complete {
		return nil, nil
	}
	for {
		// Without a running timer, wake up after a message timeout's length
		// to see whether a send has started one.
		d := p.cfg.timeout
		if p.armed.Load() {
			d = time.Until(time.Unix(0, p.lastSend.Load()).Add(p.cfg.timeout))
			if d <= 0 {
				return p.messageTimeout()
			}
		}
		t := time.NewTimer(d)
		select {
		case msg := <-p.msgs:
			t.Stop()
			return p.handle(msg, want)
		case <-t.C:
			continue // re-check: a later send may have restarted the timer
		case <-p.rs.ctx.Done():
			t.Stop()
			p.complete = true
			p.close()
			return nil, localReply(499, "downstream_remote_disconnect", "")
		case <-p.abort:
			t.Stop()
			p.complete = true
			p.close()
			return nil, localReply(504, "upstream_per_try_timeout", "")
		case <-p.upstreamErr:
			t.Stop()
			p.complete = true
			p.close()
			return nil, &response{resetBeforeHeaders: &upstreamResetBeforeHeaders{p.upstreamErrOf()}}
		}
	}
}

func (p *extProc) handle(msg recvMsg, want wantKind) (*extprocsvc.ProcessingResponse, *response) {
	if msg.err != nil {
		if errors.Is(msg.err, io.EOF) {
			// ext_proc.cc onGrpcClose: a clean close by the server means
			// "ignore the stream for the rest of the request".
			p.complete = true
			p.close()
			return nil, nil
		}
		return p.grpcError(msg.err)
	}
	r := msg.resp
	// ext_proc.cc onReceiveMessage: dynamic_metadata is applied first, only
	// for namespaces in metadata_options.receiving_namespaces.
	p.applyDynamicMetadata(r.GetDynamicMetadata())
	// ext_proc.cc onReceiveMessage: mode_override is honoured only with
	// allow_mode_override, without send_body_without_waiting_for_header_response,
	// and only while a headers response is awaited.
	if mo := r.GetModeOverride(); mo != nil && p.cfg.pb.GetAllowModeOverride() &&
		!p.cfg.pb.GetSendBodyWithoutWaitingForHeaderResponse() &&
		(want == wantRequestHeaders || want == wantResponseHeaders) {
		p.applyModeOverride(mo)
	}
	if ir := r.GetImmediateResponse(); ir != nil && !p.cfg.pb.GetDisableImmediateResponse() {
		// ext_proc.cc: ImmediateResponse ends processing and sends a local reply.
		p.complete = true
		p.close()
		return nil, p.immediate(ir)
	}
	ok := false
	switch want {
	case wantRequestHeaders:
		ok = r.GetRequestHeaders() != nil
	case wantRequestBody:
		ok = r.GetRequestBody() != nil
	case wantResponseHeaders:
		ok = r.GetResponseHeaders() != nil
	case wantResponseBody:
		ok = r.GetResponseBody() != nil
	}
	if ok {
		p.armed.Store(false)
	}
	if !ok {
		// ext_proc.cc onReceiveMessage: an out-of-order (spurious) message
		// fails closed with status_on_error unless failure_mode_allow
		// (envoy.reloadable_features.ext_proc_fail_close_spurious_resp, default true).
		p.rs.log.Debug("ext_proc spurious message", "filter", p.cfg.name, "want", want.String())
		if p.failureModeAllow() {
			p.complete = true
			p.close()
			return nil, nil
		}
		p.complete = true
		p.close()
		// ext_proc.cc handleErrorResponse: the details are the status
		// message, "spurious message" (processor_state.cc handleHeadersResponse
		// and handleBodyResponse), with white space replaced.
		return nil, localReply(p.cfg.onError, replaceAllEmptySpace("spurious message"), "")
	}
	return r, nil
}

// replaceAllEmptySpace is StringUtil::replaceAllEmptySpace
// (source/common/common/utility.cc): every white space character becomes
// '_'. Envoy applies it to the details of every ext_proc local reply
// (ext_proc.cc sendImmediateResponse).
func replaceAllEmptySpace(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(" \t\f\v\n\r", r) {
			return '_'
		}
		return r
	}, s)
}

// grpcError is ext_proc.cc onGrpcError: fail open with failure_mode_allow,
// otherwise a local reply with status_on_error (default 500).
func (p *extProc) grpcError(err error) (*extprocsvc.ProcessingResponse, *response) {
	p.complete = true
	p.close()
	if p.failureModeAllow() {
		return nil, nil
	}
	st, _ := status.FromError(err)
	// ext_proc.cc onGrpcError: details "ext_proc_error_gRPC_error_<code>{<message>}",
	// white space replaced by sendImmediateResponse.
	return nil, localReply(p.cfg.onError, replaceAllEmptySpace(fmt.Sprintf("ext_proc_error_gRPC_error_%d{%s}", int(st.Code()), st.Message())), "")
}

// messageTimeout is ext_proc.cc onMessageTimeout: a 504 local reply with
// details "ext_proc_error_per-message_timeout_exceeded" when failing closed
// (status_on_error does not apply).
func (p *extProc) messageTimeout() (*extprocsvc.ProcessingResponse, *response) {
	p.complete = true
	p.close()
	if p.failureModeAllow() {
		return nil, nil
	}
	return nil, localReply(504, "ext_proc_error_per-message_timeout_exceeded", "")
}

func (p *extProc) applyModeOverride(mo *extprocv3.ProcessingMode) {
	// ext_proc.proto allowed_override_modes: when set, the override must
	// equal one of them, request_header_mode excluded from the comparison.
	if allowed := p.cfg.pb.GetAllowedOverrideModes(); len(allowed) > 0 {
		found := false
		for _, a := range allowed {
			if a.GetResponseHeaderMode() == mo.GetResponseHeaderMode() &&
				a.GetRequestBodyMode() == mo.GetRequestBodyMode() &&
				a.GetResponseBodyMode() == mo.GetResponseBodyMode() &&
				a.GetRequestTrailerMode() == mo.GetRequestTrailerMode() &&
				a.GetResponseTrailerMode() == mo.GetResponseTrailerMode() {
				found = true
				break
			}
		}
		if !found {
			return
		}
	}
	// Since 1.34 a DEFAULT header or trailer mode in the override leaves the
	// configured mode unchanged; body modes are always taken.
	if mo.GetResponseHeaderMode() != extprocv3.ProcessingMode_DEFAULT {
		p.mode.respHeader = mo.GetResponseHeaderMode()
	}
	if mo.GetRequestTrailerMode() != extprocv3.ProcessingMode_DEFAULT {
		p.mode.reqTrailer = mo.GetRequestTrailerMode()
	}
	if mo.GetResponseTrailerMode() != extprocv3.ProcessingMode_DEFAULT {
		p.mode.respTrailer = mo.GetResponseTrailerMode()
	}
	p.mode.reqBody = mo.GetRequestBodyMode()
	p.mode.respBody = mo.GetResponseBodyMode()
}

func (p *extProc) applyDynamicMetadata(s *structpb.Struct) {
	for ns, v := range s.GetFields() {
		sv := v.GetStructValue()
		if sv == nil {
			continue
		}
		if !p.cfg.recvNS[ns] {
			p.rs.log.Debug("ext_proc dynamic metadata namespace not in receiving_namespaces, dropped", "filter", p.cfg.name, "namespace", ns)
			continue
		}
		p.rs.mergeMD(ns, sv)
	}
}

// immediate turns an ImmediateResponse into a local reply
// (ext_proc.cc Filter::sendImmediateResponse): the status when it is at
// least 200 (MutationUtils::isValidHttpStatus), else 200; the header
// mutation under the mutation rules, where a failed mutation is only
// logged and the reply still goes out with the mutations applied before
// the failure; the body; details with white space replaced.
func (p *extProc) immediate(ir *extprocsvc.ImmediateResponse) *response {
	code := 200
	if ir.GetStatus() != nil && ir.GetStatus().GetCode() >= 200 {
		code = int(ir.GetStatus().GetCode())
	}
	resp := localReply(code, replaceAllEmptySpace(ir.GetDetails()), "")
	resp.headers.del("content-type")
	if err := p.cfg.applyHeaderMutation(ir.GetHeaders(), resp.headers, mutationOpts{}); err != nil {
		p.rs.log.Debug("ext_proc immediate response mutations failed", "filter", p.cfg.name, "err", err)
	}
	resp.headers.set(":status", itoa(int64(code)))
	// sendLocalReply adds content-type text/plain to a body when none was set.
	if len(ir.GetBody()) > 0 && !resp.headers.has("content-type") {
		resp.headers.set("content-type", "text/plain")
	}
	resp.body = &bytesBody{b: ir.GetBody()}
	resp.headers.set("content-length", itoa(int64(len(ir.GetBody()))))
	resp.fromExtProc = p
	return resp
}

// applyCommon applies a CommonResponse. headers is nil when the headers
// already went on (ext_proc processor_state.cc: "Response had header
// mutations but headers aren't available"). body is the buffered body to
// mutate, or nil.
func (p *extProc) applyCommon(cr *extprocsvc.CommonResponse, headers *headerMap, body *[]byte, decoding bool) *response {
	if cr == nil {
		return nil
	}
	if cr.GetHeaderMutation() != nil && headers != nil {
		opts := mutationOpts{replacing: cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE, removeContentLength: p.shouldRemoveContentLength(decoding)}
		if err := p.cfg.applyHeaderMutation(cr.GetHeaderMutation(), headers, opts); err != nil {
			// ext_proc.cc handleErrorResponse: a rejected mutation is a local
			// reply with status_on_error, its details the error message.
			p.complete = true
			p.close()
			return localReply(p.cfg.onError, replaceAllEmptySpace(err.Error()), "")
		}
	}
	if bm := cr.GetBodyMutation(); bm != nil && body != nil {
		if headers != nil {
			// processor_state.cc validateContentLength (BUFFERED body
			// callback): with the headers still held, a content-length that
			// differs from the size of body_mutation.body (0 for clear_body)
			// is an error -> local reply. Removing content-length is fine.
			if cl, has := headers.get("content-length"); has {
				if n, err := parseUint(cl); err == nil && n != uint64(len(bm.GetBody())) {
					p.complete = true
					p.close()
					return localReply(p.cfg.onError, replaceAllEmptySpace("mismatch between content length and the length of the mutated body"), "")
				}
			}
		}
		// mutation_utils.cc applyBodyMutations.
		switch mm := bm.GetMutation().(type) {
		case *extprocsvc.BodyMutation_Body:
			*body = append([]byte(nil), mm.Body...)
		case *extprocsvc.BodyMutation_ClearBody:
			if mm.ClearBody {
				*body = nil
			}
		}
	}
	if decoding {
		// processor_state.cc DecodingProcessorState::clearRouteCache: an
		// upstream filter never clears (clear_route_cache_upstream_ignored);
		// without a header mutation in the same response nothing is cleared,
		// whatever route_cache_action says; then DEFAULT clears when
		// clear_route_cache is set, CLEAR always, RETAIN never.
		switch {
		case p.cfg.upstream:
		case cr.GetHeaderMutation() == nil:
			if cr.GetClearRouteCache() {
				p.rs.log.Debug("ext_proc clear_route_cache ignored: no header mutation", "filter", p.cfg.name)
			}
		case p.cfg.pb.GetRouteCacheAction() == extprocv3.ExternalProcessor_CLEAR:
			p.clearRoute = true
		case p.cfg.pb.GetRouteCacheAction() == extprocv3.ExternalProcessor_RETAIN, p.cfg.pb.GetDisableClearRouteCache():
		case cr.GetClearRouteCache():
			p.clearRoute = true
		}
	}
	return nil
}

// shouldRemoveContentLength is ProcessorState::shouldRemoveContentLength:
// unless allow_content_length_header, content-length is removed (and a set
// of it skipped) in STREAMED, BUFFERED_PARTIAL, FULL_DUPLEX_STREAMED, and
// BUFFERED with the headers not sent.
func (p *extProc) shouldRemoveContentLength(decoding bool) bool {
	if p.cfg.pb.GetAllowContentLengthHeader() {
		return false
	}
	bm, hm := p.mode.respBody, p.mode.respHeader
	if decoding {
		bm, hm = p.mode.reqBody, p.mode.reqHeader
	}
	switch bm {
	case extprocv3.ProcessingMode_STREAMED, extprocv3.ProcessingMode_BUFFERED_PARTIAL, extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED:
		return true
	case extprocv3.ProcessingMode_BUFFERED:
		return hm == extprocv3.ProcessingMode_SKIP
	}
	return false
}

func parseUint(s string) (uint64, error) {
	var n uint64
	if s == "" {
		return 0, errors.New("empty")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + uint64(c-'0')
	}
	return n, nil
}

func isBuffered(m extprocv3.ProcessingMode_BodySendMode) bool {
	return m == extprocv3.ProcessingMode_BUFFERED || m == extprocv3.ProcessingMode_BUFFERED_PARTIAL
}

// forwarded is the header map sent to the server: every header
// forward_rules lets through (mutation_utils.cc headersToProto and
// headerCanBeForwarded: a header matching disallowed_headers is never
// sent; with allowed_headers set, only those matching it are). The
// headers stay in the request either way.
func (c *extProcConfig) forwarded(h *headerMap) *corev3.HeaderMap {
	out := h.proto()
	allowed := c.pb.GetForwardRules().GetAllowedHeaders().GetPatterns()
	disallowed := c.pb.GetForwardRules().GetDisallowedHeaders().GetPatterns()
	if len(allowed) == 0 && len(disallowed) == 0 {
		return out
	}
	in := func(k string, ms []*matcherv3.StringMatcher) bool {
		return slices.ContainsFunc(ms, func(m *matcherv3.StringMatcher) bool { return stringMatch(m, k) })
	}
	out.Headers = slices.DeleteFunc(out.Headers, func(hv *corev3.HeaderValue) bool {
		return in(hv.GetKey(), disallowed) || len(allowed) > 0 && !in(hv.GetKey(), allowed)
	})
	return out
}

// decode runs the request path of the filter: headers, then the whole body.
// overLimit says the body exceeded the buffer limit. It returns a local reply
// or nil to continue.
func (p *extProc) decode(h *headerMap, body *[]byte, overLimit bool) *response {
	endStream := len(*body) == 0 && !overLimit
	if p.mode.reqHeader == extprocv3.ProcessingMode_SEND {
		req := &extprocsvc.ProcessingRequest{
			Request: &extprocsvc.ProcessingRequest_RequestHeaders{RequestHeaders: &extprocsvc.HttpHeaders{Headers: p.cfg.forwarded(h), EndOfStream: endStream}},
		}
		p.addRequestAttributes(req, h)
		r, lr := p.exchange(req, wantRequestHeaders)
		if lr != nil {
			return lr
		}
		if r != nil {
			cr := r.GetRequestHeaders().GetResponse()
			// A headers response's body_mutation is read only with
			// CONTINUE_AND_REPLACE (processor_state.cc handleHeadersResponse).
			if lr := p.applyCommon(cr, h, nil, true); lr != nil {
				return lr
			}
			if cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE {
				// processor_state.cc handleHeaderContinueAndReplace: a body
				// mutation removes content-length and replaces the body; the
				// body phase is skipped.
				if bm := cr.GetBodyMutation(); bm != nil {
					h.del("content-length")
					switch mm := bm.GetMutation().(type) {
					case *extprocsvc.BodyMutation_Body:
						*body = append([]byte(nil), mm.Body...)
					case *extprocsvc.BodyMutation_ClearBody:
						if mm.ClearBody {
							*body = nil
						}
					}
				}
				return nil
			}
		}
	}
	if endStream || p.complete || p.mode.reqBody == extprocv3.ProcessingMode_NONE {
		return nil
	}
	if overLimit && isBuffered(p.mode.reqBody) {
		// filter_manager.cc: a decoder filter buffering past the buffer limit
		// gets a 413 local reply.
		return localReply(413, "request_payload_too_large", "Payload Too Large")
	}
	// STREAMED and FULL_DUPLEX_STREAMED request bodies are modelled as one
	// chunk with end_of_stream (guess: the model has the whole body already).
	req := &extprocsvc.ProcessingRequest{
		Request: &extprocsvc.ProcessingRequest_RequestBody{RequestBody: &extprocsvc.HttpBody{Body: *body, EndOfStream: true}},
	}
	p.addRequestAttributes(req, h)
	r, lr := p.exchange(req, wantRequestBody)
	if lr != nil {
		return lr
	}
	if r == nil {
		return nil
	}
	held := h
	if !isBuffered(p.mode.reqBody) {
		held = nil // headers already continued in streamed modes
	}
	return p.applyCommon(r.GetRequestBody().GetResponse(), held, body, true)
}
