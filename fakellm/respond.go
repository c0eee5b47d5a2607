package fakellm

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// respond writes the answer a in api's format, applying fault f (nil for
// none).
func (s *Server) respond(w http.ResponseWriter, r *http.Request, api api, a *answer, f *Fault) {
	var nf Fault
	if f != nil {
		nf = *f
	}
	delay := time.Duration(nf.Delay)
	ctx := r.Context()
	switch nf.Kind {
	case KindReset:
		resetConn(w)
		return
	case KindLatency:
		if !s.wait(ctx, delay, false) {
			return
		}
	case KindStatus:
		if !s.wait(ctx, delay, false) {
			return
		}
		s.writeError(w, api, a, nf)
		return
	case KindStreamError:
		if !a.stream {
			s.writeError(w, api, a, Fault{Kind: KindStatus, Status: api.overloadStatus()})
			return
		}
	case KindStall:
		if !a.stream && !s.wait(ctx, delay, true) {
			return
		}
	case KindSlowTokens:
		if !a.stream && !s.wait(ctx, delay*time.Duration(len(a.deltas)), false) {
			return
		}
	}
	api.setHeaders(w.Header(), a)
	if !a.stream {
		body := api.body(a)
		if nf.Kind == KindCut {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			flush(w)
			abort(w)
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	evs := api.events(a)
	if nf.Kind == KindStreamError {
		evs = []event{api.errorEvent(a)}
	}
	s.writeStream(w, r, a, evs, nf)
}

// writeStream writes evs as SSE (or, for Gemini without alt=sse, as a JSON
// array), applying stall, slow_tokens and cut faults.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, a *answer, evs []event, f Fault) {
	ctx := r.Context()
	fr := framerOf(a)
	w.Header().Set("Content-Type", fr.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flush(w)
	if f.Kind == KindStall && !s.wait(ctx, time.Duration(f.Delay), true) {
		return
	}
	w.Write(fr.open)
	for i, ev := range evs {
		if f.Kind == KindCut && i == f.AfterEvents {
			flush(w)
			abort(w)
		}
		if f.Kind == KindSlowTokens && i > 0 && !s.wait(ctx, time.Duration(f.Delay), false) {
			return
		}
		w.Write(fr.frame(i, ev))
		flush(w)
	}
	w.Write(fr.close)
}

// writeError answers the status fault f in api's error shape.
func (s *Server) writeError(w http.ResponseWriter, api api, a *answer, f Fault) {
	h := w.Header()
	api.setHeaders(h, a)
	e := apiError{status: f.Status, code: f.Code, promptTokens: a.promptTokens}
	if f.RetryAfter != "" && f.RetryAfter != "none" {
		h.Set("Retry-After", f.RetryAfter)
		if secs, err := strconv.ParseFloat(f.RetryAfter, 64); err == nil && secs >= 0 {
			if a.shape == ShapeOpenAI {
				h.Set("retry-after-ms", strconv.FormatInt(int64(secs*1000), 10))
			}
			e.retryDelay = strconv.FormatFloat(secs, 'f', -1, 64) + "s"
		}
	}
	if a.shape == ShapeAnthropic && f.Status == 429 {
		h.Set("anthropic-ratelimit-requests-remaining", "0")
	}
	body := []byte(f.Body)
	if f.Body == "" {
		body = api.errorBody(e)
	}
	writeJSON(w, f.Status, body)
}

// resetConn closes the client connection with an RST and no response.
// Over HTTP/2, which cannot be hijacked, it resets the stream instead.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		abort(w)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// abort ends the handler and makes net/http close the connection without
// finishing the response (no final chunk, short Content-Length body).
func abort(http.ResponseWriter) {
	panic(http.ErrAbortHandler)
}

func flush(w http.ResponseWriter) {
	http.NewResponseController(w).Flush()
}
