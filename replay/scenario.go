package replay

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/provider"
)

// A Scenario is an authored incident (replay/incidents/*.yaml): traffic
// at a steady rate on one chain whose targets misbehave in time windows.
// Expand turns it into the audit events a server without breakers would
// have recorded (each request tries the targets in order until one
// answers), which the simulator replays; Schedules turns it into fakellm
// fault schedules, to play the same incident live through Envoy.
type Scenario struct {
	// Name names the incident (request ids are "<name>-<n>").
	Name string `json:"name"`
	// Description says what happens, for a person.
	Description string `json:"description,omitempty"`
	// Start is the recording's start. Default 2026-01-01T00:00:00Z.
	Start time.Time `json:"start,omitzero"`
	// Duration is how long the traffic lasts; 1s..24h.
	Duration config.Duration `json:"duration"`
	// Rate is the requests per second; 1..1000.
	Rate int `json:"rate"`
	// Model is the model the clients ask for; Chain the chain recorded.
	Model string `json:"model"`
	Chain string `json:"chain,omitempty"`
	// Targets are the recorded chain's targets, "provider/model", in order;
	// 1..16.
	Targets []string `json:"targets"`
	// TTFB is a healthy answer's time to first byte. Default 300ms.
	TTFB config.Duration `json:"ttfb,omitempty"`
	// Faults are the misbehaviours; where two overlap, the first listed
	// applies.
	Faults []Fault `json:"faults"`
}

// Fault is one target's misbehaviour in a time window of a Scenario.
type Fault struct {
	// Target is one of Scenario.Targets.
	Target string `json:"target"`
	// From and To bound the window, from the scenario's start (To
	// excluded); 0 <= From < To <= Duration.
	From config.Duration `json:"from"`
	To   config.Duration `json:"to"`
	// Every makes every Every-th request the target gets in the window
	// fail (1: all of them; 2: one in two, a flapping provider). Default 1.
	Every int `json:"every,omitempty"`
	// Status is the provider's error status (400..599); with StreamError,
	// the error comes inside a 200 event stream instead. Neither: the
	// answers succeed, slowly (TTFB).
	Status      int  `json:"status,omitempty"`
	StreamError bool `json:"stream_error,omitempty"`
	// TTFB is the time to first byte of the faulty answers. Default the
	// incident's TTFB.
	TTFB config.Duration `json:"ttfb,omitempty"`
	// RetryAfter is the Retry-After hint of a 429.
	RetryAfter config.Duration `json:"retry_after,omitempty"`
}

// ErrScenario is wrapped by every error of an incident file.
var ErrScenario = errors.New("bad incident scenario")

// LoadScenario reads and checks an incident file.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return ParseScenario(b)
}

// ParseScenario decodes an incident strictly (unknown fields are errors),
// applies its defaults and reports every problem with its field.
func ParseScenario(b []byte) (*Scenario, error) {
	var in Scenario
	if err := yaml.UnmarshalStrict(b, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	if in.Start.IsZero() {
		in.Start = defaultStart
	}
	if in.TTFB == 0 {
		in.TTFB = config.Duration(300 * time.Millisecond)
	}
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrScenario, field, fmt.Sprintf(format, a...)))
	}
	if in.Name == "" {
		bad("name", "required")
	}
	if d := in.Duration.D(); d < time.Second || d > 24*time.Hour {
		bad("duration", "%s: want 1s..24h", d)
	}
	if in.Rate < 1 || in.Rate > 1000 {
		bad("rate", "%d: want 1..1000 requests per second", in.Rate)
	}
	if in.Model == "" {
		bad("model", "required")
	}
	if len(in.Targets) < 1 || len(in.Targets) > 16 {
		bad("targets", "%d targets: want 1..16", len(in.Targets))
	}
	if in.TTFB.D() < 0 {
		bad("ttfb", "negative")
	}
	known := map[string]bool{}
	for _, t := range in.Targets {
		known[t] = true
	}
	for i := range in.Faults {
		f := &in.Faults[i]
		at := "faults[" + strconv.Itoa(i) + "]"
		if !known[f.Target] {
			bad(at+".target", "%q is not one of targets", f.Target)
		}
		if f.From < 0 || f.From >= f.To || f.To > in.Duration {
			bad(at+".from/to", "%s..%s: want 0 <= from < to <= duration", f.From, f.To)
		}
		if f.Every == 0 {
			f.Every = 1
		}
		if f.Every < 1 {
			bad(at+".every", "%d: want 1 or more", f.Every)
		}
		if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
			bad(at+".status", "%d: want 400..599", f.Status)
		}
		if f.StreamError && f.Status != 0 {
			bad(at+".stream_error", "an error inside a 200 stream has no status")
		}
		if f.TTFB == 0 {
			f.TTFB = in.TTFB
		}
		if f.TTFB.D() < 0 || f.RetryAfter.D() < 0 {
			bad(at, "negative ttfb or retry_after")
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &in, nil
}

// outcome is what a target does to one request.
type outcome struct {
	cls   provider.Class
	kind  breaker.Kind
	st    int
	ttfb  time.Duration
	retry time.Duration
	fault *Fault // nil: a healthy answer
}

// attemptOutcome is target's answer at t, counting its requests per fault
// window in seen.
func (in *Scenario) attemptOutcome(target string, t time.Time, seen map[*Fault]int) outcome {
	off := config.Duration(t.Sub(in.Start))
	for i := range in.Faults {
		f := &in.Faults[i]
		if f.Target != target || off < f.From || off >= f.To {
			continue
		}
		n := seen[f]
		seen[f] = n + 1
		if n%f.Every != 0 {
			break // a request the fault lets through
		}
		o := outcome{ttfb: f.TTFB.D(), fault: f}
		switch {
		case f.StreamError:
			o.cls, o.kind, o.st = provider.ClassServerError, breaker.Failure, 200
		case f.Status != 0:
			o.cls, o.st = provider.ClassifyStatus(f.Status), f.Status
			o.kind = breakerKind(o.cls)
			if o.cls == provider.ClassRateLimited {
				o.retry = f.RetryAfter.D()
			}
		default:
			o.cls, o.kind, o.st = provider.ClassSuccess, breaker.Success, 200
		}
		return o
	}
	return outcome{cls: provider.ClassSuccess, kind: breaker.Success, st: 200, ttfb: in.TTFB.D()}
}

// breakerKind is the breaker outcome of a class (as the processor maps it).
func breakerKind(c provider.Class) breaker.Kind {
	switch c {
	case provider.ClassSuccess:
		return breaker.Success
	case provider.ClassRateLimited:
		return breaker.RateLimited
	case provider.ClassQuotaExhausted:
		return breaker.QuotaExhausted
	case provider.ClassAuth:
		return breaker.AuthFailure
	case provider.ClassOverloaded, provider.ClassServerError, provider.ClassTimeout:
		return breaker.Failure
	}
	return breaker.Neutral
}

// walk calls visit for every attempt of the scenario's traffic, in order:
// each request tries the targets in order until one answers or fails in a
// way that does not fail over.
func (in *Scenario) walk(visit func(req, attempt int, target string, sent time.Time, o outcome)) {
	seen := map[*Fault]int{}
	n := int(in.Duration.D().Seconds() * float64(in.Rate))
	gap := time.Second / time.Duration(in.Rate)
	for i := range n {
		t := in.Start.Add(time.Duration(i) * gap)
		for j, target := range in.Targets {
			o := in.attemptOutcome(target, t, seen)
			visit(i, j+1, target, t, o)
			t = t.Add(o.ttfb)
			if !o.cls.FailsOver() {
				break
			}
		}
	}
}

// Expand is the incident as the attempt events a server without breakers
// would have recorded.
func (in *Scenario) Expand() []events.Event {
	var out []events.Event
	in.walk(func(req, attempt int, target string, sent time.Time, o outcome) {
		e := events.Event{V: events.Version, Seq: uint64(len(out) + 1), Time: sent.Add(o.ttfb), Kind: events.KindAttempt,
			RequestID: fmt.Sprintf("%s-%06d", in.Name, req), Chain: in.Chain, Model: in.Model, From: events.ParseTarget(target),
			Attempt: attempt, Reason: o.cls.String(), Outcome: o.kind.String(), Status: o.st, SentAt: sent,
			TTFBMS: o.ttfb.Milliseconds(), LatencyMS: o.ttfb.Milliseconds(), RetryAfterMS: o.retry.Milliseconds(), Planned: len(in.Targets)}
		if o.cls == provider.ClassSuccess {
			e.InputTokens, e.OutputTokens = 20, 10
		}
		out = append(out, e)
	})
	return out
}

// Schedules are the fakellm fault schedules that make each target of the
// incident behave, request by request, as in the expansion: runs of
// healthy answers and of faults, in the order the target gets its requests
// when every request tries the targets in order. fakellm counts requests,
// not time: played live behind a configuration that sends a target fewer
// requests (its breaker open), the target's faults last longer in time.
func (in *Scenario) Schedules() map[string]fakellm.Schedule {
	out := map[string]fakellm.Schedule{}
	in.walk(func(_, _ int, target string, _ time.Time, o outcome) {
		f := fakellm.Fault{Kind: fakellm.KindAnswer, Times: 1}
		switch {
		case o.fault == nil:
		case o.fault.StreamError:
			f.Kind = fakellm.KindErrorAfterStart
		case o.fault.Status != 0:
			f.Kind, f.Status = fakellm.KindStatus, o.fault.Status
			if o.retry > 0 {
				f.RetryAfter = strconv.FormatInt(int64((o.retry+time.Second-1)/time.Second), 10)
			}
		}
		if o.fault != nil && o.ttfb != in.TTFB.D() {
			f.Delay = fakellm.Duration(o.ttfb)
			if f.Kind == fakellm.KindAnswer {
				f.Kind = fakellm.KindLatency
			}
		}
		s := out[target]
		if n := len(s.Faults); n > 0 && sameFault(s.Faults[n-1], f) {
			s.Faults[n-1].Times++
		} else {
			s.Faults = append(s.Faults, f)
		}
		out[target] = s
	})
	return out
}

// sameFault reports whether a and b differ only in Times.
func sameFault(a, b fakellm.Fault) bool {
	return a.Kind == b.Kind && a.Status == b.Status && a.RetryAfter == b.RetryAfter && a.Delay == b.Delay
}

// defaultStart is a Scenario's start when it names none.
var defaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
