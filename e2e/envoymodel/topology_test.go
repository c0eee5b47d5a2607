package envoymodel

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"text/template"

	extprocsvc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// topo shapes a hand-written envoy.yaml for the 1.39 matcher topology and
// the 1.38 aggregate topology (../shared/research/older-envoy.md sketches
// A3 and B1).
type topo struct {
	ExtProc string
	// Clusters are the provider clusters, name -> address, in order.
	Clusters []named
	// Unavailable adds to every provider cluster a priority-1 endpoint at
	// this address (as llm-failover's generator does).
	Unavailable string
	// Matcher routes with the matcher cluster specifier keyed on
	// x-envoy-attempt-count then x-llm-failover-slot-N; Slots is N's range.
	Matcher bool
	Slots   int
	// OnNoMatch is the outer matcher's on_no_match cluster ("" for none).
	OnNoMatch string
	// Aggregates are aggregate clusters, name -> children.
	Aggregates []aggregate
	// ClusterHeader routes with route cluster_header.
	ClusterHeader string
	NumRetries    int
	Refresh       bool
	// PreviousPriorities sets retry_priority previous_priorities with this
	// update_frequency (0: none).
	PreviousPriorities int
	PerTry             string
	// ChildFilters puts an attempt-phase ext_proc (x-phase child) on the
	// provider clusters too.
	ChildFilters bool
}

type named struct{ Name, Addr string }

type aggregate struct {
	Name       string
	Children   []string
	MaxRetries string // circuit_breakers max_retries; "" leaves the default
	// RetryPolicy is a cluster-level retry_policy (flow style), "" for none.
	RetryPolicy string
}

const topoTmpl = `
static_resources:
  listeners:
  - name: main
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: llm
              domains: ["*"]
              include_request_attempt_count: true
              routes:
              - match: {prefix: /v1/}
                route:
                  timeout: 0s
                  auto_host_rewrite: true
                  retry_policy:
                    retry_on: 5xx,reset,connect-failure,retriable-headers
                    num_retries: {{.NumRetries}}
                    retriable_headers: [{name: x-retry, string_match: {exact: "1"}}]
                    retry_back_off: {base_interval: 0.001s}
{{- if .PerTry}}
                    per_try_timeout: {{.PerTry}}
{{- end}}
{{- if .Refresh}}
                    refresh_cluster_on_retry: true
{{- end}}
{{- if .PreviousPriorities}}
                    retry_priority:
                      name: envoy.retry_priorities.previous_priorities
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                        update_frequency: {{.PreviousPriorities}}
{{- end}}
{{- if .ClusterHeader}}
                  cluster_header: {{.ClusterHeader}}
{{- end}}
{{- if .Matcher}}
                  inline_cluster_specifier_plugin:
                    extension:
                      name: envoy.router.cluster_specifier_plugin.matcher
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.MatcherClusterSpecifier
                        cluster_matcher:
                          matcher_tree:
                            input:
                              name: previous-attempt
                              typed_config:
                                "@type": type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput
                                header_name: x-envoy-attempt-count
                            exact_match_map:
                              map:
{{- range $i := seq .Slots}}
                                "{{$i}}":
                                  matcher:
                                    matcher_tree:
                                      input:
                                        name: slot-{{inc $i}}
                                        typed_config:
                                          "@type": type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput
                                          header_name: x-llm-failover-slot-{{inc $i}}
                                      exact_match_map:
                                        map:
{{- range $.Clusters}}
                                          {{.Name}}: {action: {name: cluster, typed_config: {"@type": type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.ClusterAction, cluster: {{.Name}}}}}
{{- end}}
{{- end}}
{{- if .OnNoMatch}}
                          on_no_match: {action: {name: cluster, typed_config: {"@type": type.googleapis.com/envoy.extensions.router.cluster_specifiers.matcher.v3.ClusterAction, cluster: {{.OnNoMatch}}}}}
{{- end}}
{{- end}}
          http_filters:
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service: {envoy_grpc: {cluster_name: extproc}, initial_metadata: [{key: x-phase, value: route}]}
              processing_mode: {request_header_mode: SEND, request_body_mode: BUFFERED, response_header_mode: SKIP, response_body_mode: NONE, request_trailer_mode: SKIP, response_trailer_mode: SKIP}
              message_timeout: 2s
              mutation_rules: {allow_expression: {regex: "^x-envoy-attempt-count$"}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: extproc
    type: STATIC
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: extproc
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: {{host .ExtProc}}, port_value: {{port .ExtProc}}}}}}]}]
{{- range .Clusters}}
  - name: {{.Name}}
    type: STATIC
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http_protocol_options: {}}
        http_filters:
{{- if or $.Matcher $.ChildFilters}}
        - name: envoy.filters.http.ext_proc
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
            grpc_service: {envoy_grpc: {cluster_name: extproc}, initial_metadata: [{key: x-phase, value: {{if $.Matcher}}attempt{{else}}child{{end}}}]}
            processing_mode: {request_header_mode: SEND, request_body_mode: NONE, response_header_mode: SEND, response_body_mode: NONE, request_trailer_mode: SKIP, response_trailer_mode: SKIP}
            message_timeout: 2s
            request_attributes: [xds.upstream_host_metadata, xds.cluster_name]
{{- end}}
        - name: envoy.filters.http.upstream_codec
          typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec}
    load_assignment:
      cluster_name: {{.Name}}
      endpoints:
      - lb_endpoints:
        - endpoint:
            hostname: {{.Name}}.example.com
            address: {socket_address: {address: {{host .Addr}}, port_value: {{port .Addr}}}}
          metadata: {filter_metadata: {llm_failover: {provider: {{.Name}}}}}
{{- if $.Unavailable}}
      - priority: 1
        lb_endpoints:
        - endpoint:
            address: {socket_address: {address: {{host $.Unavailable}}, port_value: {{port $.Unavailable}}}}
          metadata: {filter_metadata: {llm_failover: {provider: {{.Name}}}}}
{{- end}}
{{- end}}
{{- range .Aggregates}}
  - name: {{.Name}}
    lb_policy: CLUSTER_PROVIDED
{{- if .MaxRetries}}
    circuit_breakers: {thresholds: [{max_retries: {{.MaxRetries}}}]}
{{- end}}
    cluster_type:
      name: envoy.clusters.aggregate
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig
        clusters: [{{join .Children ", "}}]
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
{{- if .RetryPolicy}}
        retry_policy: {{.RetryPolicy}}
{{- end}}
        http_filters:
        - name: envoy.filters.http.ext_proc
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
            grpc_service: {envoy_grpc: {cluster_name: extproc}, initial_metadata: [{key: x-phase, value: attempt}]}
            processing_mode: {request_header_mode: SEND, request_body_mode: NONE, response_header_mode: SEND, response_body_mode: NONE, request_trailer_mode: SKIP, response_trailer_mode: SKIP}
            message_timeout: 2s
            request_attributes: [xds.upstream_host_metadata, xds.cluster_name]
        - name: envoy.filters.http.upstream_codec
          typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec}
{{- end}}
`

func renderTopo(t *testing.T, p topo) []byte {
	t.Helper()
	tmpl := template.Must(template.New("t").Funcs(template.FuncMap{
		"host": func(a string) string { h, _, _ := net.SplitHostPort(a); return h },
		"port": func(a string) string { _, pt, _ := net.SplitHostPort(a); return pt },
		"seq": func(n int) []int {
			out := make([]int, n)
			for i := range out {
				out[i] = i
			}
			return out
		},
		"inc":  func(i int) int { return i + 1 },
		"join": strings.Join,
	}).Parse(topoTmpl))
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func startTopo(t *testing.T, p topo, version string) *Model {
	t.Helper()
	y := renderTopo(t, p)
	m, err := New(y, Options{Logger: testLogger(t), Version: version})
	if err != nil {
		t.Fatalf("New(%s): %v\n%s", version, err, y)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// routeSets answers the route phase's body with a header mutation setting
// kv and clear_route_cache; other messages continue.
func routeSets(kv ...string) script {
	return func(phase string, req *extprocsvc.ProcessingRequest) []*extprocsvc.ProcessingResponse {
		if phase == "route" && req.GetRequestBody() != nil {
			return []*extprocsvc.ProcessingResponse{continueFor(req, &extprocsvc.CommonResponse{HeaderMutation: setHeaders(kv...), ClearRouteCache: true})}
		}
		return continueAll(phase, req)
	}
}

// slots is the 1.39 route phase's mutation: x-envoy-attempt-count pinned to
// 0 and one slot header per cluster.
func slots(clusters ...string) []string {
	kv := []string{"x-envoy-attempt-count", "0"}
	for i, c := range clusters {
		kv = append(kv, "x-llm-failover-slot-"+itoa(int64(i+1)), c)
	}
	return kv
}

// attemptOrder names, for attempts 1..n, the upstream that got each one,
// read from the x-envoy-attempt-count each received ("?" for a gap).
func attemptOrder(ups map[string]*upstream) string {
	byAttempt := map[string]string{}
	n := 0
	for name, u := range ups {
		for _, r := range u.requests() {
			byAttempt[r.header.Get("x-envoy-attempt-count")] = name
			n++
		}
	}
	var out []string
	for i := 1; i <= n; i++ {
		c, ok := byAttempt[itoa(int64(i))]
		if !ok {
			c = "?"
		}
		out = append(out, c)
	}
	return strings.Join(out, ",")
}
