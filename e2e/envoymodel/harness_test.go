package envoymodel

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// script answers ext_proc messages: for each request it returns the
// responses to send right away (none, one, or several, in order).
type script func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse

type scriptedServer struct {
	extprocsvc.UnimplementedExternalProcessorServer
	mu   sync.Mutex
	fn   script
	seen map[string][]*extprocsvc.ProcessingRequest
	md   []metadata.MD
}

func (s *scriptedServer) Process(st extprocsvc.ExternalProcessor_ProcessServer) error {
	md, _ := metadata.FromIncomingContext(st.Context())
	phase := ""
	if v := md.Get("x-phase"); len(v) > 0 {
		phase = v[0]
	}
	s.mu.Lock()
	s.md = append(s.md, md)
	s.mu.Unlock()
	for {
		req, err := st.Recv()
		if err != nil {
			return nil
		}
		s.mu.Lock()
		s.seen[phase] = append(s.seen[phase], req)
		fn := s.fn
		s.mu.Unlock()
		for _, r := range fn(phase, req) {
			if end, ok := r.GetDynamicMetadata().GetFields()[endKey]; ok {
				f := end.GetStructValue().GetFields()
				if c := codes.Code(f["code"].GetNumberValue()); c != codes.OK {
					return status.Error(c, f["message"].GetStringValue())
				}
				return nil
			}
			if err := st.Send(r); err != nil {
				return err
			}
		}
	}
}

// endKey marks the pseudo response made by endStream.
const endKey = "__test_end_stream__"

// endStream, returned by a script, ends the Process call (the gRPC stream)
// with code and message instead of sending a message; codes.OK closes it
// cleanly.
func endStream(code codes.Code, message string) *extprocsvc.ProcessingResponse {
	s, err := structpb.NewStruct(map[string]any{endKey: map[string]any{"code": float64(code), "message": message}})
	if err != nil {
		panic(err)
	}
	return &extprocsvc.ProcessingResponse{DynamicMetadata: s}
}

func (s *scriptedServer) requests(phase string) []*extprocsvc.ProcessingRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*extprocsvc.ProcessingRequest(nil), s.seen[phase]...)
}

func startExtProc(t *testing.T, fn script) (*scriptedServer, string, *grpc.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedServer{fn: fn, seen: map[string][]*extprocsvc.ProcessingRequest{}}
	gs := grpc.NewServer()
	extprocsvc.RegisterExternalProcessorServer(gs, s)
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)
	return s, ln.Addr().String(), gs
}

// continueAll answers every message with an empty CONTINUE of its kind.
func continueAll(_ string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
	return []*extprocsvc.ProcessingResponse{continueFor(req, nil)}
}

func continueFor(req *extprocsvc.ProcessingRequest, cr *extprocsvc.CommonResponse) *extprocsvc.ProcessingResponse {
	switch req.GetRequest().(type) {
	case *extprocsvc.ProcessingRequest_RequestHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocsvc.HeadersResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_RequestBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_RequestBody{RequestBody: &extprocsvc.BodyResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_ResponseHeaders:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocsvc.HeadersResponse{Response: cr}}}
	case *extprocsvc.ProcessingRequest_ResponseBody:
		return &extprocsvc.ProcessingResponse{Response: &extprocsvc.ProcessingResponse_ResponseBody{ResponseBody: &extprocsvc.BodyResponse{Response: cr}}}
	}
	return nil
}

func setHeaders(kv ...string) *extprocsvc.HeaderMutation {
	m := &extprocsvc.HeaderMutation{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: kv[i], RawValue: []byte(kv[i+1])}})
	}
	return m
}

// overrideMD is the untyped PriorityGroupsOverride for the clusters, one group each.
func overrideMD(ns string, clusters ...string) *structpb.Struct {
	var groups []any
	for i, c := range clusters {
		groups = append(groups, map[string]any{"name": "attempt-" + itoa(int64(i+1)), "clusters": []any{map[string]any{"cluster_name": c, "weight": 1}}})
	}
	s, err := structpb.NewStruct(map[string]any{ns: map[string]any{"priority_groups": groups}})
	if err != nil {
		panic(err)
	}
	return s
}

// upstream is a recording HTTP server standing in for a provider.
type upstream struct {
	addr string
	mu   sync.Mutex
	reqs []recorded
	fn   http.HandlerFunc
}

type recorded struct {
	path   string
	host   string
	header http.Header
	body   string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.reqs = append(u.reqs, recorded{r.URL.RequestURI(), r.Host, r.Header.Clone(), string(b)})
	fn := u.fn
	u.mu.Unlock()
	fn(w, r)
}

func (u *upstream) requests() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.reqs...)
}

func startUpstream(t *testing.T, fn http.HandlerFunc) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: ln.Addr().String(), fn: fn}
	srv := &http.Server{Handler: u}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

func okJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

func respondStatus(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

// params shape the test envoy.yaml.
type params struct {
	ExtProc      string
	Clusters     map[string]string // name -> addr
	Groups       []string          // configured priority groups, one cluster each
	RouteMode    string            // processing_mode YAML (flow style)
	AttemptMode  string
	RouteExtra   string // more ExternalProcessor fields (flow style, leading comma)
	AttemptExtra string
	// AttemptAttrs and AttemptForward replace the attempt filter's
	// request_attributes and forwarding namespaces (flow style lists).
	AttemptAttrs   string
	AttemptForward string
	RetryOn        string
	NumRetries     int
	PerTry         string
	MessageTimeout string
	BodyLimit      int
	ConnLimit      int // listener per_connection_buffer_limit_bytes; 0 leaves the default
	// ClusterType sets a provider cluster's type (default STATIC).
	ClusterType map[string]string
	// Endpoints replaces a provider cluster's load_assignment endpoints
	// (YAML list items indented by six spaces).
	Endpoints map[string]string
	// MaxRequests sets circuit_breakers max_requests on a cluster
	// (the provider clusters, or "extproc").
	MaxRequests map[string]int
	// UnavailablePort adds a second listener on 127.0.0.1 answering every
	// request with a direct_response 503.
	UnavailablePort int
	// Listeners are Options.Listeners.
	Listeners map[string]net.Listener
	// MaxRetries sets circuit_breakers max_retries on a provider cluster.
	MaxRetries map[string]int
	NoRefresh  bool
	// Version is Options.Version; Cluster, when set, replaces the
	// priority_group specifier with a plain cluster (for 1.38 and 1.39,
	// which lack priority_group).
	Version          string
	Backport45355    bool
	Cluster          string
	NoAttemptFilters bool
	// Injector adds an upstream filter (YAML list item indented by eight
	// spaces, see injectorYAML) to a provider cluster, after the attempt
	// ext_proc filter; InjectorFirst puts it before.
	Injector      map[string]string
	InjectorFirst bool
	// LocalReplyJSON adds a local_reply_config that renders every local
	// reply as {"code":..,"details":..,"body":..} so tests can read the
	// response code details.
	LocalReplyJSON bool
}

// localReplyJSON decodes a body rendered by the LocalReplyJSON mapper.
type localReplyJSON struct {
	Code    int    `json:"code"`
	Details string `json:"details"`
	Body    string `json:"body"`
}

const yamlTmpl = `
static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
{{- if .ConnLimit}}
    per_connection_buffer_limit_bytes: {{.ConnLimit}}
{{- end}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
{{- if .LocalReplyJSON}}
          local_reply_config:
            mappers:
            - filter: {status_code_filter: {comparison: {op: GE, value: {default_value: 0, runtime_key: lr}}}}
              body_format_override: {json_format: {code: "%RESPONSE_CODE%", details: "%RESPONSE_CODE_DETAILS%", body: "%LOCAL_REPLY_BODY%"}}
{{- end}}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              include_request_attempt_count: true
              routes:
              - match: {prefix: /direct}
                direct_response: {status: 418, body: {inline_string: teapot}}
                typed_per_filter_config:
                  envoy.filters.http.ext_proc:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute
                    disabled: true
              - match: {prefix: /v1/}
{{- if .BodyLimit}}
                request_body_buffer_limit: {{.BodyLimit}}
{{- end}}
                route:
                  timeout: 0s
                  auto_host_rewrite: true
                  retry_policy:
                    retry_on: "{{.RetryOn}}"
                    num_retries: {{.NumRetries}}
                    retriable_status_codes: [429]
                    retriable_headers: [{name: x-retry, string_match: {exact: "1"}}]
                    retry_back_off: {base_interval: 0.001s}
{{- if .PerTry}}
                    per_try_timeout: {{.PerTry}}
{{- end}}
{{- if not .NoRefresh}}
                    refresh_cluster_on_retry: true
{{- end}}
{{- if .Cluster}}
                  cluster: {{.Cluster}}
{{- else}}
                  inline_cluster_specifier_plugin:
                    extension:
                      name: envoy.router.cluster_specifier_plugin.priority_group
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.router.cluster_specifiers.priority_group.v3.PriorityGroupClusterSpecifier
                        override_metadata_namespace: ns
                        priority_groups:
{{- range .Groups}}
                        - {name: {{.}}, clusters: [{cluster_name: {{.}}, weight: 1}]}
{{- end}}
{{- end}}
          http_filters:
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service: {envoy_grpc: {cluster_name: extproc}, initial_metadata: [{key: x-phase, value: route}]}
              processing_mode: {{.RouteMode}}
              message_timeout: {{.MessageTimeout}}
              metadata_options: {receiving_namespaces: {untyped: [ns, ns.plan]}}
              allow_mode_override: true{{.RouteExtra}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
{{- if .UnavailablePort}}
  - name: unavailable
    address: {socket_address: {address: 127.0.0.1, port_value: {{.UnavailablePort}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: unavailable
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: /}
                direct_response: {status: 503, body: {inline_string: '{"error":"unavailable"}'}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
{{- end}}
  clusters:
  - name: extproc
    type: STATIC
{{- with index .MaxRequests "extproc"}}
    circuit_breakers: {thresholds: [{max_requests: {{.}}}]}
{{- end}}
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: extproc
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: {{host .ExtProc}}, port_value: {{port .ExtProc}}}}}}]}]
{{- range $name, $addr := .Clusters}}
  - name: {{$name}}
    type: {{or (index $.ClusterType $name) "STATIC"}}
{{- if or (index $.MaxRequests $name) (index $.MaxRetries $name)}}
    circuit_breakers: {thresholds: [{ {{- with index $.MaxRequests $name}}max_requests: {{.}}, {{end}}{{with index $.MaxRetries $name}}max_retries: {{.}}{{end -}} }]}
{{- end}}
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http_protocol_options: {}}
{{- if not $.NoAttemptFilters}}
        http_filters:
{{- if $.InjectorFirst}}{{with index $.Injector $name}}
{{.}}
{{- end}}{{end}}
        - name: envoy.filters.http.ext_proc
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
            grpc_service: {envoy_grpc: {cluster_name: extproc}, initial_metadata: [{key: x-phase, value: attempt}]}
            processing_mode: {{$.AttemptMode}}
            message_timeout: {{$.MessageTimeout}}
            request_attributes: {{$.AttemptAttrs}}
            metadata_options: {forwarding_namespaces: {untyped: {{$.AttemptForward}}}}{{$.AttemptExtra}}
{{- if not $.InjectorFirst}}{{with index $.Injector $name}}
{{.}}
{{- end}}{{end}}
        - name: envoy.filters.http.upstream_codec
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec
{{- end}}
    load_assignment:
      cluster_name: {{$name}}
      endpoints:
{{- with index $.Endpoints $name}}
{{.}}
{{- else}}
      - lb_endpoints:
        - endpoint:
            hostname: {{$name}}.example.com
            address: {socket_address: {address: {{host $addr}}, port_value: {{port $addr}}}}
          metadata: {filter_metadata: {llm_failover: {provider: {{$name}}}}}
{{- end}}
{{- end}}
`

func renderYAML(t *testing.T, p params) []byte {
	t.Helper()
	if p.RouteMode == "" {
		p.RouteMode = "{request_header_mode: SEND, request_body_mode: BUFFERED, response_header_mode: SEND, response_body_mode: NONE, request_trailer_mode: SKIP, response_trailer_mode: SKIP}"
	}
	if p.AttemptForward == "" {
		p.AttemptForward = "[ns.plan]"
	}
	if p.AttemptAttrs == "" {
		p.AttemptAttrs = "[xds.upstream_host_metadata, upstream.request_attempt_count]"
	}
	if p.AttemptMode == "" {
		p.AttemptMode = "{request_header_mode: SEND, request_body_mode: BUFFERED, response_header_mode: SEND, response_body_mode: NONE, request_trailer_mode: SKIP, response_trailer_mode: SKIP}"
	}
	if p.RetryOn == "" {
		p.RetryOn = "5xx,reset,connect-failure,retriable-status-codes,retriable-headers"
	}
	if p.MessageTimeout == "" {
		p.MessageTimeout = "2s"
	}
	tmpl := template.Must(template.New("y").Funcs(template.FuncMap{
		"host": func(a string) string { h, _, _ := net.SplitHostPort(a); return h },
		"port": func(a string) string { _, pt, _ := net.SplitHostPort(a); return pt },
	}).Parse(yamlTmpl))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func startModel(t *testing.T, p params) *Model {
	t.Helper()
	m, err := New(renderYAML(t, p), Options{Logger: testLogger(t), Version: p.Version, Backport45355: p.Backport45355, Listeners: p.Listeners})
	if err != nil {
		t.Fatalf("New: %v\n%s", err, renderYAML(t, p))
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

type result struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

func post(t *testing.T, m *Model, path, body string, hdr ...string) result {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.URL()+path, strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	c := &http.Client{Timeout: testTimeout}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b), time.Since(start)}
}

// testLogger sends the model's debug log to the test log with -v.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
