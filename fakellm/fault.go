package fakellm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadFault reports a fault spec or schedule that cannot be used.
var ErrBadFault = errors.New("fakellm: bad fault")

// Kind is what a fault does to a request.
type Kind int

const (
	// KindNone is the zero Kind. In JSON it is written as an absent "kind";
	// a spec with a status and no kind is a KindStatus fault.
	KindNone Kind = iota
	// KindStatus answers Status in the provider's error shape, after Delay.
	KindStatus
	// KindLatency waits Delay before anything is written, then answers normally.
	KindLatency
	// KindStall holds the answer: a stream gets its 200 headers at once and
	// then no event for Delay; a non-stream request gets nothing for Delay.
	// Delay 0 stalls until the client goes away or the Server is closed.
	// After the stall the answer continues normally.
	KindStall
	// KindStreamError answers a stream with 200 and an error as its first
	// and only event; a non-stream request gets the provider's overload
	// status (OpenAI 503, Anthropic 529, Gemini 503).
	KindStreamError
	// KindCut writes the first AfterEvents events of a stream (or half of a
	// JSON body) and closes the connection without the rest.
	KindCut
	// KindReset closes the TCP connection with an RST and no response.
	KindReset
	// KindSlowTokens waits Delay before every stream event after the first
	// (non-stream: Delay per delta before the body).
	KindSlowTokens
	// KindCompress answers normally, gzip-compressed with
	// "Content-Encoding: gzip" when the request's Accept-Encoding accepts
	// gzip (a stream is flushed after every event). br and other codings
	// are not implemented: a request that accepts none of gzip or "*" gets
	// an identity answer, as from a server that only knows gzip.
	KindCompress
	// KindHTML answers 200 with an HTML error page (text/html), stream or
	// not, like a proxy or CDN in front of the provider.
	KindHTML
	// KindBadJSON answers 200 with invalid JSON: the first half of the
	// normal JSON body (with a matching Content-Length); for a stream, the
	// first event's data is cut to its first half and the rest follows.
	KindBadJSON
	// KindEmpty answers 200 with the normal Content-Type and an empty body
	// (a stream with no event at all, ended cleanly).
	KindEmpty
	// KindNoTerminal ends a stream cleanly without its terminal events:
	// OpenAI without the finish_reason chunk, usage chunk and [DONE];
	// Anthropic without content_block_stop, message_delta and
	// message_stop; Gemini without its last (finishReason) event.
	// AfterEvents, when set, is the number of events written instead.
	// A non-stream request gets the normal answer.
	KindNoTerminal
	// KindErrorAfterStart answers a stream with 200, the events that open
	// it and then an error before any content, ending the stream cleanly:
	// OpenAI the role chunk, then {"error":{...server_error}}; Anthropic
	// message_start and ping, then "event: error" overloaded_error; Gemini
	// one event with an empty text part, then the UNAVAILABLE error
	// object. A non-stream request gets the provider's overload status.
	KindErrorAfterStart
	// KindAnswer answers normally; with Header it adds response headers to
	// a good answer. A spec with only "header" is a KindAnswer fault.
	KindAnswer
)

var kindNames = [...]string{
	KindNone:        "",
	KindStatus:      "status",
	KindLatency:     "latency",
	KindStall:       "stall",
	KindStreamError: "stream_error",
	KindCut:         "cut",
	KindReset:       "reset",
	KindSlowTokens:  "slow_tokens",

	KindCompress:        "compress",
	KindHTML:            "html",
	KindBadJSON:         "bad_json",
	KindEmpty:           "empty",
	KindNoTerminal:      "no_terminal",
	KindErrorAfterStart: "error_after_start",
	KindAnswer:          "answer",
	// The quality answers (quality.go).
	KindEmptyAnswer: "empty_answer",
	KindNotJSON:     "not_json",
	KindTruncated:   "truncated",
	KindRefusal:     "refusal",
}

// String returns the JSON name of k, or "Kind(n)" for unknown values.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if k < 0 || int(k) >= len(kindNames) {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrBadFault, int(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown kind %q", ErrBadFault, b)
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("200ms", "2s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%w: delay: %v", ErrBadFault, err)
	}
	*d = Duration(v)
	return nil
}

// Fault is one fault spec. The same JSON is accepted in the x-fake-fault
// header and in schedules:
//
//	{"status":429,"retry_after":"2"}
//	{"status":400,"code":"context_length_exceeded"}
//	{"kind":"stall","delay":"2s"}
//	{"kind":"cut","after_events":2}
//	{"kind":"reset"}
//	{"status":401,"echo_key":true}
//	{"header":{"x-llm-failover-retry":"1"}}
type Fault struct {
	// Kind is what the fault does. Default: KindStatus when Status is set.
	Kind Kind `json:"kind,omitzero"`
	// Status is the HTTP status of a KindStatus fault, 400..599.
	Status int `json:"status,omitempty"`
	// Code refines the error body: "context_length_exceeded",
	// "insufficient_quota", "invalid_api_key", or any other string, which
	// becomes the OpenAI "code" (and the Anthropic error type when it ends
	// in "_error"). Default: chosen from Status.
	Code string `json:"code,omitempty"`
	// Body, when set, is written verbatim as the error body instead of the
	// provider's error shape.
	Body string `json:"body,omitempty"`
	// RetryAfter is the Retry-After header value, sent verbatim whatever
	// it is (seconds, an HTTP date, or nonsense such as "-5" or
	// "999999999999"). Default for 429: "1"; "none" omits the header.
	// OpenAI shape answers also get retry-after-ms when it is a number of
	// seconds in 0..1e9.
	RetryAfter string `json:"retry_after,omitempty"`
	// EchoKey makes a status fault's error message quote the request's
	// full credential, as some providers do ("Incorrect API key provided:
	// sk-..."). Only with a status. Default false.
	EchoKey bool `json:"echo_key,omitempty"`
	// Header holds response headers added to the answer (any kind but
	// reset), for example {"x-llm-failover-retry":"1"} on a good answer.
	Header map[string]string `json:"header,omitempty"`
	// RST makes a cut fault close the connection with a TCP RST instead of
	// a FIN (HTTP/1 only). Default false.
	RST bool `json:"rst,omitempty"`
	// Delay is the wait of latency, stall and slow_tokens faults, and the
	// wait before a status fault answers. Default 0.
	Delay Duration `json:"delay,omitzero"`
	// AfterEvents is how many stream events a cut fault lets through.
	// Default 0: the connection closes right after the headers.
	AfterEvents int `json:"after_events,omitempty"`
	// Times is how many consecutive requests a scheduled fault applies to.
	// Default 1; -1 means every request until the schedule is cleared.
	// Ignored in the x-fake-fault header.
	Times int `json:"times,omitempty"`
}

// normalize fills the defaults of f and checks it.
func (f Fault) normalize() (Fault, error) {
	if f.Kind == KindNone && f.Status != 0 {
		f.Kind = KindStatus
	}
	if f.Kind == KindNone && len(f.Header) > 0 {
		f.Kind = KindAnswer
	}
	var errs []error
	switch {
	case f.Kind == KindNone:
		errs = append(errs, errors.New("kind or status is required"))
	case f.Kind < KindNone || int(f.Kind) >= len(kindNames):
		errs = append(errs, fmt.Errorf("kind: unknown %d", int(f.Kind)))
	}
	if f.Kind == KindStatus && (f.Status < 400 || f.Status > 599) {
		errs = append(errs, fmt.Errorf("status: %d not in 400..599", f.Status))
	}
	if f.Kind != KindStatus && f.Status != 0 {
		errs = append(errs, fmt.Errorf("status: set on a %s fault", f.Kind))
	}
	if f.EchoKey && f.Kind != KindStatus {
		errs = append(errs, fmt.Errorf("echo_key: set on a %s fault", f.Kind))
	}
	if f.RST && f.Kind != KindCut {
		errs = append(errs, fmt.Errorf("rst: set on a %s fault", f.Kind))
	}
	if f.Delay < 0 {
		errs = append(errs, fmt.Errorf("delay: %s is negative", time.Duration(f.Delay)))
	}
	if f.AfterEvents < 0 {
		errs = append(errs, fmt.Errorf("after_events: %d is negative", f.AfterEvents))
	}
	if f.Times < -1 {
		errs = append(errs, fmt.Errorf("times: %d (want -1 or more)", f.Times))
	}
	if f.Times == 0 {
		f.Times = 1
	}
	if f.Status == 429 && f.RetryAfter == "" {
		f.RetryAfter = "1"
	}
	if err := errors.Join(errs...); err != nil {
		return f, fmt.Errorf("%w: %w", ErrBadFault, err)
	}
	return f, nil
}

// ParseFault parses a fault spec as sent in the x-fake-fault header: the
// JSON object of Fault, or a shorthand: a bare status ("429", "503") or a
// bare kind ("reset", "stream_error", "stall").
func ParseFault(spec string) (Fault, error) {
	spec = strings.TrimSpace(spec)
	var f Fault
	switch {
	case strings.HasPrefix(spec, "{"):
		dec := json.NewDecoder(strings.NewReader(spec))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return Fault{}, fmt.Errorf("%w: %v", ErrBadFault, err)
		}
	case spec != "" && spec[0] >= '0' && spec[0] <= '9':
		n, err := strconv.Atoi(spec)
		if err != nil {
			return Fault{}, fmt.Errorf("%w: status %q", ErrBadFault, spec)
		}
		f.Status = n
	default:
		if err := f.Kind.UnmarshalText([]byte(spec)); err != nil {
			return Fault{}, err
		}
	}
	return f.normalize()
}

// Schedule is what POST /_fake/faults installs (and SetFaults takes): a
// list of faults for the next requests, and a fault drawn at random for
// the requests the list does not cover.
//
//	{"faults":[{"status":429,"times":2},{"kind":"reset"}]}
//	{"probability":0.3,"seed":42,"fault":{"status":503}}
type Schedule struct {
	// Faults apply in order, each to Times consecutive provider requests.
	Faults []Fault `json:"faults,omitempty"`
	// Probability in [0,1] that a request not covered by Faults gets Fault.
	Probability float64 `json:"probability,omitempty"`
	// Seed of the random draws; the same seed and request order always
	// fault the same requests. Default 0 (itself a fixed seed).
	Seed uint64 `json:"seed,omitempty"`
	// Fault is the randomly applied fault; required when Probability > 0.
	Fault *Fault `json:"fault,omitempty"`
}

// normalize fills the defaults of s and checks it.
func (s Schedule) normalize() (Schedule, error) {
	var errs []error
	out := s
	out.Faults = make([]Fault, len(s.Faults))
	for i, f := range s.Faults {
		n, err := f.normalize()
		if err != nil {
			errs = append(errs, fmt.Errorf("faults[%d]: %w", i, err))
		}
		out.Faults[i] = n
	}
	if s.Probability < 0 || s.Probability > 1 {
		errs = append(errs, fmt.Errorf("probability: %v not in [0,1]", s.Probability))
	}
	switch {
	case s.Fault != nil:
		n, err := s.Fault.normalize()
		if err != nil {
			errs = append(errs, fmt.Errorf("fault: %w", err))
		}
		out.Fault = &n
	case s.Probability > 0:
		errs = append(errs, errors.New("fault: required with a probability"))
	}
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("%w: %w", ErrBadFault, err)
	}
	return out, nil
}

// ParseSchedule parses the body of POST /_fake/faults: a Schedule object,
// a JSON list of faults (short for {"faults":[...]}), or one fault object
// (short for a list of one).
func ParseSchedule(body []byte) (Schedule, error) {
	body = bytes.TrimSpace(body)
	var s Schedule
	var err error
	switch {
	case bytes.HasPrefix(body, []byte("[")):
		err = decodeStrict(body, &s.Faults)
	case isScheduleObject(body):
		err = decodeStrict(body, &s)
	default:
		var f Fault
		err = decodeStrict(body, &f)
		s.Faults = []Fault{f}
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("%w: %v", ErrBadFault, err)
	}
	return s.normalize()
}

func isScheduleObject(body []byte) bool {
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) != nil {
		return false
	}
	for _, k := range []string{"faults", "probability", "seed", "fault"} {
		if _, ok := keys[k]; ok {
			return true
		}
	}
	return false
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
