package fakellm_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/llm-failover/llm-failover/fakellm"
)

// testTimeout bounds every request a test makes.
const testTimeout = 5 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a started server and a client that is cleaned up with the test.
type env struct {
	t  *testing.T
	rs *fakellm.Running
	c  *http.Client
}

func newEnv(t *testing.T, opts fakellm.Options) *env {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Unix(1700000000, 0) }
	}
	rs := fakellm.StartTB(t, opts)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &env{t: t, rs: rs, c: &http.Client{Transport: tr, Timeout: testTimeout}}
}

// do sends a request; header is name, value pairs.
func (e *env) do(method, path, body string, header ...string) (*http.Response, error) {
	e.t.Helper()
	return e.doWith(e.c, method, path, body, header...)
}

// doWith is do with client c.
func (e *env) doWith(c *http.Client, method, path, body string, header ...string) (*http.Response, error) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, e.rs.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.Do(req)
}

// post sends a POST and reads the whole answer; it fails the test on a
// transport error.
func (e *env) post(path, body string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	return e.postWith(e.c, path, body, header...)
}

// postWith is post with client c.
func (e *env) postWith(c *http.Client, path, body string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := e.doWith(c, http.MethodPost, path, body, header...)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp, b
}

// sseEvent is one parsed SSE event.
type sseEvent struct {
	Name string
	Data string
}

// parseSSE parses an SSE stream strictly per the WHATWG rules we rely on:
// lines end in LF or CRLF, "event:" and "data:" fields, a blank line ends
// an event. It fails the test on any other line or on an unterminated
// final event.
func parseSSE(t *testing.T, b []byte) []sseEvent {
	t.Helper()
	var evs []sseEvent
	var cur sseEvent
	var data []string
	open := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		switch {
		case line == "":
			if !open {
				t.Fatalf("SSE: blank line without an event in %q", b)
			}
			cur.Data = strings.Join(data, "\n")
			evs = append(evs, cur)
			cur, data, open = sseEvent{}, nil, false
		case strings.HasPrefix(line, "event: "):
			cur.Name, open = strings.TrimPrefix(line, "event: "), true
		case strings.HasPrefix(line, "data: "):
			data, open = append(data, strings.TrimPrefix(line, "data: ")), true
		default:
			t.Fatalf("SSE: unexpected line %q", line)
		}
	}
	if open {
		t.Fatalf("SSE: stream ends inside an event: %q", b)
	}
	return evs
}
