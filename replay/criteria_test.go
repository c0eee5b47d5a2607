package replay

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestParseCriterion_AcceptsEachForm verifies the criterion grammar: each
// unit, each comparison, spaces, and baseline offsets.
func TestParseCriterion_AcceptsEachForm(t *testing.T) {
	for _, tc := range []struct {
		in       string
		metric   Metric
		op       string
		value    float64
		baseline bool
	}{
		{"answered<99.9%", "answered", "<", 0.999, false},
		{"answered < 100%", "answered", "<", 1, false},
		{"p95_added_ttfb>2s", "p95_added_ttfb", ">", 2000, false},
		{"p99_added_ttfb >= 1500ms", "p99_added_ttfb", ">=", 1500, false},
		{"flaps>baseline+2", "flaps", ">", 2, true},
		{"failed>baseline", "failed", ">", 0, true},
		{"answered<baseline-0.5%", "answered", "<", -0.005, true},
		{"failed_attempts<=0", "failed_attempts", "<=", 0, false},
		{"left_after!=30s", "left_after", "!=", 30000, false},
		{"back_after==1m", "back_after", "==", 60000, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseCriterion(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if c.Metric != tc.metric || c.Op != tc.op || math.Abs(c.Value-tc.value) > 1e-12 || c.Baseline != tc.baseline || c.String() != tc.in {
				t.Errorf("ParseCriterion(%q) = %+v, want %s %s %v baseline=%v", tc.in, c, tc.metric, tc.op, tc.value, tc.baseline)
			}
		})
	}
}

// TestParseCriterion_RefusesWhatItCannotRead verifies that a typo, a value
// in another unit, a negative or out-of-range value, or junk is an error
// naming the problem, never a criterion that silently never holds.
func TestParseCriterion_RefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"answerd<99%", "unknown metric"},
		{"answered 99%", "no comparison"},
		{"answered<99", "percentage"},
		{"answered<101%", "0% to 100%"},
		{"answered<-1%", "0% to 100%"},
		{"p95_added_ttfb>2", "duration"},
		{"flaps>2.5", "whole number"},
		{"flaps>-1", "whole number"},
		{"flaps=>2", "unknown comparison"},
		{"flaps>", "no value"},
		{"flaps>baselinex", "after baseline"},
		{"flaps>2 and more", "whole number"},
		{"answered<NaN%", "finite"},
		{strings.Repeat("a", MaxCriterionLen+1), "longer than"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseCriterion(tc.in)
			if !errors.Is(err, ErrCriterion) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseCriterion(%q) = %v, want ErrCriterion containing %q", tc.in, err, tc.want)
			}
		})
	}
}

// TestCriterion_CheckComparesTheCandidate verifies Check on fixed runs:
// absolute limits, baseline offsets, and a metric without a value never
// holding.
func TestCriterion_CheckComparesTheCandidate(t *testing.T) {
	base := &Run{Requests: 1000, Answered: 999, Flaps: 1, AddedTTFB: Percentiles{P95: 1200}}
	cand := &Run{Requests: 1000, Answered: 990, Flaps: 4, AddedTTFB: Percentiles{P95: 2500}}
	for _, tc := range []struct {
		in    string
		holds bool
	}{
		{"answered<99.9%", true},
		{"answered<99%", false},
		{"p95_added_ttfb>2s", true},
		{"p95_added_ttfb>baseline+1300ms", false},
		{"p95_added_ttfb>baseline+1s", true},
		{"flaps>baseline+2", true},
		{"flaps>baseline+3", false},
		{"answered<baseline", true},
		{"back_after>0s", false},
	} {
		c, err := ParseCriterion(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if v, holds := c.Check(base, cand); holds != tc.holds {
			t.Errorf("%s: holds=%v (%+v), want %v", tc.in, holds, v, tc.holds)
		}
	}
}

// FuzzParseCriterion verifies that no input panics the parser and that
// what it accepts is a known metric with a finite value.
func FuzzParseCriterion(f *testing.F) {
	for _, s := range []string{"answered<99.9%", "p95_added_ttfb>2s", "flaps>baseline+2", "failed>baseline", "x", "<", "answered<baseline-", "flaps>=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCriterion(s)
		if err != nil {
			return
		}
		if _, ok := metrics[c.Metric]; !ok || c.Value != c.Value || c.String() != s {
			t.Errorf("ParseCriterion(%q) accepted %+v", s, c)
		}
		c.Check(&Run{}, &Run{})
	})
}
