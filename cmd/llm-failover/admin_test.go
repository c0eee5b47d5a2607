package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/processor"
)

// adminTestToken is the admin token of these tests.
const adminTestToken = "cli-admin-token-0123456789abcdef"

// startAdminServer serves a one-chain configuration with an audit Bus and
// the admin sections in rest; it returns the admin address and a stop
// function, also called at the test's end.
func startAdminServer(t *testing.T, rest string) (addr string, stop func()) {
	t.Helper()
	cfg, err := config.Parse([]byte(`
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0", drain_timeout: 2s}
providers: [{name: p, api: openai, host: localhost, tls: false}, {name: q, api: anthropic, host: localhost, tls: false}]
chains: [{name: c, match: {models: [m]}, targets: [{provider: p, model: m}, {provider: q, model: alt}]}]
breaker: {open_for: 30s, jitter: 0}
` + rest))
	if err != nil {
		t.Fatal(err)
	}
	bus := events.NewBus(events.Options{})
	srv, err := processor.New(processor.Options{Config: cfg, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bound, done := startServer(ctx, cfg, srv, slog.New(slog.NewTextHandler(io.Discard, nil)), runOptions{})
	var l listeners
	select {
	case l = <-bound:
	case err := <-done:
		cancel()
		t.Fatalf("runServer: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("runServer did not return after cancel")
			}
			bus.Close()
			http.DefaultClient.CloseIdleConnections()
		})
	}
	t.Cleanup(stop)
	return l.admin, stop
}

// cli runs one llm-failover command line and returns its exit code and
// output.
func cli(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// TestAdminCLI_StatusTripEventsExplainReset verifies the admin commands
// against a served admin API: status lists the chain's targets in order,
// trip is refused without the token and opens the breaker with it, status,
// events and explain then show the open breaker and why, and reset closes it.
func TestAdminCLI_StatusTripEventsExplainReset(t *testing.T) {
	t.Setenv(config.DefaultAdminTokenEnv, "")
	tokenFile := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tokenFile, []byte(adminTestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong.token")
	if err := os.WriteFile(wrongFile, []byte("not-the-admin-token-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := startAdminServer(t, "admin: {token_file: "+tokenFile+"}\n")

	steps := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"status lists the targets in order", []string{"status", "--admin", addr}, 0,
			[]string{"chain c (models: m)", "1. p/m", "closed", "2. q/alt"}},
		{"trip without the token is refused", []string{"trip", "--admin", addr, "p/m"}, 1, []string{"Unauthenticated"}},
		{"trip with a wrong token is refused", []string{"trip", "--admin", addr, "--token-file", wrongFile, "p/m"}, 1, []string{"PermissionDenied"}},
		{"trip with the token opens it", []string{"trip", "--admin", addr, "--token-file", tokenFile, "--for", "1m", "--reason", "provider incident", "p/m"}, 0,
			[]string{"p/m open for 1m0s: admin trip: provider incident"}},
		{"status shows the open breaker and why", []string{"status", "--admin", addr}, 0,
			[]string{"1. p/m", "open", "cooldown 1m", "reason: admin trip: provider incident"}},
		{"events shows the transition", []string{"events", "--admin", addr, "--kind", "breaker_transition"}, 0,
			[]string{"breaker_transition p/m closed -> open", `reason="admin trip: provider incident"`}},
		{"events as JSON lines", []string{"events", "--admin", addr, "--json", "--kind", "breaker_transition"}, 0,
			[]string{`"kind":"breaker_transition"`, `"breaker_to":"open"`, `"v":1`}},
		{"explain leaves the open target out", []string{"explain", "--admin", addr, "--model", "m"}, 0,
			[]string{"chain c", "attempt 1: q/alt (closed)", "left out: p/m: open until", "(admin trip: provider incident)"}},
		{"explain of an unknown model", []string{"explain", "--admin", addr, "--model", "nope"}, 1, []string{"NotFound", "model not found"}},
		{"explain needs a model", []string{"explain", "--admin", addr}, 2, nil},
		{"reset closes it", []string{"reset", "--admin", addr, "--token-file", tokenFile, "p/m"}, 0, []string{"p/m closed"}},
		{"trip of an unknown target", []string{"trip", "--admin", addr, "--token-file", tokenFile, "p/x"}, 1, []string{"NotFound"}},
	}
	for _, s := range steps {
		code, out, errOut := cli(s.args...)
		if code != s.code {
			t.Fatalf("%s: exit %d (stdout %q, stderr %q), want %d", s.name, code, out, errOut, s.code)
		}
		for _, want := range s.contains {
			if !strings.Contains(out+errOut, want) {
				t.Errorf("%s: output %q, want it to contain %q", s.name, out+errOut, want)
			}
		}
		if strings.Contains(out+errOut, adminTestToken) {
			t.Errorf("%s: output shows the token", s.name)
		}
	}
}

// TestAdminCLI_EventsFollowStreamsNewEvents verifies events --follow prints
// a transition made after it started, and ends when the server stops.
func TestAdminCLI_EventsFollowStreamsNewEvents(t *testing.T) {
	t.Setenv(config.DefaultAdminTokenEnv, adminTestToken)
	addr, stop := startAdminServer(t, "")
	if code, out, errOut := cli("trip", "--admin", addr, "p/m"); code != 0 {
		t.Fatalf("trip: exit %d %s %s", code, out, errOut)
	}
	pr, pw := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		exited <- run([]string{"events", "--admin", addr, "--follow", "--kind", "breaker_transition"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			if lines.Scan() {
				got <- lines.Text()
			}
			close(got)
		}()
		select {
		case l := <-got:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no event line within 10s")
		}
		return ""
	}
	if l := next(); !strings.Contains(l, "closed -> open") {
		t.Fatalf("first line = %q, want the trip from the history", l)
	}
	if code, _, errOut := cli("reset", "--admin", addr, "p/m"); code != 0 {
		t.Fatalf("reset: exit %d %s", code, errOut)
	}
	if l := next(); !strings.Contains(l, "open -> closed") || !strings.Contains(l, `reason="admin reset"`) {
		t.Fatalf("followed line = %q, want the reset as it happened", l)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	stop()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("events --follow did not end when the server stopped")
	}
}

// TestAdminCLI_MTLSIdentityAuthorizesTrip verifies admin.tls with a client
// CA: the CLI reaches the admin API over mutual TLS, a client certificate
// with an allowed identity may trip a breaker, one with another identity
// may read but not trip.
func TestAdminCLI_MTLSIdentityAuthorizesTrip(t *testing.T) {
	t.Setenv(config.DefaultAdminTokenEnv, "")
	dir := t.TempDir()
	ca := newCA(t, "admin-ca")
	srvCert, srvKey, _ := ca.issue(t, true)
	opsCert, opsKey := ca.sign(t, leafTemplate("oncall"))
	otherCert, otherKey := ca.sign(t, leafTemplate("reader"))
	files := map[string][]byte{"ca.pem": ca.pem, "srv.pem": srvCert, "srv.key": srvKey, "ops.pem": opsCert, "ops.key": opsKey,
		"other.pem": otherCert, "other.key": otherKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	addr, _ := startAdminServer(t, "admin: {identities: [oncall], tls: {cert_file: "+p("srv.pem")+", key_file: "+p("srv.key")+", client_ca_file: "+p("ca.pem")+"}}\n")
	tlsArgs := func(who string) []string {
		return []string{"--admin", addr, "--ca", p("ca.pem"), "--server-name", serverName, "--cert", p(who + ".pem"), "--key", p(who + ".key")}
	}
	if code, out, errOut := cli(append([]string{"status"}, tlsArgs("other")...)...); code != 0 || !strings.Contains(out, "1. p/m") {
		t.Fatalf("status over mTLS: exit %d %q %q, want the chain", code, out, errOut)
	}
	if code, _, errOut := cli(append(append([]string{"trip"}, tlsArgs("other")...), "p/m")...); code != 1 || !strings.Contains(errOut, "Unauthenticated") {
		t.Fatalf("trip as reader: exit %d %q, want refused", code, errOut)
	}
	if code, out, errOut := cli(append(append([]string{"trip"}, tlsArgs("ops")...), "p/m")...); code != 0 || !strings.Contains(out, "p/m open") {
		t.Fatalf("trip as oncall: exit %d %q %q, want p/m open", code, out, errOut)
	}
	if code, _, _ := cli("status", "--admin", addr, "--timeout", "2s"); code != 1 {
		t.Fatalf("plain-text status against the TLS listener: exit %d, want 1", code)
	}
}
