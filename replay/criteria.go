package replay

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A Criterion is one --fail-if condition on the candidate's figures, e.g.
// "answered<99.9%", "p95_added_ttfb>2s", "flaps>baseline+2",
// "failed>baseline". The replay fails when any criterion holds.
//
// Grammar: METRIC OP VALUE, spaces allowed around OP. OP is one of < <= >
// >= == !=. VALUE is a number with the metric's unit (a percentage with %
// for a share, a Go duration for a time, a plain integer for a count), or
// "baseline", or "baseline+X" / "baseline-X" with X in that unit: the same
// metric of the baseline plus or minus X.
type Criterion struct {
	Metric Metric
	Op     string
	// Value is the threshold in the metric's unit (a share in [0, 1], a
	// time in milliseconds, a count); with Baseline it is the offset added
	// to the baseline's figure.
	Value    float64
	Baseline bool
	text     string
}

// Metric names a figure of a Run.
type Metric string

// The metrics a criterion may name, and their units.
var metrics = map[Metric]unit{
	"answered":        share,
	"failed":          share,
	"returned":        share,
	"answered_count":  count,
	"failed_count":    count,
	"failed_attempts": count,
	"attempts":        count,
	"flaps":           count,
	"p50_added_ttfb":  duration,
	"p95_added_ttfb":  duration,
	"p99_added_ttfb":  duration,
	"max_added_ttfb":  duration,
	"left_after":      duration,
	"back_after":      duration,
	"output_tokens":   count,
	"input_tokens":    count,
}

type unit uint8

const (
	share unit = iota
	duration
	count
)

// MaxCriterionLen bounds a criterion's text.
const MaxCriterionLen = 200

// ErrCriterion is wrapped by every ParseCriterion error.
var ErrCriterion = errors.New("bad --fail-if criterion")

// ParseCriterion parses one criterion (see Criterion), strictly: an
// unknown metric, a value in another unit, a negative or non-finite
// number, or anything left over is an error naming what is wrong.
func ParseCriterion(s string) (Criterion, error) {
	bad := func(format string, a ...any) (Criterion, error) {
		return Criterion{}, fmt.Errorf("%w %q: %s", ErrCriterion, s, fmt.Sprintf(format, a...))
	}
	if len(s) > MaxCriterionLen {
		return bad("longer than %d bytes", MaxCriterionLen)
	}
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return bad("no comparison (want METRIC OP VALUE, OP one of < <= > >= == !=)")
	}
	name := Metric(strings.TrimSpace(s[:i]))
	u, ok := metrics[name]
	if !ok {
		return bad("unknown metric %q (known: %s)", name, metricNames())
	}
	rest := s[i:]
	op := ""
	for _, o := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return bad("unknown comparison %q", rest[:1])
	}
	val := strings.TrimSpace(rest[len(op):])
	c := Criterion{Metric: name, Op: op}
	if b, ok := strings.CutPrefix(val, "baseline"); ok {
		c.Baseline = true
		switch {
		case b == "":
			val = ""
		case b[0] == '+' || b[0] == '-':
			val = b
		default:
			return bad("after baseline, want +X or -X, got %q", b)
		}
	}
	if val == "" && !c.Baseline {
		return bad("no value")
	}
	if val != "" {
		neg := false
		if c.Baseline {
			neg, val = val[0] == '-', val[1:]
		}
		v, err := parseValue(val, u)
		if err != nil {
			return bad("%v", err)
		}
		if neg {
			v = -v
		}
		c.Value = v
	}
	c.text = s
	return c, nil
}

// parseValue parses a non-negative value in unit u.
func parseValue(s string, u unit) (float64, error) {
	var v float64
	switch u {
	case share:
		num, ok := strings.CutSuffix(s, "%")
		if !ok {
			return 0, fmt.Errorf("%q: a share is a percentage, e.g. 99.9%%", s)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f > 100 || f < 0 {
			return 0, fmt.Errorf("%q: want a percentage from 0%% to 100%%", s)
		}
		v = f / 100
	case duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q: a time is a duration, e.g. 500ms or 2s", s)
		}
		v = float64(d) / float64(time.Millisecond)
	case count:
		n, err := strconv.ParseUint(s, 10, 63)
		if err != nil {
			return 0, fmt.Errorf("%q: a count is a whole number", s)
		}
		v = float64(n)
	}
	if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q: want a finite value of at least 0", s)
	}
	return v, nil
}

func metricNames() string {
	names := make([]string, 0, len(metrics))
	for m := range metrics {
		names = append(names, string(m))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// String is the criterion as it was written.
func (c Criterion) String() string { return c.text }

// Violation is a criterion that held, with the figures compared.
type Violation struct {
	Criterion string  `json:"criterion"`
	Metric    Metric  `json:"metric"`
	Got       float64 `json:"got"`
	Limit     float64 `json:"limit"`
}

// Check evaluates the criterion on the candidate (against the baseline
// for a baseline value). ok is false when the metric has no value (e.g.
// back_after without an incident that ended): such a criterion never holds.
func (c Criterion) Check(baseline, candidate *Run) (v Violation, holds bool) {
	got, ok := c.Metric.of(candidate)
	if !ok {
		return Violation{}, false
	}
	limit := c.Value
	if c.Baseline {
		b, ok := c.Metric.of(baseline)
		if !ok {
			return Violation{}, false
		}
		limit += b
	}
	var h bool
	switch c.Op {
	case "<":
		h = got < limit
	case "<=":
		h = got <= limit
	case ">":
		h = got > limit
	case ">=":
		h = got >= limit
	case "==":
		h = got == limit
	case "!=":
		h = got != limit
	}
	return Violation{Criterion: c.text, Metric: c.Metric, Got: got, Limit: limit}, h
}

// of is the metric's value in r, in its unit.
func (m Metric) of(r *Run) (float64, bool) {
	shareOf := func(n int) float64 {
		if r.Requests == 0 {
			return 0
		}
		return float64(n) / float64(r.Requests)
	}
	failed := 0
	for _, n := range r.Failed {
		failed += n
	}
	switch m {
	case "answered":
		return r.AnsweredShare(), true
	case "failed":
		return shareOf(failed), true
	case "returned":
		return shareOf(r.Returned), true
	case "answered_count":
		return float64(r.Answered), true
	case "failed_count":
		return float64(failed), true
	case "failed_attempts":
		return float64(r.FailedAttempts), true
	case "attempts":
		return float64(r.Attempts), true
	case "flaps":
		return float64(r.Flaps), true
	case "p50_added_ttfb":
		return float64(r.AddedTTFB.P50), true
	case "p95_added_ttfb":
		return float64(r.AddedTTFB.P95), true
	case "p99_added_ttfb":
		return float64(r.AddedTTFB.P99), true
	case "max_added_ttfb":
		return float64(r.AddedTTFB.Max), true
	case "left_after":
		v := r.MeanLeftAfterMS()
		return float64(v), v >= 0
	case "back_after":
		v := r.MeanBackAfterMS()
		return float64(v), v >= 0
	case "input_tokens":
		return float64(r.InputTokens), true
	case "output_tokens":
		return float64(r.OutputTokens), true
	}
	return 0, false
}

// Format is a value of the metric in its unit, for a message.
func (m Metric) Format(v float64) string {
	switch metrics[m] {
	case share:
		return strconv.FormatFloat(100*v, 'f', -1, 64) + "%"
	case duration:
		return ms(int64(v))
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// String says what held: "answered<99.9%: the candidate has 99.2% (limit 99.9%)".
func (v Violation) String() string {
	return fmt.Sprintf("%s: the candidate has %s (limit %s)", v.Criterion, v.Metric.Format(v.Got), v.Metric.Format(v.Limit))
}

// Gate checks every criterion on the report, records those that hold in
// r.Violations and returns them.
func (r *Report) Gate(cs []Criterion) []Violation {
	r.Violations = nil
	for _, c := range cs {
		if v, holds := c.Check(r.Baseline, r.Candidate); holds {
			r.Violations = append(r.Violations, v)
		}
	}
	return r.Violations
}
