package fakellm

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Running is a Server listening on a loopback port.
type Running struct {
	*Server
	// URL is "http://127.0.0.1:<port>", without a trailing slash.
	URL string
	// Addr is "127.0.0.1:<port>".
	Addr string

	srv  *http.Server
	done chan struct{}
	once sync.Once
	err  error
}

// Start runs New(opts) on 127.0.0.1 at a free port until Close.
func Start(opts Options) (*Running, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakellm: listen: %w", err)
	}
	return Serve(ln, New(opts)), nil
}

// Serve runs s on ln until Close.
func Serve(ln net.Listener, s *Server) *Running {
	rs := &Running{
		Server: s,
		URL:    "http://" + ln.Addr().String(),
		Addr:   ln.Addr().String(),
		srv:    &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan struct{}),
	}
	go func() {
		defer close(rs.done)
		if err := rs.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			rs.err = err
		}
	}()
	return rs
}

// Close ends stalls, closes the listener and every connection, and waits
// for the serving goroutine to end.
func (rs *Running) Close() error {
	rs.once.Do(func() {
		rs.Server.Close()
		err := rs.srv.Close()
		<-rs.done
		rs.err = errors.Join(rs.err, err)
	})
	return rs.err
}

// StartTB is Start for tests: it fails tb when the server cannot start and
// closes it in tb.Cleanup.
func StartTB(tb testing.TB, opts Options) *Running {
	tb.Helper()
	rs, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := rs.Close(); err != nil {
			tb.Errorf("fakellm %s: close: %v", rs.Name(), err)
		}
	})
	return rs
}
