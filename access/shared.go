package access

import "time"

// This file shares the clients' windows across replicas (package fleet,
// fleet.client_limits: shared). Admit counts locally and adds what the
// other replicas counted in the same window as of the last sync, so Redis
// is never on a request's path; the sync adds this replica's new counts to
// the fleet's total and reads it back. Windows are a fixed grid from the
// Unix epoch, the same on every replica.

// Window kinds in a WindowCount.
const (
	KindRate   = "rate"
	KindTokens = "tokens"
)

// WindowCount is one client window, as the fleet sync takes it.
type WindowCount struct {
	// Client is the client's name (Unknown for the default policy).
	Client string
	// Kind is KindRate or KindTokens.
	Kind string
	// Start and Length place the window on the grid.
	Start  time.Time
	Length time.Duration
	// Local is this replica's count in the window; Delta the part of it
	// not yet added to the fleet's total.
	Local, Delta int64
}

// Windows returns the current window of every client with a limit that
// this replica has counted, at now, with what it has not shared yet.
func (l *Limiter) Windows(now time.Time) []WindowCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.policy == nil {
		return nil
	}
	var out []WindowCount
	for name, u := range l.entries {
		c := l.policy.named(name)
		if c == nil {
			continue
		}
		if r := c.rate; r != nil {
			u.rate.roll(r.Window.D(), now)
			out = append(out, WindowCount{Client: name, Kind: KindRate, Start: u.rate.start, Length: r.Window.D(), Local: u.rate.n, Delta: u.rate.n - u.rate.sent})
		}
		if t := c.tokens; t != nil {
			u.tokens.roll(t.Window.D(), now)
			out = append(out, WindowCount{Client: name, Kind: KindTokens, Start: u.tokens.start, Length: t.Window.D(), Local: u.tokens.n, Delta: u.tokens.n - u.tokens.sent})
		}
	}
	return out
}

// Shared records that w's Local count is now part of the fleet's total,
// which is total: the other replicas counted total - w.Local. A window
// that has since ended is left alone.
func (l *Limiter) Shared(w WindowCount, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.entries[w.Client]
	if u == nil {
		return
	}
	win := &u.rate
	if w.Kind == KindTokens {
		win = &u.tokens
	}
	if !win.start.Equal(w.Start) {
		return
	}
	win.sent = max(win.sent, w.Local)
	win.remote = max(total-w.Local, 0)
}

// Remote returns what the other replicas counted in client's current
// window of kind at now, as of the last sync (for the status page and
// tests).
func (l *Limiter) Remote(client, kind string, now time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.entries[client]
	if u == nil || l.policy == nil {
		return 0
	}
	win := &u.rate
	if kind == KindTokens {
		win = &u.tokens
	}
	c := l.policy.named(client)
	if c == nil {
		return 0
	}
	length := c.rate
	if kind == KindTokens {
		length = c.tokens
	}
	if length == nil {
		return 0
	}
	win.roll(length.Window.D(), now)
	return win.remote
}
