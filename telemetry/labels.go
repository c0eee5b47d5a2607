package telemetry

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxValueBytes bounds one attribute value.
const maxValueBytes = 128

// OtherValue stands for a value past the bound of its attribute.
const OtherValue = "_other"

// Sanitize makes s fit for an attribute value: invalid UTF-8 and control
// characters (a tab, a newline) become '_', and it is cut at 128 bytes on a
// rune boundary. The exposition escapes what it must; this keeps every
// value printable and short.
func Sanitize(s string) string {
	clean := len(s) <= maxValueBytes
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i >= maxValueBytes {
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > maxValueBytes {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// boundedValues keeps at most max distinct values of one attribute: a value
// seen before, or one that still fits, is kept; any other is OtherValue.
type boundedValues struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newBoundedValues(max int) *boundedValues {
	return &boundedValues{max: max, seen: map[string]struct{}{}}
}

// value is s sanitized, or OtherValue past the bound.
func (b *boundedValues) value(s string) string {
	s = Sanitize(s)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[s]; ok {
		return s
	}
	if len(b.seen) >= b.max {
		return OtherValue
	}
	b.seen[s] = struct{}{}
	return s
}
