package budget

import (
	"time"

	"github.com/llm-failover/llm-failover/config"
)

// WindowStart is the start of the calendar window w (in UTC) that holds now:
// the hour, the day from 00:00, the month from the 1st.
func WindowStart(w config.BudgetWindow, now time.Time) time.Time {
	now = now.UTC()
	switch w {
	case config.WindowHour:
		return now.Truncate(time.Hour)
	case config.WindowMonth:
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// WindowEnd is the end of the window w that starts at start (the next one's start).
func WindowEnd(w config.BudgetWindow, start time.Time) time.Time {
	switch w {
	case config.WindowHour:
		return start.Add(time.Hour)
	case config.WindowMonth:
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}
