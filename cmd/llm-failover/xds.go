package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"

	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/xds"
)

// pieceFlags are envoy-config's flags that print something other than
// the whole static bootstrap: --fragments, or --xds-bootstrap with its
// ADS address and node id.
type pieceFlags struct {
	fragments    *bool
	xdsBootstrap *bool
	xdsAddress   *string
	xdsNodeID    *string
}

func addPieceFlags(fs *flag.FlagSet) *pieceFlags {
	return &pieceFlags{
		fragments:    fs.Bool("fragments", false, "print only the pieces to merge into an existing Envoy (docs/xds.md) instead of the whole envoy.yaml"),
		xdsBootstrap: fs.Bool("xds-bootstrap", false, "print the bootstrap of xDS mode: Envoy takes its resources over ADS from serve --xds (docs/xds.md)"),
		xdsAddress:   fs.String("xds-address", xds.DefaultAddress, "with --xds-bootstrap: where Envoy reaches serve --xds (host:port or unix:/path)"),
		xdsNodeID:    fs.String("xds-node-id", xds.DefaultNodeID, "with --xds-bootstrap: Envoy's node id"),
	}
}

// generator is what to print instead of envoy.Generate, or nil for the
// whole bootstrap; an error when the flags ask for two things at once.
func (p *pieceFlags) generator() (func(*config.Config, envoy.Options) ([]byte, error), error) {
	switch {
	case *p.fragments && *p.xdsBootstrap:
		return nil, errors.New("envoy-config: --fragments and --xds-bootstrap print different things: pass one")
	case *p.fragments:
		return envoy.GenerateFragments, nil
	case *p.xdsBootstrap:
		return func(c *config.Config, o envoy.Options) ([]byte, error) {
			return xds.GenerateBootstrap(c, xds.BootstrapOptions{Address: *p.xdsAddress, NodeID: *p.xdsNodeID, SourceName: o.SourceName})
		}, nil
	}
	return nil, nil
}

// xdsServing is serve --xds: the ADS server on its own gRPC listener.
type xdsServing struct {
	srv    *xds.Server
	gs     *grpc.Server
	addr   net.Addr
	done   chan struct{}
	cancel context.CancelFunc
	log    *slog.Logger
}

// startXDS serves cfg's Envoy resources over ADS on addr ("host:port" or
// "unix:/path"), secured like the ext_proc listener: with server.tls it
// serves TLS, or mutual TLS with a client CA, from the same files
// (reloaded when they change); without it, only on loopback or a unix
// socket unless server.insecure_grpc. c drives the TLS file checks (nil:
// the wall clock).
func startXDS(addr string, cfg *config.Config, c clock.Clock, log *slog.Logger) (*xdsServing, error) {
	s := cfg.Server
	s.GRPCAddress = addr // what the ext_proc listener's checks read
	if s.TLS == nil && !s.InsecureGRPC && !config.IsLoopback(addr) {
		return nil, fmt.Errorf("--xds %s listens beyond loopback without TLS: anyone who reaches it reads the Envoy config; set server.tls (and envoy.ext_proc_tls), listen on 127.0.0.1 or a unix socket, or set server.insecure_grpc: true to accept that", addr)
	}
	var opts []grpc.ServerOption
	if t := s.TLS; t != nil {
		certs, err := newCertStore(*t, c, log)
		if err != nil {
			return nil, err
		}
		opts = append(opts, certs.serverOption())
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := xds.NewServer(ctx, cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	network, path := "tcp", addr
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, path = "unix", rest
		_ = os.Remove(path)
	}
	l, err := net.Listen(network, path)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("xds listen %s: %w", addr, err)
	}
	if err := checkBound(s, l.Addr()); err != nil {
		l.Close()
		cancel()
		return nil, fmt.Errorf("--xds: %w", err)
	}
	x := &xdsServing{srv: srv, gs: grpc.NewServer(opts...), addr: l.Addr(), done: make(chan struct{}), cancel: cancel, log: log}
	srv.Register(x.gs)
	go func() {
		defer close(x.done)
		if err := x.gs.Serve(l); err != nil {
			log.Error("xds server stopped", "error", err.Error())
		}
	}()
	if plainBeyondLoopback(s) {
		log.Warn("xds listens beyond loopback without TLS (server.insecure_grpc): anyone who reaches it reads the Envoy config; see docs/xds.md", "xds", l.Addr().String())
	}
	log.Info("xds serving", "xds", l.Addr().String(), "tls", tlsMode(s.TLS), "version", srv.Version())
	return x, nil
}

// reloader wraps a reload of the ext_proc server so that the ADS server
// serves the new config's resources once it took it. The resources are
// built first: a config the generator refuses is refused whole, and the
// running one kept. A nil x returns next.
func (x *xdsServing) reloader(next func(*config.Config) error) func(*config.Config) error {
	if x == nil {
		return next
	}
	return func(c *config.Config) error {
		snap, err := xds.Snapshot(c)
		if err != nil {
			return err
		}
		if err := next(c); err != nil {
			return err
		}
		before := x.srv.Version()
		if err := x.srv.Set(context.Background(), snap); err != nil {
			return err
		}
		x.log.Info("xds resources updated", "version", x.srv.Version(), "previous", before)
		return nil
	}
}

// stop closes the ADS streams and the listener. Envoy keeps the resources
// it has until it reaches an ADS server again. Nil-safe.
func (x *xdsServing) stop() {
	if x == nil {
		return
	}
	x.gs.Stop()
	<-x.done
	x.cancel()
}
