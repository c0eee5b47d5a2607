package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"google.golang.org/grpc"

	"github.com/llm-failover/llm-failover/admin"
	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/processor"
)

// adminServer serves the admin listener: the admin gRPC API
// (llmfailover.admin.v1.AdminService) and the dashboard on one port,
// beside the health, status and metrics handlers (docs/admin.md).
type adminServer struct {
	svc  *admin.Service
	grpc *grpc.Server
}

// newAdminServer builds the admin API of srv from cfg.Admin; a bad admin
// token is fatal at start.
func newAdminServer(cfg *config.Config, srv *processor.Server, log *slog.Logger) (*adminServer, error) {
	auth, err := admin.NewAuthorizer(cfg.Admin, nil)
	if err != nil {
		return nil, err
	}
	svc := admin.New(admin.Options{Source: srv, Events: srv.Events(), Auth: auth, MaxWatchers: cfg.Admin.MaxWatchers,
		WatchBuffer: cfg.Admin.WatchBuffer, Logger: log})
	gs := grpc.NewServer()
	svc.Register(gs)
	if !auth.Enabled() {
		log.Info("admin actions (trip, reset) are disabled: no admin token or identity configured")
	}
	return &adminServer{svc: svc, grpc: gs}, nil
}

// handler mounts the dashboard on mux and returns the listener's handler:
// gRPC requests (HTTP/2, content-type application/grpc) go to the admin
// API, the rest to mux.
func (a *adminServer) handler(mux *http.ServeMux) http.Handler {
	dash := a.svc.Handler()
	mux.Handle("GET /{$}", dash)
	mux.Handle("GET /static/", dash)
	mux.Handle("GET /api/", dash)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("content-type"), "application/grpc") {
			a.grpc.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// close ends the event streams (WatchEvents, the dashboard's timelines),
// so that the HTTP server's shutdown does not wait for them.
func (a *adminServer) close() {
	a.svc.Close()
	a.grpc.Stop()
}

// adminProtocols are HTTP/1.1 and HTTP/2, with and without TLS: gRPC
// clients speak HTTP/2 with prior knowledge on a plain listener.
func adminProtocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

// adminListener wraps l in TLS when admin.tls is set, with the
// certificate files reloaded as server.tls's are (certStore) and ALPN
// offering h2 for gRPC; on error it closes l. A plain listener beyond
// loopback is logged at warn: anyone who reaches it reads the status and
// the audit events.
func adminListener(l net.Listener, cfg *config.Config, c clock.Clock, log *slog.Logger) (net.Listener, error) {
	t := cfg.Admin.TLS
	if t == nil {
		if !config.IsLoopback(cfg.Server.AdminAddress) {
			log.Warn("the admin listener (dashboard, admin API, audit events) is beyond loopback without TLS: set admin.tls or keep server.admin_address on loopback; see docs/admin.md",
				"admin", cfg.Server.AdminAddress)
		}
		return l, nil
	}
	certs, err := newCertStore(*t, c, log)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("admin.tls: %w", err)
	}
	return tls.NewListener(l, &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cfg := certs.current().Clone()
			cfg.NextProtos = []string{"h2", "http/1.1"}
			return cfg, nil
		},
	}), nil
}
