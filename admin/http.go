package admin

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// web holds the dashboard: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var web embed.FS

// jsonOpts encode the admin API's messages for the dashboard with their
// proto field names, the same names as the audit log's JSON lines.
var jsonOpts = protojson.MarshalOptions{UseProtoNames: true}

// keepAlive is how often an idle event stream sends a comment, so proxies
// and browsers keep it open.
const keepAlive = 15 * time.Second

// Handler serves the dashboard and its JSON reads:
//
//	GET /                 the dashboard
//	GET /static/...       its CSS and JavaScript
//	GET /api/status       GetStatusResponse
//	GET /api/explain      ExplainPlanResponse (?model=M, ?chain=C, ?tools=1, ?json=1, ?vision=1, ?region=R)
//	GET /api/events       the audit events as server-sent events ("audit"), after the history with ?history=1
//
// None of them changes anything; breakers are tripped and reset over gRPC
// only (authorized).
func (s *Service) Handler() http.Handler {
	static, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-security-policy", "default-src 'self'")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		resp, _ := s.GetStatus(r.Context(), &adminv1.GetStatusRequest{})
		writeJSON(w, resp)
	})
	mux.HandleFunc("GET /api/explain", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := &adminv1.ExplainPlanRequest{Model: q.Get("model"), Tools: q.Get("tools") == "1", Json: q.Get("json") == "1",
			Vision: q.Get("vision") == "1", Region: q.Get("region")}
		if c := q.Get("chain"); c != "" {
			req.Headers = map[string]string{contract.HeaderChain: c}
		}
		resp, err := s.ExplainPlan(r.Context(), req)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, resp)
	})
	mux.HandleFunc("GET /api/events", s.serveEvents)
	return mux
}

func writeJSON(w http.ResponseWriter, m proto.Message) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.Header().Set("cache-control", "no-store")
	_, _ = w.Write(b)
}

// httpError maps a gRPC status error to an HTTP status, once.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch status.Code(err) {
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.ResourceExhausted, codes.Unavailable:
		code = http.StatusServiceUnavailable
	}
	http.Error(w, status.Convert(err).Message(), code)
}

// serveEvents streams the audit events as server-sent events: each one
// "event: audit", "id: <seq>", "data: <Event as JSON>".
func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	var kinds []string
	if k := r.URL.Query().Get("kinds"); k != "" {
		kinds = strings.Split(k, ",")
	}
	sub, release, err := s.subscribe(kinds)
	if err != nil {
		httpError(w, toStatus(err))
		return
	}
	defer release()
	h := w.Header()
	h.Set("content-type", "text/event-stream")
	h.Set("cache-control", "no-store")
	h.Set("x-accel-buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(e events.Event) error {
		b, err := jsonOpts.Marshal(event(e))
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: audit\nid: %d\ndata: %s\n\n", e.Seq, b); err != nil {
			return err
		}
		return nil
	}
	if r.URL.Query().Get("history") == "1" {
		for _, e := range sub.Backlog {
			if send(e) != nil {
				return
			}
		}
	}
	if _, err := fmt.Fprint(w, ": live\n\n"); err != nil || flush(rc) != nil {
		return
	}
	ping := time.NewTicker(keepAlive)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || flush(rc) != nil {
				return
			}
		case e, ok := <-sub.C():
			if !ok || send(e) != nil || flush(rc) != nil {
				return
			}
		}
	}
}

func flush(rc *http.ResponseController) error {
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
