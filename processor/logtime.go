package processor

import (
	"log/slog"
	"time"
)

// timeAttr is key=t for a log line, or nothing when t is the zero time
// ("no time": a breaker that closed has no cooldown end), so logs never
// show "0001-01-01T00:00:00Z".
func timeAttr(key string, t time.Time) slog.Attr {
	if t.IsZero() {
		return slog.Attr{}
	}
	return slog.Time(key, t)
}
