package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/llm-failover/llm-failover/config"
)

// servePprof adds Go's profiles (net/http/pprof) under /debug/pprof/ to the
// admin mux when serve runs with --pprof (off by default). A heap profile
// can hold provider keys, so the admin address must be loopback
// (docs/performance.md, "Profiling the server").
func servePprof(mux *http.ServeMux, adminAddr string) error {
	if !config.IsLoopback(adminAddr) {
		return fmt.Errorf("--pprof: server.admin_address %q is not a loopback address; profiles are served only on loopback", adminAddr)
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return nil
}
