package provider

import "bytes"

// Event is one server-sent event: its "event:" name and its joined "data:" lines.
type Event struct {
	Name string
	Data []byte
}

// SSEReader frames a server-sent event stream fed in arbitrary chunks
// (https://html.spec.whatwg.org/multipage/server-sent-events.html). It is the
// one framer every stream translator uses. The zero value is ready to use.
//
// It keeps only the bytes of an event not yet complete: a chunk holding whole
// events is framed in place, without copying.
type SSEReader struct {
	buf     []byte // start of an incomplete event
	scan    int    // bytes of buf already known to hold no event end
	data    []byte // scratch for events with several data lines
	started bool   // a leading byte-order mark was looked for
}

var utf8BOM = []byte("\xef\xbb\xbf")

// Feed appends chunk and calls fn for every event completed by it. Comment
// lines, "id" and "retry" fields and events without data are skipped; a
// leading UTF-8 byte-order mark is dropped. The Data slice is only valid
// during the call. An error from fn stops Feed and is returned; the bytes
// after that event stay buffered.
func (r *SSEReader) Feed(chunk []byte, fn func(Event) error) error {
	b, from := chunk, 0
	if len(r.buf) > 0 || !r.started {
		r.buf = append(r.buf, chunk...)
		b, from = r.buf, r.scan
		if !r.started {
			if len(b) < len(utf8BOM) && bytes.HasPrefix(utf8BOM, b) {
				return nil // may still become a byte-order mark
			}
			b = bytes.TrimPrefix(b, utf8BOM)
			r.started = true
		}
	}
	for {
		end, next := eventEnd(b, from)
		if end < 0 {
			break
		}
		ev, ok := r.parseEvent(b[:end])
		b, from = b[next:], 0
		if ok {
			if err := fn(ev); err != nil {
				r.keep(b, 0)
				return err
			}
		}
	}
	r.keep(b, max(0, len(b)-3))
	return nil
}

// keep moves the unframed rest b to the start of the buffer.
func (r *SSEReader) keep(b []byte, scan int) {
	r.buf = append(r.buf[:0], b...) // b may alias r.buf: append moves like copy
	r.scan = scan
}

// Pending reports the bytes of an event not yet complete.
func (r *SSEReader) Pending() int { return len(r.buf) }

// eventEnd finds the blank line ending the first event, looking for line
// ends from index from on: the index where the event's text ends and where
// the next event begins, or -1, -1. A lone "\r" ending the blank line at the
// very end of b ends the event at once; should the next chunk start with the
// "\n" of a "\r\n", that "\n" is an empty line, which dispatches nothing.
func eventEnd(b []byte, from int) (int, int) {
	for i := from; i < len(b); i++ {
		c := b[i]
		if c != '\n' && c != '\r' {
			// skip to the next line end quickly
			k := lineEnd(b[i:])
			if k < 0 {
				return -1, -1
			}
			i += k
			c = b[i]
		}
		// a line ends at i; is the next line empty?
		j := i + 1
		if c == '\r' {
			if j == len(b) {
				return -1, -1 // "\r" may be followed by "\n" in the next chunk
			}
			if b[j] == '\n' {
				j++
			}
		}
		if j == len(b) {
			return -1, -1
		}
		switch b[j] {
		case '\n':
			return i, j + 1
		case '\r':
			if j+1 < len(b) && b[j+1] == '\n' {
				return i, j + 2
			}
			return i, j + 1
		}
		i = j - 1
	}
	return -1, -1
}

// parseEvent reads the fields of one event's lines ("\n", "\r\n" or "\r" ended).
func (r *SSEReader) parseEvent(b []byte) (Event, bool) {
	var ev Event
	lines := 0
	for len(b) > 0 {
		line := b
		b = nil
		if i := lineEnd(line); i >= 0 {
			rest := line[i+1:]
			if line[i] == '\r' && len(rest) > 0 && rest[0] == '\n' {
				rest = rest[1:]
			}
			line, b = line[:i], rest
		}
		if len(line) == 0 || line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			field, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			ev.Name = eventName(value)
		case "data":
			switch lines {
			case 0:
				ev.Data = value
				if ev.Data == nil {
					ev.Data = []byte{}
				}
			case 1:
				r.data = append(append(append(r.data[:0], ev.Data...), '\n'), value...)
				ev.Data = r.data
			default:
				r.data = append(append(r.data, '\n'), value...)
				ev.Data = r.data
			}
			lines++
		}
	}
	return ev, lines > 0
}

// eventName returns v as a string without allocating for the names the
// providers send.
func eventName(v []byte) string {
	switch string(v) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	case "message":
		return "message"
	}
	return string(v)
}

// lineEnd is the index of the first "\r" or "\n" in b, or -1. Two
// IndexByte scans beat IndexAny, which builds a set on every call.
func lineEnd(b []byte) int {
	n := bytes.IndexByte(b, '\n')
	head := b
	if n >= 0 {
		head = b[:n]
	}
	if r := bytes.IndexByte(head, '\r'); r >= 0 {
		return r
	}
	return n
}
