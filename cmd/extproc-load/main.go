// Command extproc-load drives an ext_proc gRPC server the way Envoy does,
// for both the HTTP connection manager's filter and the upstream filter of
// the provider's cluster, and reports requests/s, latency quantiles of a
// whole request and the server's CPU per request (docs/performance.md).
//
//	extproc-load -profile llm-failover -config cfg.yaml -addr 127.0.0.1:50051 -concurrency 16 -body 2048
//	extproc-load -profile aigw -addr 127.0.0.1:1063 -events 200
//	extproc-load -write-config cfg.yaml -profile llm-failover -targets 8 -grpc-address 127.0.0.1:50051
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/loadgen"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("extproc-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr        = fs.String("addr", "", "the ext_proc server's gRPC address (host:port or unix:/path)")
		profile     = fs.String("profile", "llm-failover", "message shapes: llm-failover (from --config's generated Envoy config) or aigw (Envoy AI Gateway's)")
		cfgPath     = fs.String("config", "", "llm-failover profile: the server's configuration file")
		model       = fs.String("model", "load", "the request's model")
		label       = fs.String("label", "", "the report's name (default: the profile)")
		concurrency = fs.Int("concurrency", 16, "requests in flight")
		conns       = fs.Int("conns", 2, "HTTP/2 connections to the server (Envoy: one per worker thread)")
		body        = fs.Int("body", 2048, "request body size in bytes")
		events      = fs.Int("events", 0, "SSE events in the answer (0: one JSON answer)")
		duration    = fs.Duration("duration", 10*time.Second, "measured window")
		requests    = fs.Int("requests", 0, "end the measured window after this many requests (0: --duration)")
		warmup      = fs.Duration("warmup", 2*time.Second, "load before the measured window")
		pid         = fs.Int("pid", 0, "the server's process id (0: the process listening on --addr; -1: no CPU figures)")
		metrics     = fs.String("metrics", "", "the server's Prometheus URL, for its allocation counters (e.g. http://127.0.0.1:9464/metrics)")
		pprofURL    = fs.String("pprof", "", "the server's net/http/pprof base URL, for its allocation counters (e.g. http://127.0.0.1:9464/debug/pprof)")
		jsonOut     = fs.String("json", "", "also write the report as JSON to this file (- for standard output)")
		summarize   = fs.String("summarize", "", "print the markdown table of a compare.sh output folder (ours-CASE.json, aigw-CASE.json) and exit")
		writeConfig = fs.String("write-config", "", "write a server configuration for --profile with --targets targets to this file and exit")
		targets     = fs.Int("targets", 2, "--write-config: the chain's targets (aigw: backends)")
		grpcAddr    = fs.String("grpc-address", "127.0.0.1:50051", "--write-config (llm-failover): server.grpc_address")
		adminAddr   = fs.String("admin-address", "127.0.0.1:9464", "--write-config (llm-failover): server.admin_address")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *summarize != "" {
		if err := loadgen.Summarize(stdout, *summarize); err != nil {
			fmt.Fprintln(stderr, "extproc-load:", err)
			return 1
		}
		return 0
	}
	if *writeConfig != "" {
		var b []byte
		switch *profile {
		case "llm-failover":
			b = loadgen.LLMFailoverConfig(*model, *targets, *grpcAddr, *adminAddr)
		case "aigw":
			b = loadgen.AIGWConfig(*targets)
		default:
			fmt.Fprintf(stderr, "extproc-load: unknown --profile %q (llm-failover, aigw)\n", *profile)
			return 2
		}
		if err := os.WriteFile(*writeConfig, b, 0o644); err != nil {
			fmt.Fprintln(stderr, "extproc-load:", err)
			return 1
		}
		return 0
	}
	if *addr == "" {
		fmt.Fprintln(stderr, "extproc-load: --addr is required")
		return 2
	}
	sh := loadgen.Shape{Model: *model, BodyBytes: *body, Events: *events}
	var p *loadgen.Profile
	switch *profile {
	case "llm-failover":
		if *cfgPath == "" {
			fmt.Fprintln(stderr, "extproc-load: the llm-failover profile needs --config (the server's configuration)")
			return 2
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "extproc-load: %s: %v\n", *cfgPath, err)
			return 1
		}
		if p, err = loadgen.LLMFailover(cfg, sh); err != nil {
			fmt.Fprintln(stderr, "extproc-load:", err)
			return 1
		}
	case "aigw":
		p = loadgen.AIGW(sh)
	default:
		fmt.Fprintf(stderr, "extproc-load: unknown --profile %q (llm-failover, aigw)\n", *profile)
		return 2
	}
	if *label != "" {
		p.Name = *label
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := loadgen.Run(ctx, p, loadgen.Options{Addr: *addr, Concurrency: *concurrency, Conns: *conns,
		Duration: *duration, Requests: *requests, Warmup: *warmup, PID: *pid, MetricsURL: *metrics, PprofURL: *pprofURL})
	if err != nil && rep == nil {
		fmt.Fprintln(stderr, "extproc-load:", err)
		return 1
	}
	tableOut := stdout
	if *jsonOut == "-" {
		tableOut = stderr
	}
	if terr := loadgen.Table(tableOut, rep); terr != nil {
		fmt.Fprintln(stderr, "extproc-load:", terr)
		return 1
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		b = append(b, '\n')
		if *jsonOut == "-" {
			_, _ = stdout.Write(b)
		} else if werr := os.WriteFile(*jsonOut, b, 0o644); werr != nil {
			fmt.Fprintln(stderr, "extproc-load:", werr)
			return 1
		}
	}
	if err != nil || rep.Failed > 0 {
		fmt.Fprintf(stderr, "extproc-load: %d request(s) failed %v\n", rep.Failed, err)
		return 1
	}
	return 0
}
