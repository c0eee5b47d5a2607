package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"syscall"
	"text/template"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/e2e/envoymodel"
	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/fakellm"
	"github.com/llm-failover/llm-failover/processor"
)

// demoCmd is the demo command: everything the README's walk-through needs,
// in one process, until Ctrl-C or SIGTERM.
func demoCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	version := fs.String("envoy-version", config.EnvoyV140, "the Envoy release the front door plays: "+strings.Join(envoy.Versions(), ", "))
	level := fs.String("log-level", "warn", "the server's log level on stderr: debug, info, warn or error")
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "llm-failover demo: --log-level: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if err := runDemo(ctx, demoOptions{EnvoyVersion: *version, Log: log}, stdout); err != nil {
		fmt.Fprintf(stderr, "llm-failover demo: %v\n", err)
		return 1
	}
	return 0
}

// demoOptions are runDemo's settings.
type demoOptions struct {
	// EnvoyVersion is the Envoy release the front door plays.
	EnvoyVersion string
	// Log receives the server's log.
	Log *slog.Logger
}

// demoConfig is the demo's configuration (examples/local.yaml with the
// ports picked at run time): an OpenAI-format primary and an
// Anthropic-format secondary, both fakellm.
const demoConfig = `providers:
  - {name: primary, api: openai, host: 127.0.0.1, port: %d, tls: false}
  - {name: secondary, api: anthropic, host: 127.0.0.1, port: %d, tls: false}
chains:
  - name: local
    match: {models: [local, gpt-4o-mini]}
    targets:
      - {provider: primary, model: gpt-4o-mini}
      - {provider: secondary, model: claude-haiku-4-5}
default_chain: local
server:
  grpc_address: "%s"
  admin_address: "%s"
envoy:
  version: "%s"
  ext_proc_address: "%s"
  unavailable_port: %d
probes: {enabled: false, interval: 30s}
`

// runDemo starts two fake providers, the server and the Envoy model front
// door on free loopback ports, prints the URLs and the commands to try on
// stdout, and stops everything, in reverse order, when ctx is done.
func runDemo(ctx context.Context, o demoOptions, stdout io.Writer) (err error) {
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	var fakes [2]*fakellm.Running
	for i, name := range []string{"primary", "secondary"} {
		if fakes[i], err = fakellm.Start(fakellm.Options{Name: name}); err != nil {
			return err
		}
		closers = append(closers, func() { _ = fakes[i].Close() })
	}
	// The server binds its addresses itself: these are free now.
	grpcAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	adminAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	unavailable, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	closers = append(closers, func() { _ = unavailable.Close() })
	yml := fmt.Sprintf(demoConfig, port(fakes[0].Addr), port(fakes[1].Addr), grpcAddr, adminAddr, o.EnvoyVersion,
		grpcAddr, unavailable.Addr().(*net.TCPAddr).Port)
	cfg, err := config.Parse([]byte(yml))
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	srv, err := processor.New(processor.Options{Config: cfg, Logger: o.Log})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	bound := make(chan listeners, 1)
	served := make(chan error, 1)
	go func() { served <- runServer(sctx, cfg, srv, o.Log, runOptions{bound: bound}) }()
	closers = append(closers, func() { cancel(); <-served })
	var l listeners
	select {
	case l = <-bound:
	case err := <-served:
		served <- err // for the closer
		return fmt.Errorf("server: %w", err)
	}
	envoyYAML, err := envoy.Generate(cfg, envoy.Options{SourceName: "llm-failover demo"})
	if err != nil {
		return err
	}
	m, err := envoymodel.New(envoyYAML, envoymodel.Options{Listen: "127.0.0.1:0", Version: o.EnvoyVersion,
		Listeners: map[string]net.Listener{envoy.UnavailableListener: unavailable}})
	if err != nil {
		return fmt.Errorf("front door: %w", err)
	}
	closers = append(closers, func() { _ = m.Close() })
	if err := demoBanner.Execute(stdout, map[string]string{
		"Front": m.URL(), "Admin": "http://" + l.admin, "GRPC": l.grpc, "AdminAddr": l.admin,
		"Primary": fakes[0].URL, "Secondary": fakes[1].URL, "Version": o.EnvoyVersion,
	}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		served <- err
		return fmt.Errorf("server stopped: %w", err)
	}
	fmt.Fprintln(stdout, "\nstopping: front door, server, fake providers")
	return nil
}

// demoBanner is what the demo prints once everything listens.
var demoBanner = template.Must(template.New("demo").Parse(`llm-failover demo: everything runs on loopback; Ctrl-C stops it.

  front door (the Envoy {{.Version}} model)    {{.Front}}
  dashboard                            {{.Admin}}/
  ext_proc gRPC                        {{.GRPC}}
  primary   (fake, OpenAI format)      {{.Primary}}
  secondary (fake, Anthropic format)   {{.Secondary}}

Ask for a chat completion (model "local"):
  curl -s {{.Front}}/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"local","messages":[{"role":"user","content":"hi"}]}'

Fail the primary (every request answers 503), then ask again: the answer
comes from the secondary, and the x-llm-failover-trace header shows why:
  curl -s -X POST {{.Primary}}/_fake/faults -d '{"faults":[{"status":503,"times":-1}]}'
  curl -si {{.Front}}/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"local","messages":[{"role":"user","content":"hi"}]}'

Watch the primary's breaker open on the dashboard ({{.Admin}}/), or:
  llm-failover status --admin {{.AdminAddr}}
  llm-failover events --follow --admin {{.AdminAddr}}
  llm-failover explain --model local --admin {{.AdminAddr}}

Clear the fault; the breaker lets the primary back in after its cooldown:
  curl -s -X DELETE {{.Primary}}/_fake/faults

JSON output and tool calls work too (fakellm answers them):
  curl -s {{.Front}}/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model":"local","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]}'
`))

// freeLoopbackAddr is a loopback address with a port free now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// port is the port of a host:port address.
func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}
