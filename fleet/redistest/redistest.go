// Package redistest starts a real Redis server for tests: Debian's
// redis-server (or valkey-server) on a free loopback port, and a TCP proxy
// that can hold Redis's answers back. Tests that need Redis are skipped,
// saying why, when neither binary is installed; .ci/run installs
// redis-server.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server process the test started on a free
// loopback port. Stop and Start keep the port, so clients reconnect to the
// same address.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts Debian's redis-server (or valkey-server) on a free
// loopback port, without persistence, and stops it when the test ends. The
// test is skipped, saying so, when neither binary is installed; CI
// installs redis-server (.ci/run).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if bin, err = exec.LookPath("valkey-server"); err != nil {
			t.Skip("redis-server is not installed (apt-get install redis-server): the fleet tests need a real Redis")
		}
	}
	r := &Server{t: t, bin: bin, dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		r.port = freePort(t)
		if err := r.start(); err == nil {
			break
		} else if attempt == 4 {
			t.Fatalf("redis-server did not start: %v", err)
		}
	}
	t.Cleanup(r.Stop)
	return r
}

// Addr is the server's host:port.
func (r *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

func (r *Server) start() error {
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--protected-mode", "no")
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	r.cmd.Stderr = r.cmd.Stdout
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		var log []string
		for sc.Scan() {
			log = append(log, sc.Text())
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				signalled = true
			}
		}
		_ = r.cmd.Wait()
		if !signalled {
			_ = os.WriteFile(filepath.Join(r.dir, "redis.log"), []byte(fmt.Sprint(log)), 0o600)
		}
		close(r.done)
	}()
	select {
	case <-ready:
		return nil
	case <-r.done:
		b, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
		return fmt.Errorf("exited: %s", b)
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		return fmt.Errorf("not ready after 30s")
	}
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (r *Server) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Restart starts the server again on the same port, empty.
func (r *Server) Restart() {
	r.t.Helper()
	var err error
	for i := 0; i < 50; i++ { // the port can take a moment to be free again
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("redis-server did not restart: %v", err)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StallProxy forwards TCP connections to a backend, and while stalled
// holds every byte from the backend back, as a network partition that
// keeps connections open would.
type StallProxy struct {
	l       net.Listener
	backend string
	mu      sync.Mutex
	stalled bool
	resume  chan struct{}
}

func NewStallProxy(t testing.TB, backend string) *StallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{l: l, backend: backend, resume: make(chan struct{})}
	t.Cleanup(func() { l.Close(); p.Stall(false) })
	go p.serve()
	return p
}

func (p *StallProxy) Addr() string { return p.l.Addr().String() }

// Stall starts or ends holding back the backend's bytes.
func (p *StallProxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on == p.stalled {
		return
	}
	p.stalled = on
	if !on {
		close(p.resume)
		p.resume = make(chan struct{})
	}
}

func (p *StallProxy) gate() {
	p.mu.Lock()
	stalled, resume := p.stalled, p.resume
	p.mu.Unlock()
	if stalled {
		<-resume
	}
}

func (p *StallProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var d net.Dialer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b, err := d.DialContext(ctx, "tcp", p.backend)
			cancel()
			if err != nil {
				return
			}
			defer b.Close()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			buf := make([]byte, 32<<10)
			for {
				n, err := b.Read(buf)
				if n > 0 {
					p.gate()
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}
