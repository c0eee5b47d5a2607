package breaker

import (
	"math"
	"time"
)

// windowBuckets is the number of time buckets of the error-rate window.
const windowBuckets = 10

type bucket struct {
	idx             int64 // bucket number: UnixNano / width; math.MinInt64 = empty
	total, failures int
}

// window counts outcomes over a sliding time window as a ring of time
// buckets (failsafe-go's TimedStats shape). It is a value type with no
// pointers, so copying it copies its state; it never allocates.
type window struct {
	width   int64 // nanoseconds per bucket; > 0
	last    int64 // newest bucket number written
	buckets [windowBuckets]bucket
}

func newWindow(d time.Duration) window {
	w := window{width: max(int64(d)/windowBuckets, 1)}
	w.reset()
	return w
}

func (w *window) reset() {
	w.last = math.MinInt64
	for i := range w.buckets {
		w.buckets[i] = bucket{idx: math.MinInt64}
	}
}

// current returns the bucket number of now; a clock going backwards counts
// into the newest bucket rather than erasing newer ones.
func (w *window) current(now time.Time) int64 {
	return max(now.UnixNano()/w.width, w.last)
}

// add counts one outcome at now.
func (w *window) add(now time.Time, failed bool) {
	cur := w.current(now)
	w.last = cur
	b := &w.buckets[uint64(cur)%windowBuckets]
	if b.idx != cur {
		*b = bucket{idx: cur}
	}
	b.total++
	if failed {
		b.failures++
	}
}

// counts returns the outcomes in the window ending at now.
func (w *window) counts(now time.Time) (total, failures int) {
	cur := w.current(now)
	for i := range w.buckets {
		b := &w.buckets[i]
		if b.idx != math.MinInt64 && b.idx > cur-windowBuckets && b.idx <= cur {
			total += b.total
			failures += b.failures
		}
	}
	return total, failures
}
