package loadgen

import (
	"bytes"
	"context"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/structpb"
)

// attributesKey is where Envoy puts a filter's attributes in
// ProcessingRequest.attributes (ext_proc.cc: the filter's name).
const attributesKey = "envoy.filters.http.ext_proc"

// request is what one HTTP request carries through the filters: the
// dynamic metadata (per namespace, merged as Envoy's setDynamicMetadata
// merges) and what the servers did, for the report.
type request struct {
	md        map[string]*structpb.Struct
	mdVersion int // counts the changes of md
	obs       Observed
}

// errLocalReply ends a request with the server's ImmediateResponse.
type errLocalReply struct{ status int32 }

func (e *errLocalReply) Error() string { return fmt.Sprintf("immediate response %d", e.status) }

// fstream is one filter's gRPC stream for one request (or one attempt):
// ext_proc.cc opens it on the first message and keeps it until the filter
// is destroyed.
type fstream struct {
	f      *Filter
	req    *request
	cs     extprocsvc.ExternalProcessor_ProcessClient
	cancel context.CancelFunc
	mode   Mode

	sentReqAttrs, sentRespAttrs, sentProtocol bool
	// md is the encoded metadata_context as of the request's mdVersion.
	md        []byte
	mdVersion int
}

func open(ctx context.Context, cc *grpc.ClientConn, f *Filter, req *request) (*fstream, error) {
	ctx, cancel := context.WithCancel(ctx)
	if len(f.InitialMetadata) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, metadata.New(f.InitialMetadata))
	}
	cs, err := extprocsvc.NewExternalProcessorClient(cc).Process(ctx, grpc.ForceCodecV2(newCodec()))
	if err != nil {
		cancel()
		return nil, err
	}
	return &fstream{f: f, req: req, cs: cs, cancel: cancel, mode: f.Mode}, nil
}

// close ends the stream as the Envoy model does when the filter is
// destroyed: half-close, then reset.
func (s *fstream) close() {
	_ = s.cs.CloseSend()
	s.cancel()
}

// send sends one message as ext_proc.cc does (setupBodyChunk,
// buildHeaderRequest): metadata_context always set, holding the forwarded
// namespaces' dynamic metadata (addDynamicMetadata: an empty Metadata when
// none), and protocol_config on the stream's first message only
// (encodeProtocolConfig: the body modes and
// send_body_without_waiting_for_header_response). Both since 1.38.
func (s *fstream) send(m *extprocsvc.ProcessingRequest) error {
	var f frames
	switch r := m.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestBody:
		f = bodyFrames(requestBodyField, r.RequestBody.GetBody(), r.RequestBody.GetEndOfStream())
	case *extprocsvc.ProcessingRequest_ResponseBody:
		f = bodyFrames(responseBodyField, r.ResponseBody.GetBody(), r.ResponseBody.GetEndOfStream())
	default:
		f = frames{encode(&extprocsvc.ProcessingRequest{Request: m.GetRequest()})}
	}
	if s.mdVersion != s.req.mdVersion || s.md == nil {
		mc := &corev3.Metadata{}
		for _, ns := range s.f.ForwardNamespaces {
			if v := s.req.md[ns]; v != nil {
				if mc.FilterMetadata == nil {
					mc.FilterMetadata = map[string]*structpb.Struct{}
				}
				mc.FilterMetadata[ns] = v
			}
		}
		s.md, s.mdVersion = encode(&extprocsvc.ProcessingRequest{MetadataContext: mc}), s.req.mdVersion
	}
	f = append(f, s.md)
	rest := &extprocsvc.ProcessingRequest{Attributes: m.GetAttributes()}
	if !s.sentProtocol {
		rest.ProtocolConfig = &extprocsvc.ProtocolConfiguration{
			RequestBodyMode:                         s.mode.RequestBody,
			ResponseBodyMode:                        s.mode.ResponseBody,
			SendBodyWithoutWaitingForHeaderResponse: s.f.SendBodyWithoutWaiting,
		}
		s.sentProtocol = true
	}
	if rest.Attributes != nil || rest.ProtocolConfig != nil {
		f = append(f, encode(rest))
	}
	s.req.obs.Messages++
	return s.cs.SendMsg(f)
}

type want int

const (
	wantRequestHeaders want = iota
	wantRequestBody
	wantResponseHeaders
	wantResponseBody
)

var wantNames = [...]string{"request_headers", "request_body", "response_headers", "response_body"}

// check applies what every answer may carry (dynamic metadata for the
// receiving namespaces, an immediate response) and returns the answer's
// CommonResponse, or an error when the answer is not of the kind awaited.
func (s *fstream) check(r *extprocsvc.ProcessingResponse, w want) (*extprocsvc.CommonResponse, error) {
	for ns, v := range r.GetDynamicMetadata().GetFields() {
		sv := v.GetStructValue()
		if sv == nil || !s.f.receives(ns) {
			continue
		}
		s.req.obs.MetadataNamespaces++
		if old := s.req.md[ns]; old != nil {
			merged := &structpb.Struct{Fields: map[string]*structpb.Value{}}
			for k, x := range old.GetFields() {
				merged.Fields[k] = x
			}
			for k, x := range sv.GetFields() {
				merged.Fields[k] = x
			}
			sv = merged
		}
		s.req.md[ns] = sv
		s.req.mdVersion++
	}
	if ir := r.GetImmediateResponse(); ir != nil {
		return nil, &errLocalReply{status: int32(ir.GetStatus().GetCode())}
	}
	var cr *extprocsvc.CommonResponse
	ok := false
	switch w {
	case wantRequestHeaders:
		cr, ok = r.GetRequestHeaders().GetResponse(), r.GetRequestHeaders() != nil
	case wantRequestBody:
		cr, ok = r.GetRequestBody().GetResponse(), r.GetRequestBody() != nil
	case wantResponseHeaders:
		cr, ok = r.GetResponseHeaders().GetResponse(), r.GetResponseHeaders() != nil
	case wantResponseBody:
		cr, ok = r.GetResponseBody().GetResponse(), r.GetResponseBody() != nil
	}
	if !ok {
		return nil, fmt.Errorf("filter %s: spurious message: want %s, got %T", s.f.Name, wantNames[w], r.GetResponse())
	}
	// ext_proc.cc onReceiveMessage: mode_override only with
	// allow_mode_override and while a headers answer is awaited.
	if mo := r.GetModeOverride(); mo != nil && s.f.AllowModeOverride && !s.f.SendBodyWithoutWaiting &&
		(w == wantRequestHeaders || w == wantResponseHeaders) {
		s.override(mo)
	}
	return cr, nil
}

// override is the Envoy model's applyModeOverride: DEFAULT header modes
// leave the configured mode, body modes are always taken.
func (s *fstream) override(mo *extprocv3.ProcessingMode) {
	if mo.GetResponseHeaderMode() != extprocv3.ProcessingMode_DEFAULT {
		s.mode.ResponseHeader = mo.GetResponseHeaderMode()
	}
	s.mode.RequestBody = mo.GetRequestBodyMode()
	s.mode.ResponseBody = mo.GetResponseBodyMode()
	s.req.obs.ModeOverrides++
}

func (s *fstream) exchange(m *extprocsvc.ProcessingRequest, w want) (*extprocsvc.CommonResponse, error) {
	if err := s.send(m); err != nil {
		return nil, s.recvErr(err)
	}
	r, err := s.cs.Recv()
	if err != nil {
		return nil, err
	}
	return s.check(r, w)
}

// recvErr turns a failed Send into the stream's status (grpc-go reports
// the real error on Recv).
func (s *fstream) recvErr(err error) error {
	if _, rerr := s.cs.Recv(); rerr != nil {
		return rerr
	}
	return err
}

// attrs is the attributes field: the static values and those read from
// the request's dynamic metadata now. No attributes configured: no field.
func (s *fstream) attrs(static map[string]*structpb.Value, dyn []MetadataAttribute) map[string]*structpb.Struct {
	if static == nil && dyn == nil {
		return nil
	}
	fields := make(map[string]*structpb.Value, len(static)+len(dyn))
	for k, v := range static {
		fields[k] = v
	}
	for _, a := range dyn {
		if v := a.value(s.req.md); v != nil {
			fields[a.Name] = v
		}
	}
	return map[string]*structpb.Struct{attributesKey: {Fields: fields}}
}

func (s *fstream) addRequestAttributes(m *extprocsvc.ProcessingRequest) {
	if !s.sentReqAttrs {
		m.Attributes = s.attrs(s.f.RequestAttributes, s.f.RequestMetadataAttributes)
	}
	s.sentReqAttrs = true
}

func (s *fstream) addResponseAttributes(m *extprocsvc.ProcessingRequest) {
	if !s.sentRespAttrs {
		m.Attributes = s.attrs(s.f.ResponseAttributes, s.f.ResponseMetadataAttributes)
	}
	s.sentRespAttrs = true
}

// applyBody applies a body mutation to body.
func (s *fstream) applyBody(cr *extprocsvc.CommonResponse, body *[]byte) {
	switch m := cr.GetBodyMutation().GetMutation().(type) {
	case *extprocsvc.BodyMutation_Body:
		*body = m.Body
		s.req.obs.BodyMutations++
	case *extprocsvc.BodyMutation_ClearBody:
		if m.ClearBody {
			*body = nil
			s.req.obs.BodyMutations++
		}
	}
}

func isBuffered(m extprocv3.ProcessingMode_BodySendMode) bool {
	return m == extprocv3.ProcessingMode_BUFFERED || m == extprocv3.ProcessingMode_BUFFERED_PARTIAL
}

func isStreamed(m extprocv3.ProcessingMode_BodySendMode) bool {
	return m == extprocv3.ProcessingMode_STREAMED || m == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED
}

// decode runs the request path (the Envoy model's extProc.decode):
// headers with the request attributes, then the whole body in one message
// with end_of_stream (the harness has the whole body at once, as the model).
func (s *fstream) decode(h *Headers, body *[]byte) error {
	eos := len(*body) == 0
	if s.mode.RequestHeader == extprocv3.ProcessingMode_SEND {
		m := &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestHeaders{
			RequestHeaders: &extprocsvc.HttpHeaders{Headers: h.proto(), EndOfStream: eos}}}
		s.addRequestAttributes(m)
		cr, err := s.exchange(m, wantRequestHeaders)
		if err != nil {
			return err
		}
		s.req.obs.RequestHeaderMutations += h.apply(cr.GetHeaderMutation())
		if cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE {
			// processor_state.cc handleHeaderContinueAndReplace: the body
			// phase is skipped.
			if cr.GetBodyMutation() != nil {
				h.del("content-length")
				s.applyBody(cr, body)
			}
			return nil
		}
	}
	if eos || s.mode.RequestBody == extprocv3.ProcessingMode_NONE {
		return nil
	}
	m := &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_RequestBody{
		RequestBody: &extprocsvc.HttpBody{Body: *body, EndOfStream: true}}}
	s.addRequestAttributes(m)
	cr, err := s.exchange(m, wantRequestBody)
	if err != nil {
		return err
	}
	if isBuffered(s.mode.RequestBody) {
		s.req.obs.RequestHeaderMutations += h.apply(cr.GetHeaderMutation())
	}
	s.applyBody(cr, body)
	return nil
}

// encode runs the response path (the Envoy model's extProc.encode) and
// returns the body chunks as the next filter gets them.
func (s *fstream) encode(h *Headers, chunks [][]byte) ([][]byte, error) {
	eos := len(chunks) == 0
	if s.mode.ResponseHeader == extprocv3.ProcessingMode_SEND {
		m := &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseHeaders{
			ResponseHeaders: &extprocsvc.HttpHeaders{Headers: h.proto(), EndOfStream: eos}}}
		s.addResponseAttributes(m)
		// ext_proc.cc onData: with send_body_without_waiting_for_header_response
		// in STREAMED mode the chunks go out while the headers answer is
		// awaited; the answers come in order.
		if !eos && (s.mode.ResponseBody == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED ||
			s.mode.ResponseBody == extprocv3.ProcessingMode_STREAMED && s.f.SendBodyWithoutWaiting) {
			return s.stream(h, m, chunks)
		}
		cr, err := s.exchange(m, wantResponseHeaders)
		if err != nil {
			return nil, err
		}
		s.req.obs.ResponseHeaderMutations += h.apply(cr.GetHeaderMutation())
		if cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE && cr.GetBodyMutation() != nil {
			h.del("content-length")
			var b []byte
			s.applyBody(cr, &b)
			return [][]byte{b}, nil
		}
	}
	switch {
	case eos:
		return chunks, nil
	case isBuffered(s.mode.ResponseBody):
		body := bytes.Join(chunks, nil)
		m := &extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseBody{
			ResponseBody: &extprocsvc.HttpBody{Body: body, EndOfStream: true}}}
		cr, err := s.exchange(m, wantResponseBody)
		if err != nil {
			return nil, err
		}
		s.req.obs.ResponseHeaderMutations += h.apply(cr.GetHeaderMutation())
		s.applyBody(cr, &body)
		return [][]byte{body}, nil
	case isStreamed(s.mode.ResponseBody):
		return s.stream(nil, nil, chunks)
	}
	return chunks, nil
}

// stream sends the headers message (when hm is set) and every chunk, the
// last with end_of_stream, without waiting for answers, and applies the
// answers in order as they come (a receiving goroutine keeps both gRPC
// directions flowing, as Envoy's event loop does).
func (s *fstream) stream(h *Headers, hm *extprocsvc.ProcessingRequest, chunks [][]byte) ([][]byte, error) {
	type answer struct {
		r   *extprocsvc.ProcessingResponse
		err error
	}
	n := len(chunks)
	if hm != nil {
		n++
	}
	answers := make(chan answer, n)
	go func() {
		for range n {
			r, err := s.cs.Recv()
			answers <- answer{r, err}
			if err != nil {
				return
			}
		}
	}()
	var sendErr error
	if hm != nil {
		sendErr = s.send(hm)
	}
	for i, c := range chunks {
		if sendErr != nil {
			break
		}
		sendErr = s.send(&extprocsvc.ProcessingRequest{Request: &extprocsvc.ProcessingRequest_ResponseBody{
			ResponseBody: &extprocsvc.HttpBody{Body: c, EndOfStream: i == len(chunks)-1}}})
	}
	out := make([][]byte, 0, len(chunks))
	for i := range n {
		a := <-answers
		if a.err != nil {
			return nil, a.err
		}
		w := wantResponseBody
		if hm != nil && i == 0 {
			w = wantResponseHeaders
		}
		cr, err := s.check(a.r, w)
		if err != nil {
			return nil, err // the caller's close unblocks the receiver
		}
		if w == wantResponseHeaders {
			s.req.obs.ResponseHeaderMutations += h.apply(cr.GetHeaderMutation())
			continue
		}
		c := chunks[len(out)]
		s.applyBody(cr, &c)
		out = append(out, c)
	}
	if sendErr != nil {
		return nil, sendErr
	}
	return out, nil
}
