package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun_ServesAndStops verifies that the flags reach the server (name in
// the answer, header faults off) and that run returns when ctx ends.
func TestRun_ServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"-listen", "127.0.0.1:0", "-name", "demo", "-no-header-faults"}, io.Discard,
			func(a string) { addrc <- a })
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server did not start")
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/messages", strings.NewReader(`{"model":"m"}`))
	req.Header.Set("x-fake-fault", "503")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Hello from demo (m).") {
		t.Errorf("got %d %s; want 200 from demo with the header fault ignored", resp.StatusCode, b)
	}
	tr.CloseIdleConnections()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
}

// TestRun_BadFlags verifies that unknown flags and arguments are errors.
func TestRun_BadFlags(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}} {
		if err := run(context.Background(), args, io.Discard, nil); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

// TestHelpExitsZero verifies -h prints the flags and exits 0.
func TestHelpExitsZero(t *testing.T) {
	var errb strings.Builder
	err := run(context.Background(), []string{"-h"}, &errb, nil)
	if got := exitCode(err); got != 0 || !strings.Contains(errb.String(), "-listen") {
		t.Errorf("exit %d, output %q; want 0 and the flags", got, errb.String())
	}
	if got := exitCode(run(context.Background(), []string{"--nope"}, io.Discard, nil)); got != 2 {
		t.Errorf("bad flag: exit %d, want 2", got)
	}
}
