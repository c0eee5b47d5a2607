package envoymodel

import (
	"errors"
	"fmt"
	"sync"

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

// upstreamResetBeforeHeaders is returned by encode when the upstream body
// failed while the response headers were still held in an upstream filter:
// the router has not seen the headers, so it handles an upstream reset
// (router.cc onUpstreamReset, retried with retry_on reset).
type upstreamResetBeforeHeaders struct{ err error }

func (e *upstreamResetBeforeHeaders) Error() string { return "upstream reset: " + e.err.Error() }

// encode runs the response path of the filter. It returns the headers and
// body to pass on, or a local reply (only possible before headers go on).
// The local reply carries resetBeforeHeaders when the upstream failed while
// the headers were held.
func (p *extProc) encode(h *headerMap, src bodySource, endStream bool) (*headerMap, bodySource, *response) {
	if p.complete {
		return h, src, nil
	}
	if p.mode.respHeader == extprocv3.ProcessingMode_SEND {
		req := &extprocsvc.ProcessingRequest{
			Request: &extprocsvc.ProcessingRequest_ResponseHeaders{ResponseHeaders: &extprocsvc.HttpHeaders{Headers: p.cfg.forwarded(h), EndOfStream: endStream}},
		}
		p.addResponseAttributes(req, h)
		// ext_proc.cc onData: with send_body_without_waiting_for_header_response
		// in STREAMED mode (and in FULL_DUPLEX_STREAMED, modelled as
		// STREAMED) body chunks go to the server while the headers answer is
		// awaited; the answers come in order.
		early := !endStream && (p.mode.respBody == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED ||
			p.mode.respBody == extprocv3.ProcessingMode_STREAMED && p.cfg.pb.GetSendBodyWithoutWaitingForHeaderResponse())
		if err := p.send(req); err != nil && !errors.Is(err, errSendEOF) {
			src.close()
			if _, lr := p.grpcError(err); lr != nil {
				return nil, nil, lr
			}
			return h, src, nil
		}
		// ext_proc.cc encodeHeaders removes content-length once the headers
		// message is sent, when shouldRemoveContentLength.
		if p.shouldRemoveContentLength(false) {
			h.del("content-length")
		}
		var hb *heldBody
		if early {
			hb = p.startPump(src)
		}
		r, lr := p.await(wantResponseHeaders)
		if lr != nil {
			if hb != nil {
				hb.close()
			} else {
				src.close()
			}
			return nil, nil, lr
		}
		if r == nil {
			// The stream closed or failed open (ext_proc.cc
			// onGrpcCloseWithStatus -> clearAsyncState): the headers go on,
			// chunks already sent go on unprocessed, later ones are not sent.
			if hb != nil {
				return h, hb, nil
			}
			return h, src, nil
		}
		cr := r.GetResponseHeaders().GetResponse()
		if lr := p.applyCommon(cr, h, nil, false); lr != nil {
			if hb != nil {
				hb.close()
			} else {
				src.close()
			}
			return nil, nil, lr
		}
		if cr.GetStatus() == extprocsvc.CommonResponse_CONTINUE_AND_REPLACE && hb == nil {
			// processor_state.cc handleHeaderContinueAndReplace: a body
			// mutation removes content-length and replaces the body; the
			// body is no longer sent to the server.
			if bm := cr.GetBodyMutation(); bm != nil {
				h.del("content-length")
				src.close()
				return h, &bytesBody{b: bm.GetBody()}, nil
			}
			p.mode.respBody = extprocv3.ProcessingMode_NONE
		}
		if !endStream && isStreamed(p.mode.respBody) {
			if hb == nil {
				hb = p.startPump(src)
			}
			if !p.rs.m.holdHeaders45355 && !hb.complete() {
				// Without #45355 (v1.38.0, processor_state.cc
				// handleHeaderContinue at f1dd21b16c: sendBufferedDataInStreamedMode
				// then continueIfNecessary) the headers answer continues the
				// held headers at once; the chunks follow as they are
				// answered. Only a body that already ended
				// (complete_body_available_: handleCompleteBodyAvailable
				// does not continue) keeps them held until its chunk's answer.
				return h, hb, nil
			}
			return p.holdUntilReleased(h, hb)
		}
	}
	if endStream || p.complete {
		return h, src, nil
	}
	switch {
	case isBuffered(p.mode.respBody):
		body, over, err := readAll(src, p.rs.m.bufferLimit)
		if err != nil {
			src.close()
			return nil, nil, &response{resetBeforeHeaders: &upstreamResetBeforeHeaders{err}}
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
	case isStreamed(p.mode.respBody):
		// Response headers not sent to the server (SKIP): the headers go on
		// and the chunks are answered in order.
		return h, p.startPump(src), nil
	}
	return h, src, nil
}

func isStreamed(m extprocv3.ProcessingMode_BodySendMode) bool {
	return m == extprocv3.ProcessingMode_STREAMED || m == extprocv3.ProcessingMode_FULL_DUPLEX_STREAMED
}

// heldChunk is one upstream body chunk, sent to the server unless the
// stream had already ended.
type heldChunk struct {
	b    []byte
	eos  bool
	err  error
	sent bool
}

// heldBody is a STREAMED response body (processor_state.cc chunk queue): a
// pump reads the upstream body and sends each chunk to the server as it
// arrives (ext_proc.cc handleDataStreamedModeBase); the chunks wait in order
// for their answers, and the answers are what goes on. Once the stream has
// ended (processing_complete_), chunks pass unprocessed.
type heldBody struct {
	p   *extProc
	src bodySource

	mu    sync.Mutex
	queue []heldChunk
	// notify wakes the consumer when a chunk is queued.
	notify chan struct{}
	// slots bounds the queue (Envoy raises a watermark and stops reading
	// the upstream when its chunk queue is over the buffer limit).
	slots    chan struct{}
	stop     chan struct{}
	stopOnce sync.Once

	// upstreamErr is closed by the pump when the upstream body fails: the
	// router resets the attempt at once, whatever the filter awaits.
	upstreamErr chan struct{}
	err         error

	// first is the chunk answered while the headers were held; it goes on
	// with them.
	first *heldChunk
	end   bool
}

const heldQueueChunks = 64

func (p *extProc) startPump(src bodySource) *heldBody {
	b := &heldBody{p: p, src: src, notify: make(chan struct{}, 1), slots: make(chan struct{}, heldQueueChunks), stop: make(chan struct{}), upstreamErr: make(chan struct{})}
	p.pumpDone = make(chan struct{})
	p.upstreamErr = b.upstreamErr
	p.upstreamErrOf = func() error { return b.err }
	go b.pump()
	return b
}

func (b *heldBody) pump() {
	defer close(b.p.pumpDone)
	for {
		select {
		case b.slots <- struct{}{}:
		case <-b.stop:
			return
		}
		c, eos, err := b.src.next()
		hc := heldChunk{b: c, eos: eos, err: err}
		// The send and the queueing are one step under mu, so an answer
		// can never be read before its chunk is in the queue.
		b.mu.Lock()
		if err == nil && !b.p.closed.Load() {
			msg := &extprocsvc.ProcessingRequest{
				Request: &extprocsvc.ProcessingRequest_ResponseBody{ResponseBody: &extprocsvc.HttpBody{Body: c, EndOfStream: eos}},
			}
			// A send on a stream the server ended fails with errSendEOF;
			// the consumer reads the stream's end from the receive side.
			if serr := b.p.send(msg); serr == nil || errors.Is(serr, errSendEOF) {
				hc.sent = true
			}
		}
		b.queue = append(b.queue, hc)
		b.mu.Unlock()
		select {
		case b.notify <- struct{}{}:
		default:
		}
		if err != nil {
			b.err = err
			close(b.upstreamErr)
			return
		}
		if eos {
			return
		}
	}
}

// complete reports whether the upstream body's end is queued (Envoy's
// complete_body_available_).
func (b *heldBody) complete() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, hc := range b.queue {
		if hc.eos {
			return true
		}
	}
	return false
}

// take returns the oldest queued chunk, if any.
func (b *heldBody) take() (heldChunk, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		return heldChunk{}, false
	}
	hc := b.queue[0]
	b.queue = b.queue[1:]
	<-b.slots
	return hc, true
}

// headSent reports whether the oldest queued chunk was sent to the server.
func (b *heldBody) headSent() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue) > 0 && b.queue[0].sent
}

// answer applies the server's answer (r, lr from await or handle) to a
// sent chunk: processor_state.cc handleStreamedBodyResponse applies the body
// mutation only (header mutations are not read in a streamed body callback).
func (b *heldBody) answer(hc heldChunk, r *extprocsvc.ProcessingResponse, lr *response) ([]byte, *response) {
	if lr != nil {
		return nil, lr
	}
	c := hc.b
	if r != nil {
		if lr := b.p.applyCommon(r.GetResponseBody().GetResponse(), nil, &c, false); lr != nil {
			return nil, lr
		}
	}
	return c, nil
}

// holdUntilReleased models Envoy #45355 (processor_state.cc
// handleHeaderContinue, 1.40.0-dev cb2a49b): in STREAMED mode the headers
// answer does not continue the held response headers. They go on with the
// first body chunk the filter injects after its answer
// (handleStreamedBodyResponse -> injectDataToFilterChain, which continues the
// headers first: filter_manager.cc injectEncodedDataToFilterChain), or when
// the gRPC stream ends (onGrpcClose / failure_mode_allow ->
// clearAsyncState: the queued chunks go on unprocessed, then
// continueIfNecessary). Until then the router has not seen the headers: the
// per-try timeout runs, and an upstream reset is an upstream reset. While no
// chunk is outstanding no message is expected (the callback state is Idle,
// no message timer runs): any message is spurious.
func (p *extProc) holdUntilReleased(h *headerMap, b *heldBody) (*headerMap, bodySource, *response) {
	fail := func(lr *response) (*headerMap, bodySource, *response) {
		b.close()
		return nil, nil, lr
	}
	for !p.complete {
		if hc, ok := b.take(); ok {
			if hc.err != nil {
				return fail(&response{resetBeforeHeaders: &upstreamResetBeforeHeaders{hc.err}})
			}
			if !hc.sent || p.complete {
				b.first = &hc
				break
			}
			r, lr := p.await(wantResponseBody)
			c, lr := b.answer(hc, r, lr)
			if lr != nil {
				return fail(lr)
			}
			b.first = &heldChunk{b: c, eos: hc.eos}
			break
		}
		select {
		case <-b.notify:
		case msg := <-p.msgs:
			// An answer read here belongs to the oldest queued chunk if the
			// pump sent it (send and queueing are atomic under mu);
			// otherwise nothing is outstanding and the message is spurious,
			// an error, or the stream's end.
			if b.headSent() {
				hc, _ := b.take()
				r, lr := p.handle(msg, wantResponseBody)
				c, lr := b.answer(hc, r, lr)
				if lr != nil {
					return fail(lr)
				}
				b.first = &heldChunk{b: c, eos: hc.eos}
				return h, b, nil
			}
			if _, lr := p.handle(msg, 0); lr != nil {
				return fail(lr)
			}
		case <-p.rs.ctx.Done():
			p.complete = true
			p.close()
			return fail(localReply(499, "downstream_remote_disconnect", ""))
		case <-p.abort:
			p.complete = true
			p.close()
			return fail(localReply(504, "upstream_per_try_timeout", ""))
		}
	}
	return h, b, nil
}

func (b *heldBody) next() ([]byte, bool, error) {
	if b.first != nil {
		hc := b.first
		b.first = nil
		b.end = hc.eos
		if hc.err != nil {
			return nil, false, hc.err
		}
		return hc.b, hc.eos, nil
	}
	if b.end {
		return nil, true, nil
	}
	var hc heldChunk
	for {
		var ok bool
		if hc, ok = b.take(); ok {
			break
		}
		select {
		case <-b.notify:
		case <-b.p.rs.ctx.Done():
			return nil, false, errDownstreamReset
		case <-b.p.abort:
			return nil, false, errDownstreamReset
		}
	}
	if hc.err != nil {
		return nil, false, hc.err
	}
	b.end = hc.eos
	if !hc.sent || b.p.complete {
		return hc.b, hc.eos, nil
	}
	r, lr := b.p.await(wantResponseBody)
	c, lr := b.answer(hc, r, lr)
	if lr != nil {
		// The headers already went on: Envoy can only reset the stream.
		return nil, false, fmt.Errorf("%w: %s", errDownstreamReset, lr.details)
	}
	return c, hc.eos, nil
}

func (b *heldBody) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	b.src.close()
}
