package fakellm

// framer turns stream events into bytes: SSE for every stream but Gemini's
// streamGenerateContent without alt=sse, which is one JSON array written
// element by element.
type framer struct {
	contentType string
	open, close []byte
	eol         string // SSE line end; Gemini uses CRLF like the live API
	array       bool
}

func framerOf(a *answer) framer {
	switch {
	case a.shape == ShapeGemini && !a.sse:
		return framer{contentType: "application/json; charset=UTF-8", open: []byte("["), close: []byte("]"), array: true}
	case a.shape == ShapeGemini:
		return framer{contentType: "text/event-stream", eol: "\r\n"}
	}
	return framer{contentType: "text/event-stream; charset=utf-8", eol: "\n"}
}

// frame is event i (0-based) as written on the wire.
func (f framer) frame(i int, ev event) []byte {
	var b []byte
	if f.array {
		if i > 0 {
			b = append(b, ",\r\n"...)
		}
		return append(b, ev.data...)
	}
	if ev.name != "" {
		b = append(b, "event: "...)
		b = append(b, ev.name...)
		b = append(b, f.eol...)
	}
	b = append(b, "data: "...)
	b = append(b, ev.data...)
	b = append(b, f.eol...)
	return append(b, f.eol...)
}
