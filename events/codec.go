package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// This file is the wire format's one encoder and one decoder: a JSON
// object per line (docs/audit.md).

// ErrVersion is returned by Decode for an event of another schema version.
var ErrVersion = errors.New("events: unsupported schema version")

// MaxLineBytes bounds one encoded event when decoding; Publish's bounds on
// every string keep real events far below it.
const MaxLineBytes = 64 << 10

// Encode is e as one JSON line, newline included.
func Encode(e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("events: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// Decode reads one line written by Encode (the trailing newline is
// optional). It accepts unknown fields and unknown kinds (later additions
// of version 1) and refuses another version (ErrVersion), an event without
// kind, and lines over MaxLineBytes.
func Decode(line []byte) (Event, error) {
	var e Event
	if len(line) > MaxLineBytes {
		return e, fmt.Errorf("events: decode: line of %d bytes, over %d", len(line), MaxLineBytes)
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("events: decode: %w", err)
	}
	if e.V != Version {
		return Event{}, fmt.Errorf("%w: v=%d, want %d", ErrVersion, e.V, Version)
	}
	if e.Kind == "" {
		return Event{}, errors.New("events: decode: no kind")
	}
	return e, nil
}
