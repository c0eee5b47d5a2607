package provider

import (
	"strconv"
	"strings"
)

// EventKind is what one stream event means for failover and for the end of
// the stream. Each wire format judges its own events (Adapter.JudgeEvent);
// StreamMonitor frames the stream and keeps the verdicts.
type EventKind uint8

const (
	EventOther   EventKind = iota // no content: a role-only chunk, message_start, ping, usage
	EventContent                  // content: a text or tool call delta, a finish reason
	EventEnd                      // the terminal event: [DONE], message_stop, a finishReason
	EventError                    // an error event: Verdict.Failure says which
)

var eventKindNames = [...]string{"other", "content", "end", "error"}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "event_kind(" + strconv.Itoa(int(k)) + ")"
}

// Verdict is what an adapter makes of one event.
type Verdict struct {
	Kind EventKind
	// Failure classifies an error event (Kind EventError), Status 200.
	Failure *Classification
}

// streamError is the verdict on an error event classified as c. The request
// was accepted (the stream began with a 200), so a class that blames the
// request or means success is read as a server error.
func streamError(c Classification) Verdict {
	switch c.Class {
	case ClassInvalidRequest, ClassClientError, ClassSuccess:
		c.Class = ClassServerError
	}
	return Verdict{Kind: EventError, Failure: &c}
}

// StreamMonitor follows one response event stream, fed its body chunks in
// order: whether content came, whether the stream's terminal event came, and
// the first error event. It is what the attempt phase holds a stream on
// (until content or an error) and judges its end by. The zero value is not
// ready: use NewStreamMonitor.
type StreamMonitor struct {
	judge   func(Event) Verdict
	r       SSEReader
	events  int
	content bool
	ended   bool
	failure *Classification
}

// NewStreamMonitor returns a monitor judging events with a's wire format.
func NewStreamMonitor(a Adapter) *StreamMonitor {
	return &StreamMonitor{judge: a.JudgeEvent}
}

// Feed frames chunk and judges every event it completes.
func (m *StreamMonitor) Feed(chunk []byte) {
	_ = m.r.Feed(chunk, m.event)
}

func (m *StreamMonitor) event(ev Event) error {
	m.events++
	v := m.judge(ev)
	switch v.Kind {
	case EventContent:
		m.content = true
	case EventEnd:
		m.ended = true
	case EventError:
		if m.failure == nil {
			f := Classification{Class: ClassServerError, Status: 200}
			if v.Failure != nil {
				f = *v.Failure
			}
			// Judges may view the event's bytes, which the framer reuses:
			// keep copies.
			f.Type, f.Code, f.Message = strings.Clone(f.Type), strings.Clone(f.Code), strings.Clone(f.Message)
			m.failure = &f
		}
	}
	return nil
}

// Events is the number of events seen.
func (m *StreamMonitor) Events() int { return m.events }

// Content reports whether a content-bearing event (or the end) was seen.
func (m *StreamMonitor) Content() bool { return m.content || m.ended }

// Ended reports whether the stream's terminal event was seen.
func (m *StreamMonitor) Ended() bool { return m.ended }

// Failure is the first error event's classification, nil when none came.
func (m *StreamMonitor) Failure() *Classification { return m.failure }

// Pending is the bytes of an event not yet complete.
func (m *StreamMonitor) Pending() int { return m.r.Pending() }
