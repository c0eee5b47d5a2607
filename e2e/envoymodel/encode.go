package envoymodel

import (
	"errors"
	"fmt"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// bodySource yields a response body chunk by chunk.
type bodySource interface {
	// next returns the next chunk; eos marks the last one.
	next() (chunk []byte, eos bool, err error)
	close()
}

// bytesBody is a body held in memory, yielded as one chunk.
type bytesBody struct {
	b       []byte
	done    bool
	onClose func()
}

func (b *bytesBody) next() ([]byte, bool, error) {
	if b.done {
		return nil, true, nil
	}
	b.done = true
	return b.b, true, nil
}

func (b *bytesBody) close() {
	if b.onClose != nil {
		b.onClose()
		b.onClose = nil
	}
}

// readAll drains src up to limit bytes; over reports an overflow.
func readAll(src bodySource, limit uint64) (out []byte, over bool, err error) {
	for {
		c, eos, err := src.next()
		if err != nil {
			return out, false, err
		}
		out = append(out, c...)
		if uint64(len(out)) > limit {
			return out, true, nil
		}
		if eos {
			return out, false, nil
		}
	}
}

// errDownstreamReset ends a response whose headers already went on: Envoy
// can only reset the stream then.
var errDownstreamReset = errors.New("stream reset after response headers")

// encode runs the response path of the filter. It returns the headers and
// body to pass on, or a local reply (only possible before headers go on).
func (p *extProc) encode(h *headerMap, src bodySource, endStream bool) (*headerMap, bodySource, *response) {
	if p.complete {
		return h, src, nil
	}
	streamed := p.mode.respBody == extprocv3.ProcessingMode_STREAMED || p.mode.respBody == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED
	if p.mode.respHeader == extprocv3.ProcessingMode_SEND {
		req := &extprocsvc.ProcessingRequest{
			Request: &extprocsvc.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocsvc.HttpHeaders{Headers: h.proto(), EndOfStream: endStream}},
		}
		p.addResponseAttributes(req, h)
		if streamed && !endStream && p.cfg.pb.GetSendBodyWithoutWaitingForHeaderResponse() {
			// ext_proc.proto send_body_without_waiting_for_header_response
			// (STREAMED only): the headers stay paused while body chunks go to
			// the server as they arrive; the answers come in order.
			return p.encodeHeld(req, h, src)
		}
		r, lr := p.exchange(req, wantResponseHeaders)
		if lr != nil {
			return nil, nil, lr
		}
		if r != nil {
			held := h
			var none []byte
			if lr := p.applyCommon(r.GetResponseHeaders().GetResponse(), held, &none, false); lr != nil {
				return nil, nil, lr
			}
		}
		streamed = p.mode.respBody == extprocv3.ProcessingMode_STREAMED || p.mode.respBody == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED
	}
	if endStream || p.complete {
		return h, src, nil
	}
	switch {
	case isBuffered(p.mode.respBody):
		body, over, err := readAll(src, p.rs.m.bufferLimit)
		if err != nil {
			src.close()
			// An upstream reset while buffering: Envoy resets downstream
			// (guess: no local reply modelled here).
			return nil, nil, localReply(503, "upstream_reset_after_response_started", "")
		}
		if over {
			src.close()
			// filter_manager.cc: encoder buffer overflow before headers were
			// sent -> 500 local reply.
			return nil, nil, localReply(500, "response_payload_too_large", "Internal Server Error")
		}
		req := &extprocsvc.ProcessingRequest{
			Request: &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: &extprocsvc.HttpBody{Body: body, EndOfStream: true}},
		}
		r, lr := p.exchange(req, wantResponseBody)
		if lr != nil {
			src.close()
			return nil, nil, lr
		}
		if r != nil {
			if lr := p.applyCommon(r.GetResponseBody().GetResponse(), h, &body, false); lr != nil {
				src.close()
				return nil, nil, lr
			}
		}
		return h, &bytesBody{b: body, onClose: src.close}, nil
	case streamed:
		// AllowContentLengthHeader (ext_proc.proto): unless set, the filter
		// removes content-length when the body may change in streamed modes
		// (guess at the exact condition).
		if !p.cfg.pb.GetAllowContentLengthHeader() {
			h.del("content-length")
		}
		return h, &streamedBody{p: p, src: src}, nil
	}
	return h, src, nil
}

// streamedBody sends each chunk to the server and waits for its answer
// (processor_state.cc StreamedBodyCallback).
type streamedBody struct {
	p   *extProc
	src bodySource
	end bool
}

func (s *streamedBody) next() ([]byte, bool, error) {
	if s.end {
		return nil, true, nil
	}
	c, eos, err := s.src.next()
	if err != nil {
		return nil, false, err
	}
	s.end = eos
	if s.p.complete {
		return c, eos, nil
	}
	req := &extprocsvc.ProcessingRequest{
		Request: &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: &extprocsvc.HttpBody{Body: c, EndOfStream: eos}},
	}
	r, lr := s.p.exchange(req, wantResponseBody)
	if lr != nil {
		return nil, false, fmt.Errorf("%w: %s", errDownstreamReset, lr.details)
	}
	if r != nil {
		if lr := s.p.applyCommon(r.GetResponseBody().GetResponse(), nil, &c, false); lr != nil {
			return nil, false, fmt.Errorf("%w: %s", errDownstreamReset, lr.details)
		}
	}
	return c, eos, nil
}

func (s *streamedBody) close() { s.src.close() }

// heldChunk is one chunk sent while the headers were held.
type heldChunk struct {
	b   []byte
	eos bool
	err error
}

func (p *extProc) encodeHeld(req *extprocsvc.ProcessingRequest, h *headerMap, src bodySource) (*headerMap, bodySource, *response) {
	if err := p.send(req); err != nil && !errors.Is(err, errSendEOF) {
		src.close()
		_, lr := p.grpcError(err)
		if lr == nil {
			return h, src, nil
		}
		return nil, nil, lr
	}
	pending := make(chan heldChunk, 4096)
	p.pumpDone = make(chan struct{})
	go func() {
		defer close(p.pumpDone)
		defer close(pending)
		for {
			c, eos, err := src.next()
			if err != nil {
				pending <- heldChunk{err: err}
				return
			}
			if p.ctx.Err() != nil {
				return
			}
			msg := &extprocsvc.ProcessingRequest{
				Request: &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: &extprocsvc.HttpBody{Body: c, EndOfStream: eos}},
			}
			if err := p.send(msg); err != nil {
				pending <- heldChunk{err: err}
				return
			}
			pending <- heldChunk{b: c, eos: eos}
			if eos {
				return
			}
		}
	}()
	r, lr := p.await(wantResponseHeaders)
	if lr != nil {
		src.close()
		return nil, nil, lr
	}
	if r != nil {
		var none []byte
		if lr := p.applyCommon(r.GetResponseHeaders().GetResponse(), h, &none, false); lr != nil {
			src.close()
			return nil, nil, lr
		}
	}
	if !p.cfg.pb.GetAllowContentLengthHeader() {
		h.del("content-length")
	}
	return h, &heldBody{p: p, pending: pending, src: src}, nil
}

// heldBody answers the chunks sent during the hold, in order, then goes on
// as a streamed body.
type heldBody struct {
	p       *extProc
	pending chan heldChunk
	src     bodySource
	end     bool
}

func (b *heldBody) next() ([]byte, bool, error) {
	if b.end {
		return nil, true, nil
	}
	hc, ok := <-b.pending
	if !ok {
		// The pump stopped (stream cancelled).
		return nil, false, errDownstreamReset
	}
	if hc.err != nil {
		return nil, false, hc.err
	}
	b.end = hc.eos
	c := hc.b
	if b.p.complete {
		return c, hc.eos, nil
	}
	r, lr := b.p.await(wantResponseBody)
	if lr != nil {
		return nil, false, fmt.Errorf("%w: %s", errDownstreamReset, lr.details)
	}
	if r != nil {
		if lr := b.p.applyCommon(r.GetResponseBody().GetResponse(), nil, &c, false); lr != nil {
			return nil, false, fmt.Errorf("%w: %s", errDownstreamReset, lr.details)
		}
	}
	return c, hc.eos, nil
}

func (b *heldBody) close() {
	b.src.close()
}
