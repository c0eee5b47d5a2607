package config

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrInvalid marks every validation problem.
var ErrInvalid = errors.New("invalid config")

// FieldError is one validation problem at a field path and, for a
// configuration read from a file, its line and column (1-based; 0: unknown).
type FieldError struct {
	Path         string
	Reason       string
	Line, Column int
}

// Error is "LINE:COL: PATH: REASON", without the parts that are unknown.
func (e *FieldError) Error() string {
	s := e.Reason
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	switch {
	case e.Line > 0 && e.Column > 0:
		s = fmt.Sprintf("%d:%d: %s", e.Line, e.Column, s)
	case e.Line > 0:
		s = fmt.Sprintf("%d: %s", e.Line, s)
	}
	return s
}

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// problems collects the FieldErrors of one Validate call; each section's
// validate function adds its own.
type problems struct{ errs []error }

// bad records a problem at path.
func (p *problems) bad(path, format string, a ...any) {
	p.errs = append(p.errs, &FieldError{Path: path, Reason: fmt.Sprintf(format, a...)})
}

// durIn records a problem unless lo <= d <= hi.
func (p *problems) durIn(path string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		p.bad(path, "%s is outside %s..%s", d, lo, hi)
	}
}

// intIn records a problem unless lo <= v <= hi.
func (p *problems) intIn(path string, v, lo, hi int) {
	if v < lo || v > hi {
		p.bad(path, "%d is outside %d..%d", v, lo, hi)
	}
}

// uniqueName records a problem at path unless name matches nameRE and is not
// yet in seen; it adds name to seen.
func (p *problems) uniqueName(path, name string, seen map[string]bool) {
	if !nameRE.MatchString(name) {
		p.bad(path, "%q must match %s", name, nameRE)
	} else if seen[name] {
		p.bad(path, "%q is used twice", name)
	}
	seen[name] = true
}

// joined splits an errors.Join result into its errors (nil: none).
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// nameRE is the form of provider and chain names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,59}$`)
