// Command fakellm serves a fake LLM provider (package fakellm): OpenAI,
// Anthropic and Gemini APIs on one port, with faults on demand and the
// admin endpoints under /_fake/.
//
//	fakellm -listen :8080 -name openai [-no-header-faults] [-max-recorded 1000] [-v]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llm-failover/llm-failover/fakellm"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "fakellm:", err)
	}
	os.Exit(exitCode(err))
}

// exitCode is 0 for a clean stop and for -h (help asked for is not an
// error, as in llm-failover), 2 otherwise.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// run serves until ctx ends. ready, when not nil, gets the listen address
// once the port is open.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("fakellm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8080", "address to listen on; the admin API is on the same port under /_fake/")
	name := fs.String("name", "fakellm", "provider name used in answers and in the x-fake-fault-<name> header")
	noHeaderFaults := fs.Bool("no-header-faults", false, "ignore the x-fake-fault headers; only /_fake/faults applies faults")
	maxRecorded := fs.Int("max-recorded", 1000, "requests kept for GET /_fake/requests (negative: none)")
	verbose := fs.Bool("v", false, "log every request (credentials masked)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	s := fakellm.New(fakellm.Options{
		Name: *name, NoHeaderFaults: *noHeaderFaults, MaxRecorded: *maxRecorded, Logger: logger,
	})
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("fakellm listening", "addr", ln.Addr().String(), "name", *name, "header_faults", !*noHeaderFaults)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close() // end stalls so Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	return err
}
