package breaker

import "time"

// ewma is an exponentially weighted moving average of latencies; see Latency
// for why the breaker uses an EWMA rather than a percentile.
type ewma struct {
	alpha float64
	value float64 // nanoseconds
	n     int     // samples since the last reset
}

// add takes one sample; the first sample after a reset is taken as is.
func (e *ewma) add(d time.Duration) {
	if e.n == 0 {
		e.value = float64(d)
	} else {
		e.value += e.alpha * (float64(d) - e.value)
	}
	e.n++
}

func (e *ewma) reset() { e.value, e.n = 0, 0 }

func (e *ewma) get() time.Duration { return time.Duration(e.value) }
