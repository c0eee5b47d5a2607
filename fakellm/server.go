package fakellm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FaultHeader is the request header that carries a per-request fault
// spec. FaultHeader + "-" + Options.Name (for example
// "x-fake-fault-openai") targets one named server and wins over it.
const FaultHeader = "x-fake-fault"

// AdminPrefix is the path prefix of the admin endpoints.
const AdminPrefix = "/_fake/"

// Options configures a Server. The zero value works.
type Options struct {
	// Name is the provider name in answers ("Hello from <name> (<model>).").
	// Default "fakellm".
	Name string
	// NoHeaderFaults ignores the x-fake-fault headers; only the schedule
	// applies faults. Default false.
	NoHeaderFaults bool
	// MaxRecorded is how many requests are kept for Requests; older ones
	// are dropped (Count still counts them). Default 1000; negative keeps
	// none.
	MaxRecorded int
	// MaxBodyBytes bounds a request body; larger bodies get 413.
	// Default 32 MiB.
	MaxBodyBytes int64
	// Now is the clock for "created" fields and record times. Default
	// time.Now. Fault delays always use real time.
	Now func() time.Time
	// Logger receives one debug line per request, credentials masked.
	// Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "fakellm"
	}
	if o.MaxRecorded == 0 {
		o.MaxRecorded = 1000
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is a fake LLM provider answering the OpenAI, Anthropic and Gemini
// APIs by path, with faults on demand and a record of every request. It
// is an http.Handler; use Start to run it on a loopback port.
type Server struct {
	opts        Options
	faultHeader string // FaultHeader + "-" + name, canonical

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: ends stalls and delays

	mu       sync.Mutex
	records  []Recorded
	count    int // requests since the last Reset
	schedule *scheduler
}

var _ http.Handler = (*Server)(nil)

// New returns a Server; it starts no goroutine.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	return &Server{
		opts:        opts,
		faultHeader: http.CanonicalHeaderKey(FaultHeader + "-" + opts.Name),
		closed:      make(chan struct{}),
	}
}

// Name is the provider name the Server answers with.
func (s *Server) Name() string { return s.opts.Name }

// Close ends every stall and delay in progress (their handlers return at
// once) and makes later ones return at once. The handler keeps answering.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Requests returns a copy of the recorded provider requests, oldest first.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.records))
	for i, r := range s.records {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// Count is the number of provider requests received since the last Reset
// (admin and /healthz requests never count).
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Reset forgets the recorded requests and restarts Seq at 0. The fault
// schedule is kept; see ClearFaults.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records, s.count = nil, 0
}

// ReceivedKey returns the full secret of the first credential that request
// seq carried (authorization without its "Bearer " prefix, x-api-key,
// api-key, x-goog-api-key, then the "key" query parameter), or "" when it
// had none or is no longer recorded. Secrets never leave the process: the
// HTTP admin API shows KeySHA256 only.
func (s *Server) ReceivedKey(seq int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		if r.Seq == seq {
			return r.secret
		}
	}
	return ""
}

// SetFaults replaces the fault schedule.
func (s *Server) SetFaults(sch Schedule) error {
	sch, err := sch.normalize()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedule = newScheduler(sch)
	return nil
}

// ClearFaults removes the fault schedule.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedule = nil
}

// Faults returns what is left of the fault schedule.
func (s *Server) Faults() ScheduleState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schedule.state()
}

// ServeHTTP answers provider requests by path, /healthz, and the admin
// endpoints under /_fake/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
		return
	case strings.HasPrefix(r.URL.Path, AdminPrefix):
		s.serveAdmin(w, r)
		return
	}
	s.serveProvider(w, r)
}

func (s *Server) serveProvider(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	tooLarge := false
	if err != nil {
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) {
			return // the client went away
		}
		tooLarge = true
	}
	c := parseCall(r, body)
	rec := record(r, body, s.opts.Now())
	rec.Shape, rec.Model, rec.Stream = c.shape, c.model, c.stream

	var f *Fault
	var badFault error
	if c.shape != ShapeUnknown && r.Method == http.MethodPost && !tooLarge {
		f, rec.FaultSource, badFault = s.pickFault(r)
	}
	rec.Fault = f
	seq := s.add(rec)
	s.opts.Logger.Debug("fakellm request", "name", s.opts.Name, "seq", seq,
		"method", r.Method, "path", rec.Path, "shape", c.shape, "model", c.model,
		"stream", c.stream, "fault", faultString(f))

	api := apiOf(c.shape)
	switch {
	case api == nil:
		writeJSON(w, http.StatusNotFound, []byte(`{"error":{"message":"fakellm: no provider API at this path","type":"invalid_request_error","code":"not_found"}}`))
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, api.errorBody(apiError{status: http.StatusMethodNotAllowed}))
		return
	case tooLarge:
		writeJSON(w, http.StatusRequestEntityTooLarge, api.errorBody(apiError{status: http.StatusRequestEntityTooLarge}))
		return
	case badFault != nil:
		// 400 from the fake itself; the message says so.
		writeJSON(w, http.StatusBadRequest, mustJSON(map[string]any{"error": map[string]string{
			"message": badFault.Error(), "type": "fakellm_bad_fault", "code": "fakellm_bad_fault",
		}}))
		return
	case f == nil && historyError(c.shape, body) != "":
		// A history the real API refuses (history.go).
		writeJSON(w, http.StatusBadRequest, historyErrorBody(c.shape, historyError(c.shape, body)))
		return
	}
	a := newAnswer(c, s.opts.Name, body, seq, s.opts.Now())
	a.key = rec.secret
	s.respond(w, r, api, a, f)
}

// pickFault returns the fault of r: its named header, its x-fake-fault
// header, or the schedule's next fault.
func (s *Server) pickFault(r *http.Request) (*Fault, string, error) {
	if !s.opts.NoHeaderFaults {
		for _, h := range []string{s.faultHeader, FaultHeader} {
			v := r.Header.Get(h)
			if v == "" {
				continue
			}
			f, err := ParseFault(v)
			if err != nil {
				return nil, "header", err
			}
			f.Times = 0
			return &f, "header", nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.schedule.next(); ok {
		return &f, "schedule", nil
	}
	return nil, "", nil
}

// add records rec and returns its Seq.
func (s *Server) add(rec Recorded) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Seq = s.count
	s.count++
	if s.opts.MaxRecorded < 0 {
		return rec.Seq
	}
	if len(s.records) >= s.opts.MaxRecorded {
		s.records = append(s.records[:0:0], s.records[len(s.records)-s.opts.MaxRecorded+1:]...)
	}
	s.records = append(s.records, rec)
	return rec.Seq
}

// wait sleeps d (forever when d is 0 and forever is set) and reports
// whether the answer should go on: false when the client went away or the
// Server was closed.
func (s *Server) wait(ctx context.Context, d time.Duration, forever bool) bool {
	if d <= 0 && !forever {
		return true
	}
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-timer:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

func faultString(f *Fault) string {
	if f == nil {
		return ""
	}
	return string(mustJSON(f))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
