package config_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// TestDuration_UnmarshalJSON verifies a duration is read from a Go duration
// string or a number of seconds, and anything else is an error.
func TestDuration_UnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"string seconds", `"30s"`, 30 * time.Second, false},
		{"string composite", `"1m30s"`, 90 * time.Second, false},
		{"string milliseconds", `"250ms"`, 250 * time.Millisecond, false},
		{"whole seconds as a number", `30`, 30 * time.Second, false},
		{"fractional seconds as a number", `0.5`, 500 * time.Millisecond, false},
		{"zero", `0`, 0, false},
		{"string without unit", `"30"`, 0, true},
		{"unknown unit", `"30x"`, 0, true},
		{"bool", `true`, 0, true},
		{"object", `{}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d config.Duration
			err := json.Unmarshal([]byte(tt.in), &d)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && d.D() != tt.want {
				t.Errorf("Unmarshal(%s): got %v, want %v", tt.in, d.D(), tt.want)
			}
		})
	}
}

// TestDuration_RoundTrips verifies String and MarshalJSON give back the same
// duration when read again.
func TestDuration_RoundTrips(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, 30 * time.Second, 90 * time.Second, 5 * time.Minute, time.Hour + time.Nanosecond} {
		t.Run(d.String(), func(t *testing.T) {
			in := config.Duration(d)
			if got, want := in.String(), d.String(); got != want {
				t.Errorf("String(): got %q, want %q", got, want)
			}
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatalf("Marshal error = %v, want nil", err)
			}
			var out config.Duration
			if err := json.Unmarshal(b, &out); err != nil || out != in {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v, nil", b, out, err, in)
			}
		})
	}
}

// TestParseByteSize verifies sizes with binary (KiB, MiB, GiB) and decimal
// (KB, MB, GB) units, plain numbers, and that bad input is rejected.
func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    config.ByteSize
		wantErr bool
	}{
		{"4MiB", 4 << 20, false},
		{"512KiB", 512 << 10, false},
		{"1GiB", 1 << 30, false},
		{"100KB", 100_000, false},
		{"2MB", 2_000_000, false},
		{"3GB", 3_000_000_000, false},
		{"1024", 1024, false},
		{"1024B", 1024, false},
		{" 4 MiB ", 4 << 20, false},
		{"0", 0, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"4XB", 0, true},
		{"4mib", 0, true},
		{"4TiB", 0, true},
		{"1.5MiB", 0, true},
		{"-1", 0, true},
		{"-1KiB", 0, true},
		{"9223372036854775807GiB", 0, true},
		{"4294967296GiB", 1 << 62, false},
		{"4294967297GiB", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.ParseByteSize(tt.in)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("ParseByteSize(%q) = %v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseByteSize(%q): got %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// TestByteSize_UnmarshalJSON verifies a size is read from a JSON number or a
// string with a unit, and anything else is an error.
func TestByteSize_UnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    config.ByteSize
		wantErr bool
	}{
		{"number", `1024`, 1024, false},
		{"string with unit", `"4MiB"`, 4 << 20, false},
		{"string number", `"2048"`, 2048, false},
		{"fractional number", `1.5`, 0, true},
		{"bad unit", `"4XB"`, 0, true},
		{"bool", `true`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b config.ByteSize
			err := json.Unmarshal([]byte(tt.in), &b)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if b != tt.want {
				t.Errorf("Unmarshal(%s): got %d, want %d", tt.in, b, tt.want)
			}
		})
	}
}

// TestByteSize_StringRoundTrips verifies String picks the largest binary unit
// that divides the size, and that String and MarshalJSON read back unchanged.
func TestByteSize_StringRoundTrips(t *testing.T) {
	tests := []struct {
		in   config.ByteSize
		want string
	}{
		{0, "0"},
		{1000, "1000"},
		{1 << 10, "1KiB"},
		{1536, "1536"},
		{64 << 10, "64KiB"},
		{4 << 20, "4MiB"},
		{1536 << 10, "1536KiB"},
		{1 << 30, "1GiB"},
		{100_000, "100000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String(): got %q, want %q", got, tt.want)
			}
			back, err := config.ParseByteSize(tt.in.String())
			if err != nil || back != tt.in {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d, nil", tt.in.String(), back, err, tt.in)
			}
			b, err := json.Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal error = %v, want nil", err)
			}
			var out config.ByteSize
			if err := json.Unmarshal(b, &out); err != nil || out != tt.in {
				t.Errorf("Unmarshal(%s) = %d, %v; want %d, nil", b, out, err, tt.in)
			}
		})
	}
}

// TestTarget_Key verifies a target's breaker key is "provider/model".
func TestTarget_Key(t *testing.T) {
	tg := config.Target{Provider: "openai", Model: "gpt-4o"}
	if got, want := tg.Key(), "openai/gpt-4o"; got != want {
		t.Errorf("Key(): got %q, want %q", got, want)
	}
}
