package processor

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestTimeAttr_ZeroTimeIsLeftOut verifies a log line carries a real time
// and leaves out the zero time instead of printing 0001-01-01.
func TestTimeAttr_ZeroTimeIsLeftOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"zero", time.Time{}, `{"msg":"m"}`},
		{"set", time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC), `{"msg":"m","until":"2026-11-30T10:00:30Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return a
			}}))
			log.Info("m", timeAttr("until", tc.at))
			if got := strings.TrimSpace(b.String()); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
