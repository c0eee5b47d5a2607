package fakellm

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// htmlPage is the body of an html fault: what a proxy in front of a
// provider serves.
const htmlPage = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1><p>The upstream server is temporarily unavailable.</p></body></html>\n"

// respond writes the answer a in api's format, applying fault f (nil for
// none).
func (s *Server) respond(w http.ResponseWriter, r *http.Request, api api, a *answer, f *Fault) {
	var nf Fault
	if f != nil {
		nf = *f
	}
	if nf.Kind != KindReset {
		for k, v := range nf.Header {
			w.Header().Set(k, v)
		}
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
	case KindStreamError, KindErrorAfterStart:
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
	case KindHTML:
		api.setHeaders(w.Header(), a)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(htmlPage))
		return
	case KindCompress:
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			gw := newGzipWriter(w)
			defer gw.Close()
			w = gw
		}
	}
	api.setHeaders(w.Header(), a)
	applyQuality(a, nf.Kind)
	if !a.stream {
		body := qualityBody(a, nf.Kind, api.body(a))
		switch nf.Kind {
		case KindCut:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			s.cut(w, nf)
			return
		case KindBadJSON:
			body = body[:len(body)/2]
		case KindEmpty:
			body = nil
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	evs := qualityEvents(a, nf.Kind, api.events(a))
	switch nf.Kind {
	case KindStreamError:
		evs = []event{api.errorEvent(a)}
	case KindErrorAfterStart:
		evs = append(api.startEvents(a), api.errorEvent(a))
	case KindEmpty:
		evs = nil
	case KindBadJSON:
		evs[0].data = evs[0].data[:len(evs[0].data)/2]
	case KindNoTerminal:
		n := len(evs) - api.terminalEvents(a)
		if nf.AfterEvents > 0 {
			n = min(nf.AfterEvents, len(evs))
		}
		evs = evs[:n]
	}
	s.writeStream(w, r, a, evs, nf)
}

// writeStream writes evs as SSE (or, for Gemini without alt=sse, as a JSON
// array), applying stall, slow_tokens and cut faults. An empty fault
// writes no byte at all, not even the JSON array's brackets.
func (s *Server) writeStream(w http.ResponseWriter, r *http.Request, a *answer, evs []event, f Fault) {
	ctx := r.Context()
	fr := framerOf(a)
	w.Header().Set("Content-Type", fr.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flush(w)
	if f.Kind == KindEmpty {
		return
	}
	if f.Kind == KindStall && !s.wait(ctx, time.Duration(f.Delay), true) {
		return
	}
	w.Write(fr.open)
	for i, ev := range evs {
		if f.Kind == KindCut && i == f.AfterEvents {
			s.cut(w, f)
			return
		}
		if f.Kind == KindSlowTokens && i > 0 && !s.wait(ctx, time.Duration(f.Delay), false) {
			return
		}
		w.Write(fr.frame(i, ev))
		flush(w)
	}
	w.Write(fr.close)
}

// cut ends a response mid-way: an RST when f.RST is set, else a close
// without the rest of the body.
func (s *Server) cut(w http.ResponseWriter, f Fault) {
	flush(w)
	if f.RST {
		resetConn(w)
		return
	}
	abort(w)
}

// writeError answers the status fault f in api's error shape.
func (s *Server) writeError(w http.ResponseWriter, api api, a *answer, f Fault) {
	h := w.Header()
	api.setHeaders(h, a)
	e := apiError{status: f.Status, code: f.Code, promptTokens: a.promptTokens, echoKey: f.EchoKey, key: a.key}
	if f.RetryAfter != "" && f.RetryAfter != "none" {
		h.Set("Retry-After", f.RetryAfter)
		if secs, err := strconv.ParseFloat(f.RetryAfter, 64); err == nil && secs >= 0 && secs <= 1e9 {
			if a.shape == ShapeOpenAI || a.shape == ShapeResponses {
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

// resetConn closes the client connection with an RST and no more bytes.
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
