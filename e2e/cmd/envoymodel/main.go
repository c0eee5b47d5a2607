// Command envoymodel serves an envoy.yaml through the Envoy behavioural
// model of package envoymodel, so a person can curl through it. It is a test
// instrument, not a proxy: see the envoymodel package documentation for what
// it models and what it does not.
//
//	go run ./e2e/cmd/envoymodel -c envoy.yaml [-listen 127.0.0.1:10000] [-v]
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/llm-failover/llm-failover/e2e/envoymodel"
)

func main() {
	cfg := flag.String("c", "envoy.yaml", "path of the envoy.yaml to model")
	listen := flag.String("listen", "127.0.0.1:10000", "listener address (the bootstrap's listener address is ignored)")
	verbose := flag.Bool("v", false, "debug log to stderr")
	version := flag.String("envoy-version", envoymodel.Version140, "Envoy version to play: "+strings.Join(envoymodel.Versions, ", "))
	backport := flag.Bool("backport-45355", false, "with -envoy-version 1.38: play a 1.38.x build with the #45355 backport")
	flag.Parse()
	data, err := os.ReadFile(*cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "envoymodel:", err)
		os.Exit(1)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	m, err := envoymodel.New(data, envoymodel.Options{Listen: *listen, Logger: log, Version: *version, Backport45355: *backport})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, w := range m.Warnings {
		log.Warn("not modelled", "what", w)
	}
	log.Info("envoy model listening (a test instrument, not a proxy)", "url", m.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = m.Close()
}
