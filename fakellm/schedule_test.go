package fakellm_test

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/llm-failover/llm-failover/fakellm"
)

// statuses sends n OpenAI requests and returns their statuses.
func (e *env) statuses(n int) []int {
	e.t.Helper()
	var out []int
	for range n {
		resp, _ := e.post(oaPath, `{"model":"m"}`)
		out = append(out, resp.StatusCode)
	}
	return out
}

// TestSchedule_TimesInOrder verifies that listed faults apply in order,
// each to "times" requests, and then requests succeed; over HTTP.
func TestSchedule_TimesInOrder(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	resp, err := e.do(http.MethodPost, "/_fake/faults", `{"faults":[{"status":429,"times":2},{"status":503}]}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /_fake/faults: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if got, want := e.statuses(5), []int{429, 429, 503, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if got := e.rs.Requests()[0].FaultSource; got != "schedule" {
		t.Errorf("fault source = %q, want schedule", got)
	}
}

// TestSchedule_HeaderDoesNotConsume verifies that a header fault leaves the
// schedule untouched, and that DELETE clears the schedule.
func TestSchedule_HeaderDoesNotConsume(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	if err := e.rs.SetFaults(fakellm.Schedule{Faults: []fakellm.Fault{{Status: 500, Times: -1}}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.post(oaPath, `{}`, "x-fake-fault", "429"); resp.StatusCode != 429 {
		t.Errorf("header fault status = %d, want 429", resp.StatusCode)
	}
	if got, want := e.statuses(3), []int{500, 500, 500}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v (times -1 is forever)", got, want)
	}
	resp, err := e.do(http.MethodDelete, "/_fake/faults", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got, want := e.statuses(1), []int{200}; !slices.Equal(got, want) {
		t.Errorf("after DELETE statuses = %v, want %v", got, want)
	}
}

// TestSchedule_ProbabilityIsSeeded verifies that a probability schedule
// faults roughly that share of requests, the same ones for the same seed.
func TestSchedule_ProbabilityIsSeeded(t *testing.T) {
	const n = 200
	run := func(seed uint64) []int {
		e := newEnv(t, fakellm.Options{})
		if err := e.rs.SetFaults(fakellm.Schedule{Probability: 0.3, Seed: seed, Fault: &fakellm.Fault{Status: 503}}); err != nil {
			t.Fatal(err)
		}
		return e.statuses(n)
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 twice gave different faults:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 gave the same faults")
	}
	failed := 0
	for _, s := range a {
		if s == 503 {
			failed++
		}
	}
	if failed < n*2/10 || failed > n*4/10 {
		t.Errorf("%d of %d failed, want about 30%%", failed, n)
	}
}

// TestSchedule_Parse verifies the accepted POST /_fake/faults bodies and
// that bad ones report every problem.
func TestSchedule_Parse(t *testing.T) {
	tests := []struct {
		name, body string
		wantN      int    // listed faults
		wantErr    string // substring; "" for none
	}{
		{"object", `{"faults":[{"status":429},{"kind":"reset","times":3}]}`, 2, ""},
		{"list", `[{"kind":"stall","delay":"2s"}]`, 1, ""},
		{"single fault", `{"status":429,"retry_after":"2","times":1}`, 1, ""},
		{"probability", `{"probability":0.5,"seed":1,"fault":{"kind":"cut","after_events":2}}`, 0, ""},
		{"probability without fault", `{"probability":0.5}`, 0, "fault: required"},
		{"bad probability", `{"probability":2,"fault":{"status":503}}`, 0, "probability"},
		{"bad kind", `[{"kind":"explode"}]`, 0, "unknown kind"},
		{"two problems", `[{"status":700},{"kind":"latency","delay":"-1s"}]`, 0, "faults[1]"},
		{"unknown field", `{"staus":429}`, 0, "unknown field"},
		{"bad delay", `[{"kind":"stall","delay":"soon"}]`, 0, "delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := fakellm.ParseSchedule([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil || len(s.Faults) != tt.wantN {
					t.Errorf("got %d faults, %v; want %d, nil", len(s.Faults), err, tt.wantN)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, fakellm.ErrBadFault) {
				t.Errorf("error = %v, want ErrBadFault containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestSchedule_AdminState verifies GET /_fake/faults shows what is left,
// and bad schedules answer 400.
func TestSchedule_AdminState(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	resp, _ := e.post("/_fake/faults", `[{"status":429,"times":2}]`)
	resp.Body.Close()
	e.statuses(1)
	r, err := e.do(http.MethodGet, "/_fake/faults", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := gjson.GetBytes(b, "pending.0.times").Int(); got != 1 {
		t.Errorf("pending times = %d, want 1: %s", got, b)
	}
	if resp, b := e.post("/_fake/faults", `{"status":42}`); resp.StatusCode != 400 {
		t.Errorf("bad schedule status = %d, want 400: %s", resp.StatusCode, b)
	}
	if got := e.rs.Count(); got != 1 {
		t.Errorf("Count = %d, want 1 (admin requests are not counted)", got)
	}
}
