package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHashKey verifies that hash-key prints sha256:<hex> of the key on
// stdin without its line ending, and refuses arguments, empty input and a
// key with white space around it (no client can present one).
func TestHashKey(t *testing.T) {
	const abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		out   string
	}{
		{"plain", nil, "abc", 0, abc},
		{"line ending dropped", nil, "abc\n", 0, abc},
		{"crlf dropped", nil, "abc\r\n", 0, abc},
		{"empty", nil, "\n", 1, ""},
		{"two lines", nil, "abc\ndef\n", 1, ""},
		{"too long", nil, strings.Repeat("k", maxKeyBytes+1), 1, ""},
		{"key as argument refused", []string{"abc"}, "", 2, ""},
		{"trailing space refused", nil, "abc \n", 1, ""},
		{"leading tab refused", nil, "\tabc", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := hashKey(tt.args, strings.NewReader(tt.stdin), &out, &errb)
			if code != tt.code || out.String() != tt.out {
				t.Errorf("hash-key = %d %q (stderr %q), want %d %q", code, out.String(), errb.String(), tt.code, tt.out)
			}
		})
	}
}
