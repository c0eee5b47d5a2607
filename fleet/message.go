package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
)

// MaxMessageBytes bounds a Pub/Sub message; a longer one is refused before
// it is parsed.
const MaxMessageBytes = 4096

// maxReasonBytes bounds a transition's reason in a message.
const maxReasonBytes = 200

// message is one replica's transition of one target, as published on the
// fleet's channel: "<generation> <JSON payload>".
type message struct {
	Gen     uint64 `json:"-"`
	Target  string `json:"t"`
	Replica string `json:"r"`
	State   string `json:"s"`
	// OpenMS is the cooldown left, in milliseconds (open only).
	OpenMS int64 `json:"o,omitempty"`
	// Stage is the recovery stage entered (recovering only).
	Stage  int    `json:"st,omitempty"`
	Reason string `json:"why,omitempty"`
	Status int    `json:"c,omitempty"`
}

// payload is the message's JSON, which the publish script prefixes with the
// generation.
func (m *message) payload() string {
	b, _ := json.Marshal(m) // only strings and integers: cannot fail
	return string(b)
}

var errMessage = errors.New("fleet: malformed message")

// parseMessage reads "<generation> <JSON payload>". It refuses anything
// longer than MaxMessageBytes, a generation that is not a positive
// integer, unknown states, negative durations or stages, and a payload
// without a target or replica.
func parseMessage(s string) (message, error) {
	var m message
	if len(s) > MaxMessageBytes {
		return m, fmt.Errorf("%w: %d bytes, over %d", errMessage, len(s), MaxMessageBytes)
	}
	genText, body, ok := strings.Cut(s, " ")
	if !ok {
		return m, fmt.Errorf("%w: no generation", errMessage)
	}
	gen, err := strconv.ParseUint(genText, 10, 64)
	if err != nil || gen == 0 {
		return m, fmt.Errorf("%w: generation %q", errMessage, genText)
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return m, fmt.Errorf("%w: %v", errMessage, err)
	}
	m.Gen = gen
	if _, ok := stateOf(m.State); !ok {
		return m, fmt.Errorf("%w: state %q", errMessage, m.State)
	}
	if m.Target == "" || m.Replica == "" || m.OpenMS < 0 || m.Stage < 0 || m.Status < 0 || m.Status > 999 {
		return m, fmt.Errorf("%w: fields out of range", errMessage)
	}
	return m, nil
}

// stateOf maps a state's name (breaker.State.String) back to it.
func stateOf(name string) (breaker.State, bool) {
	for _, s := range []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen, breaker.Recovering} {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// remote is the message as breaker.Adopt takes it.
func (m *message) remote() breaker.Remote {
	st, _ := stateOf(m.State)
	return breaker.Remote{State: st, OpenFor: time.Duration(m.OpenMS) * time.Millisecond, Stage: m.Stage, Reason: m.Reason, Status: m.Status}
}
