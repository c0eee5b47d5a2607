package provider

// streamStage is where a translated stream is: the one state a stream
// translator keeps about its output, in order.
type streamStage uint8

const (
	streamNew      streamStage = iota // nothing written yet
	streamStarted                     // the role chunk is written
	streamFinished                    // the finish chunk is written
	streamDone                        // [DONE] (or an error event and [DONE]) is written: nothing more
)

// chunkStream is the skeleton the Anthropic and Gemini stream translators
// share: events in through an SSEReader, chat.completion.chunk events out,
// one role chunk first, one finish chunk, then usage and [DONE], or an
// error event that ends the stream. A translator embeds it and handles its
// own events (feed).
type chunkStream struct {
	ep           *Endpoint
	model        string
	fallbackID   string // the answer's id when the provider gives none
	created      int64
	includeUsage bool

	r     SSEReader
	w     chunkWriter
	out   []byte
	stage streamStage
	feed  func(Event) error // the translator's event handler, set by its constructor
}

func (s *chunkStream) ContentType() string { return "text/event-stream" }

// translate feeds chunk's events to s.feed. It reports whether the stream
// ended (eos) without closing itself: the caller then writes its close.
// A stream already done gives nothing.
func (s *chunkStream) translate(chunk []byte, eos bool) bool {
	if s.stage == streamDone {
		s.out = nil
		return false
	}
	s.out = make([]byte, 0, 2*len(chunk)+256)
	_ = s.r.Feed(chunk, s.feed)
	return eos && s.stage != streamDone
}

// start writes the role chunk once, naming the answer id and model (the
// fallbacks when "").
func (s *chunkStream) start(id, model string) {
	if s.stage >= streamStarted {
		return
	}
	s.stage = streamStarted
	if id == "" {
		id = s.fallbackID
	}
	if model == "" {
		model = s.model
	}
	s.w.init(id, model, s.created)
	s.out = s.w.role(s.out)
}

// finish writes the finish chunk once.
func (s *chunkStream) finish(reason string) {
	if s.stage >= streamFinished {
		return
	}
	s.stage = streamFinished
	s.out = s.w.finish(s.out, reason)
}

// close writes the usage chunk (u: nil when the client did not ask for it)
// and [DONE].
func (s *chunkStream) close(u *usage) {
	if u != nil {
		s.out = s.w.usage(s.out, *u)
	}
	s.out = append(s.out, doneEvent...)
	s.stage = streamDone
}

// fail ends the stream with an OpenAI-style error event; the error stops
// the SSE reader.
func (s *chunkStream) fail(typ, code, msg string) error {
	s.out = appendErrorEvent(s.out, s.ep, typ, code, msg)
	s.stage = streamDone
	return errStop{}
}
