// Command llm-failover is the Envoy ext_proc server that fails LLM requests
// over between providers.
//
//	llm-failover [serve] --config FILE [--xds ADDR]
//	                                          run the server (the default command)
//	llm-failover check-config FILE            validate and print the effective config
//	llm-failover envoy-config --config FILE [--out envoy.yaml]
//	llm-failover envoy-config --check FILE    validate an envoy.yaml against Envoy's API
//	llm-failover envoy-config --fragments --config FILE
//	                                          print only the pieces to merge into an existing Envoy
//	llm-failover envoy-config --xds-bootstrap --config FILE [--xds-address ADDR]
//	                                          print the bootstrap that takes everything from serve --xds
//	llm-failover envoy-config --secret-template --config FILE
//	                                          print the SDS secret file of every key Envoy holds
//	llm-failover hash-key < KEY               print a client key's sha256:<hex> for clients.list[].api_keys
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"sigs.k8s.io/yaml"

	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/probe"
	"github.com/llm-failover/llm-failover/processor"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (!strings.HasPrefix(args[0], "-") || slices.Contains([]string{"-h", "-help", "--help", "--version"}, args[0])) {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "check-config":
		return checkConfig(args, stdout, stderr)
	case "import-config":
		return importConfig(args, stdout, stderr)
	case "envoy-config":
		return envoyConfig(args, stdout, stderr)
	case "hash-key":
		return hashKey(args, os.Stdin, stdout, stderr)
	case "istio-config":
		return istioConfig(args, stdout, stderr)
	case "status":
		return statusCmd(args, stdout, stderr)
	case "events":
		return eventsCmd(args, stdout, stderr)
	case "replay":
		return replayCmd(args, stdout, stderr)
	case "explain":
		return explainCmd(args, stdout, stderr)
	case "trip":
		return tripCmd(args, stdout, stderr)
	case "reset":
		return resetCmd(args, stdout, stderr)
	case "demo":
		return demoCmd(args, stdout, stderr)
	case "version", "--version":
		return versionCmd(args, stdout, stderr)
	case "help", "-h", "--help", "-help":
		return helpCmd(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "llm-failover: unknown command %q\n%s", cmd, usage)
	return 2
}

const usage = `usage:
  llm-failover [serve] --config FILE [--xds ADDR]
                                         run the ext_proc server (--xds: also serve
                                         the Envoy resources over ADS on ADDR)
  llm-failover check-config FILE         validate FILE and print the effective config
  llm-failover import-config FILE [--out F]
                                         convert a file in the product brief's shape
                                         (fallback: chains:) into ours, every default shown
  llm-failover envoy-config --fragments --config FILE
                                         print only the pieces to merge into an existing Envoy
  llm-failover envoy-config --xds-bootstrap --config FILE [--xds-address ADDR] [--xds-node-id ID]
                                         print the bootstrap of xDS mode (serve --xds)
  llm-failover envoy-config --config FILE [--envoy-version 1.38|1.39|1.40] [--out envoy.yaml]
                                         generate the matching Envoy bootstrap (default
                                         envoy.version of FILE, 1.40)
  llm-failover envoy-config --check FILE [--envoy-version V]
                                         validate an envoy.yaml against Envoy V's API
  llm-failover envoy-config --secret-template --config FILE
                                         print a template of the SDS secret file Envoy
                                         reads each key from (auth.held_by: envoy)
  llm-failover demo [--envoy-version V]  two fake providers, the server and a local front door on
                                         free ports, with the commands to try; Ctrl-C stops it
  llm-failover version                   the module version and commit of this binary
  llm-failover help [COMMAND]            this text, or one command's help and flags
  llm-failover hash-key < KEY            print sha256:<hex> of a client API key (clients.list[].api_keys)
  llm-failover istio-config --config FILE --istio-version 1.30|1.31 --host NAME
                                         write the Istio objects (EnvoyFilters, ServiceEntries,
                                         DestinationRules, the ext_proc Service): docs/istio.md
  llm-failover status [--admin ADDR]     chains, targets in order, breaker state and why (admin API)
  llm-failover events [--follow]         the recent audit events; --follow streams new ones
  llm-failover explain --model M         the plan a request for M would get now, and why
  llm-failover replay --config F --events A   replay recorded traffic under a candidate config (docs/replay.md)
  llm-failover trip [--for D] P/M        open a target's breaker (admin token or mTLS identity)
  llm-failover reset P/M                 close a target's breaker (admin token or mTLS identity)
`

func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (or FILE as the argument)")
	strict := fs.Bool("strict", false, "also read every secret and file the server reads at start (provider keys, plan key, admin token, TLS files)")
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		fmt.Fprint(stderr, "usage: llm-failover check-config FILE\n")
		return 2
	}
	c, err := config.Load(*path)
	if err == nil && *strict {
		err = errors.Join(strictProblems(c)...)
	} else if err == nil {
		warnSecrets(stderr, *path, c)
	}
	if err != nil {
		printProblems(stderr, *path, err)
		fmt.Fprintf(stderr, "%s: invalid configuration: %d problem(s)\n", *path, len(unjoin(err)))
		return 1
	}
	j, _ := json.Marshal(c)
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s is valid; effective configuration with defaults:\n%s", *path, y)
	return 0
}

func envoyConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("envoy-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "llm-failover configuration file")
	out := fs.String("out", "", "write the envoy.yaml here instead of standard output")
	check := fs.String("check", "", "validate this envoy.yaml instead of generating one")
	envoyVersion := fs.String("envoy-version", "", "the Envoy release to generate for or check against: "+strings.Join(envoy.Versions(), ", ")+" (default: envoy.version of --config, else 1.40)")
	secretTemplate := fs.Bool("secret-template", false, "print a template of each auth.secret_file (keys held by Envoy) instead of the envoy.yaml")
	pieces := addPieceFlags(fs)
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	generate, err := pieces.generator()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if generate == nil {
		generate = envoy.Generate
	}
	if *envoyVersion != "" && !slices.Contains(envoy.Versions(), *envoyVersion) {
		fmt.Fprintf(stderr, "llm-failover: --envoy-version %q: want one of %s\n", *envoyVersion, strings.Join(envoy.Versions(), ", "))
		return 2
	}
	if *check != "" {
		return checkEnvoy(*check, *envoyVersion, stdout, stderr)
	}
	if *path == "" {
		fmt.Fprint(stderr, "usage: llm-failover envoy-config --config FILE [--out envoy.yaml]\n")
		return 2
	}
	c, err := config.Load(*path)
	if err != nil {
		printProblems(stderr, *path, err)
		return 1
	}
	if *envoyVersion != "" {
		c.Envoy.Version = *envoyVersion // --envoy-version overrides envoy.version
	}
	if *secretTemplate {
		b, err := envoy.SecretTemplates(c)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if b == nil {
			fmt.Fprintf(stderr, "%s: no provider has auth.held_by: envoy\n", *path)
			return 1
		}
		_, _ = stdout.Write(b)
		return 0
	}
	b, err := generate(c, envoy.Options{SourceName: *path})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return writeOutput(*out, b, stdout, stderr)
}

// checkEnvoy validates the envoy.yaml at path for Envoy version (1.40 when
// empty) and says what that version's topology loses.
func checkEnvoy(path, version string, stdout, stderr io.Writer) int {
	if version == "" {
		version = config.EnvoyV140
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := envoy.CheckVersion(b, version); err != nil {
		fmt.Fprintf(stderr, "%s: invalid Envoy %s configuration:\n", path, version)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid for Envoy %s\n", path, version)
	if losses := envoy.Losses(version); len(losses) > 0 {
		fmt.Fprintf(stdout, "compared with Envoy 1.40, this topology loses (docs/compatibility.md):\n")
		for _, l := range losses {
			fmt.Fprintf(stdout, "  - %s\n", l)
		}
	}
	return 0
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (required)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	xdsAddr := fs.String("xds", "", "also serve the Envoy resources over ADS on this address (host:port or unix:/path; docs/xds.md)")
	profiles := fs.Bool("pprof", false, "serve Go's profiles under /debug/pprof/ on the admin address (loopback only; docs/performance.md)")
	if code, done := parseFlags(fs, args, stdout, stderr); done {
		return code
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "llm-failover: -log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	setMemoryLimit(log)
	if *path == "" {
		log.Error("no configuration: pass --config FILE")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		log.Error("invalid configuration", "file", *path, "error", err.Error(), "problems", problemLines(*path, err))
		return 1
	}
	tel, err := newTelemetry(cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	defer shutdownTelemetry(tel, cfg, log)
	bus, stopAudit, err := startAudit(cfg, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	defer stopAudit()
	aff := fleetAffinity(cfg)
	popts := processor.Options{Config: cfg, Logger: log, Events: bus, Telemetry: tel}
	if aff != nil {
		popts.AffinityStore = aff
	}
	budgets := fleetBudgets(cfg)
	if budgets != nil {
		popts.BudgetStore = budgets
	}
	srv, err := processor.New(popts)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	srv.AuditReload(*path, cfg, nil)
	claimer, stopFleet, err := startFleet(cfg, srv, aff, budgets, tel, log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	defer stopFleet()
	// SIGHUP is caught before any listener opens: its default action ends
	// the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var xs *xdsServing
	if *xdsAddr != "" {
		if xs, err = startXDS(*xdsAddr, cfg, nil, log); err != nil {
			log.Error("cannot start", "error", err.Error())
			return 1
		}
		defer xs.stop()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go reloadOnHangup(ctx, hup, *path, xs.reloader(srv.Reload), srv.AuditReload, log)
	// Active probes (probes.enabled; a reload may turn them on or off).
	go probe.New(probe.Options{Host: srv, Logger: log, Claimer: claimer}).Run(ctx)
	if err := runServer(ctx, cfg, srv, log, runOptions{pprof: *profiles}); err != nil {
		log.Error("server stopped", "error", err.Error())
		return 1
	}
	return 0
}

// reloadOnHangup reloads the configuration with reload on every SIGHUP
// hup delivers, and tells audit (the audit trail's config_reload) each
// result. A bad file is logged and the running configuration kept;
// streams in flight finish on the snapshot they started with, and breakers
// keep their state.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, path string, reload func(*config.Config) error,
	audit func(string, *config.Config, error), log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := config.Load(path)
		if err == nil {
			err = reload(cfg)
		}
		audit(path, cfg, err)
		if err != nil {
			log.Error("reload failed; keeping the running configuration", "file", path, "error", err.Error())
			continue
		}
		log.Info("configuration reloaded", "file", path, "providers", len(cfg.Providers), "chains", len(cfg.Chains))
	}
}

// listeners are the addresses runServer actually bound (for tests).
type listeners struct{ grpc, admin string }

// runOptions are runServer's test hooks; the zero value serves normally.
type runOptions struct {
	// bound receives the addresses once both listeners are bound.
	bound chan<- listeners
	// clock drives the TLS file checks; nil means the wall clock.
	clock clock.Clock
	// pprof serves Go's profiles on the admin address (serve --pprof).
	pprof bool
}

// runServer serves ext_proc and the admin endpoints until ctx is done, then
// drains: readiness and the gRPC health turn false, new requests (route-phase
// streams) are refused while attempts of requests already planned are still
// served, and running streams get server.drain_timeout to finish. The gRPC
// server's message limits come from limits.max_body_bytes
// (processor.MessageLimitsFor); with server.tls it serves TLS or mutual TLS
// from files reloaded when they change (certStore).
func runServer(ctx context.Context, cfg *config.Config, srv *processor.Server, log *slog.Logger, o runOptions) error {
	opts := srv.GRPCServerOptions()
	if t := cfg.Server.TLS; t != nil {
		certs, err := newCertStore(*t, o.clock, log)
		if err != nil {
			return err
		}
		opts = append(opts, certs.serverOption())
	}
	network, addr := "tcp", cfg.Server.GRPCAddress
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", rest
		_ = os.Remove(addr)
	}
	gl, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("grpc listen %s: %w", cfg.Server.GRPCAddress, err)
	}
	if err := checkBound(cfg.Server, gl.Addr()); err != nil {
		gl.Close()
		return err
	}
	al, err := net.Listen("tcp", cfg.Server.AdminAddress)
	if err != nil {
		gl.Close()
		return fmt.Errorf("admin listen %s: %w", cfg.Server.AdminAddress, err)
	}
	gs := grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(gs, srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(extprocv3.ExternalProcessor_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	var ready = make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ready:
			http.Error(w, "draining", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, srv) })
	mux.HandleFunc("/table", func(w http.ResponseWriter, _ *http.Request) { writeStatusPage(w, srv) })
	mux.Handle("/metrics", srv.MetricsHandler())
	if o.pprof {
		if err := servePprof(mux, cfg.Server.AdminAddress); err != nil {
			gl.Close()
			al.Close()
			return err
		}
	}
	adm, err := newAdminServer(cfg, srv, log)
	if err != nil {
		gl.Close()
		al.Close()
		return err
	}
	if al, err = adminListener(al, cfg, o.clock, log); err != nil {
		gl.Close()
		return err
	}
	hsrv := &http.Server{Handler: adm.handler(mux), ReadHeaderTimeout: 5 * time.Second, Protocols: adminProtocols(),
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() {
		if err := hsrv.Serve(al); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	if plainBeyondLoopback(cfg.Server) {
		log.Warn("ext_proc gRPC listens beyond loopback without TLS (server.insecure_grpc): anyone who reaches it can open ext_proc streams; see docs/security.md",
			"grpc", gl.Addr().String())
	}
	log.Info("llm-failover serving", "grpc", gl.Addr().String(), "admin", al.Addr().String(), "tls", tlsMode(cfg.Server.TLS),
		"providers", len(cfg.Providers), "chains", len(cfg.Chains))
	if o.bound != nil {
		o.bound <- listeners{grpc: gl.Addr().String(), admin: al.Addr().String()}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		gs.Stop()
		adm.close()
		_ = hsrv.Close()
		return err
	}
	log.Info("draining", "streams", srv.Streams(), "timeout", cfg.Server.DrainTimeout.String())
	close(ready)
	hs.Shutdown()
	dctx, cancel := context.WithTimeout(context.Background(), cfg.Server.DrainTimeout.D())
	defer cancel()
	derr := srv.Drain(dctx)
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-dctx.Done():
		gs.Stop()
	}
	adm.close()
	_ = hsrv.Shutdown(dctx)
	if err := srv.SaveBudgets(); err != nil { // budgets.state_file, at shutdown
		log.Warn("budget state file not written", "error", err.Error())
	}
	if derr != nil {
		log.Warn("drain incomplete", "error", derr.Error())
	}
	log.Info("stopped")
	return nil
}

// plainBeyondLoopback reports a listener that anyone who reaches it can use:
// plain gRPC beyond loopback (allowed only by server.insecure_grpc).
func plainBeyondLoopback(s config.Server) bool {
	return s.TLS == nil && !config.IsLoopback(s.GRPCAddress)
}

// checkBound refuses a plain-text gRPC listener that config validation took
// for loopback but that is bound beyond it: a host name ("localhost")
// resolved to another address. Only insecure_grpc may listen so.
func checkBound(s config.Server, a net.Addr) error {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || s.TLS != nil || s.InsecureGRPC || tcp.IP.IsLoopback() {
		return nil
	}
	return fmt.Errorf("grpc listen %s: bound to %s, beyond loopback, without TLS: set server.tls, a loopback IP or a unix socket, or server.insecure_grpc: true to accept that", s.GRPCAddress, a)
}

// tlsMode names the listener's security for the start log line.
func tlsMode(t *config.ServerTLS) string {
	switch {
	case t == nil:
		return "none"
	case t.ClientCAFile != "":
		return "mutual"
	}
	return "server"
}

// writeOutput writes a generated document to path, or to stdout when path
// is empty; the exit code is 1 when the file cannot be written.
func writeOutput(path string, b []byte, stdout, stderr io.Writer) int {
	if path == "" {
		_, _ = stdout.Write(b)
		return 0
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
