package loadgen

import (
	"fmt"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/e2e/envoymodel"
	"github.com/llm-failover/llm-failover/envoy"
)

// Shape is the request and answer a profile sends.
type Shape struct {
	// Model is the request's model.
	Model string
	// BodyBytes is the request body's size (at least the size of a
	// one-word chat request).
	BodyBytes int
	// Events, when positive, makes the request ask for a stream and the
	// provider answer with that many SSE events (then data: [DONE]), one
	// body message each; zero: one JSON answer.
	Events int
}

// downstreamPeer is the client's address as the connection manager sees it.
const downstreamPeer = "127.0.0.1:41000"

// clientHeaders are the request headers Envoy's connection manager hands
// its filters for a chat request from the official OpenAI Go SDK over
// HTTP/1.1: the SDK's own headers, then x-forwarded-proto and x-request-id
// added by the connection manager.
func clientHeaders(path string, body []byte) Headers {
	return H(
		":authority", "localhost:10000",
		":path", path,
		":method", "POST",
		":scheme", "http",
		"accept", "application/json",
		"authorization", "Bearer sk-client-key-not-for-providers",
		"content-type", "application/json",
		"user-agent", "OpenAI/Go 3.98.0",
		"x-stainless-arch", "x64",
		"x-stainless-lang", "go",
		"x-stainless-os", "Linux",
		"x-stainless-package-version", "3.98.0",
		"x-stainless-retry-count", "0",
		"x-stainless-runtime", "go",
		"x-stainless-runtime-version", "go1.26.8",
		"content-length", strconv.Itoa(len(body)),
		"x-forwarded-proto", "http",
		"x-request-id", "",
	)
}

// ChatBody is a Chat Completions request of exactly n bytes when n is at
// least the size of its frame (about 150 bytes), else of that size.
func ChatBody(model string, n int, stream bool) []byte {
	head := `{"model":"` + model + `","temperature":0.2,`
	if stream {
		head += `"stream":true,`
	}
	head += `"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"`
	tail := `"}]}`
	pad := max(n-len(head)-len(tail), 2)
	words := strings.Repeat("lorem ipsum dolor sit amet ", pad/27+1)[:pad]
	return []byte(head + words + tail)
}

// JSONAnswer is a provider's non-streamed Chat Completions answer.
func JSONAnswer(model string) []byte {
	return []byte(`{"id":"chatcmpl-load","object":"chat.completion","created":1764460800,"model":"` + model +
		`","choices":[{"index":0,"message":{"role":"assistant","content":"The answer is short."},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":512,"completion_tokens":5,"total_tokens":517}}`)
}

// SSEAnswer is a provider's streamed answer: events chunks of one event
// each (the first with the role, the last with finish_reason and usage),
// then data: [DONE].
func SSEAnswer(model string, events int) [][]byte {
	out := make([][]byte, 0, events+1)
	for i := range events {
		delta := `{"content":"word` + strconv.Itoa(i) + ` "}`
		finish := "null"
		usage := ""
		if i == 0 {
			delta = `{"role":"assistant","content":""}`
		}
		if i == events-1 {
			delta, finish = `{}`, `"stop"`
			usage = `,"usage":{"prompt_tokens":512,"completion_tokens":` + strconv.Itoa(events) + `,"total_tokens":` + strconv.Itoa(512+events) + `}`
		}
		out = append(out, []byte(`data: {"id":"chatcmpl-load","object":"chat.completion.chunk","created":1764460800,"model":"`+model+
			`","choices":[{"index":0,"delta":`+delta+`,"finish_reason":`+finish+`}]`+usage+"}\n\n"))
	}
	return append(out, []byte("data: [DONE]\n\n"))
}

func answer(model string, sh Shape) (Headers, [][]byte) {
	if sh.Events > 0 {
		return H(":status", "200", "content-type", "text/event-stream", "x-request-id", "upstream-1"), SSEAnswer(model, sh.Events)
	}
	b := JSONAnswer(model)
	return H(":status", "200", "content-type", "application/json", "content-length", strconv.Itoa(len(b)), "x-request-id", "upstream-1"), [][]byte{b}
}

// LLMFailover is this project's profile, built from the Envoy bootstrap
// the project generates for cfg (envoy.Bootstrap): the HTTP connection
// manager's ext_proc filter (route phase) and the ext_proc filter of the
// cluster of the first target of the chain that serves sh.Model (attempt
// phase), with the attributes Envoy evaluates for them and the headers its
// router adds on the way (x-envoy-expected-rq-timeout-ms from the route
// phase's per-try timeout, x-envoy-attempt-count, the endpoint's hostname
// as :authority).
func LLMFailover(cfg *config.Config, sh Shape) (*Profile, error) {
	bs, err := envoy.Bootstrap(cfg)
	if err != nil {
		return nil, err
	}
	chain := chainFor(cfg, sh.Model)
	if chain == nil || len(chain.Targets) == 0 {
		return nil, fmt.Errorf("no chain serves model %q", sh.Model)
	}
	prov := chain.Targets[0].Provider
	hcm, routeFilter, err := routePhase(bs)
	if err != nil {
		return nil, err
	}
	cl, host, attemptFilter, err := attemptPhase(bs, prov)
	if err != nil {
		return nil, err
	}
	body := ChatBody(sh.Model, sh.BodyBytes, sh.Events > 0)
	req := clientHeaders("/v1/chat/completions", body)
	if hcm.GetUseRemoteAddress().GetValue() && !hcm.GetSkipXffAppend() {
		// conn_manager_utility.cc appendXff: the TCP peer's address (the
		// e2e Envoy model's appendXFF).
		host, _, _ := strings.Cut(downstreamPeer, ":")
		req.set("x-forwarded-for", host)
	}
	routeAttrs := func(name string) (*structpb.Value, bool) {
		switch name {
		case contract.AttrSourceAddress:
			return structpb.NewStringValue(downstreamPeer), true
		case contract.AttrURISAN:
			return nil, true // plain-text downstream: absent, as in Envoy
		}
		return nil, false
	}
	hostname := host.GetEndpoint().GetHostname()
	attemptAttrs := func(name string) (*structpb.Value, bool) {
		switch name {
		case contract.AttrHostMetadata:
			return structpb.NewStringValue(envoymodel.ShortDebugString(host.GetMetadata())), true
		case contract.AttrAttemptCount:
			return structpb.NewNumberValue(1), true
		case "xds.cluster_name":
			return structpb.NewStringValue(cl.GetName()), true
		}
		return nil, false
	}
	rf, err := FilterFrom("route", routeFilter, routeAttrs)
	if err != nil {
		return nil, err
	}
	af, err := FilterFrom("attempt", attemptFilter, attemptAttrs)
	if err != nil {
		return nil, err
	}
	vh := firstVirtualHost(hcm)
	attemptCount := vh.GetIncludeRequestAttemptCount()
	hostRewrite := false
	for _, r := range vh.GetRoutes() {
		if r.GetRoute().GetAutoHostRewrite().GetValue() {
			hostRewrite = true
		}
	}
	rh, chunks := answer(chain.Targets[0].Model, sh)
	return &Profile{
		Name:    "llm-failover",
		Route:   rf,
		Attempt: af,
		Request: req,
		Body:    body,
		Router: func(h *Headers) {
			// router.cc: the per-request bounds are read and removed;
			// the expected timeout is the per-try timeout.
			h.del(contract.HeaderMaxRetries)
			if v, ok := h.Get(contract.HeaderPerTryTimeout); ok {
				h.del(contract.HeaderPerTryTimeout)
				h.set("x-envoy-expected-rq-timeout-ms", v)
			}
			if attemptCount {
				h.set("x-envoy-attempt-count", "1")
			}
			if hostRewrite && hostname != "" {
				h.set(":authority", hostname)
			}
		},
		ResponseHeaders: rh,
		Chunks:          chunks,
	}, nil
}

func chainFor(cfg *config.Config, model string) *config.Chain {
	for i := range cfg.Chains {
		for _, m := range cfg.Chains[i].Match.Models {
			if m == model {
				return &cfg.Chains[i]
			}
		}
	}
	for i := range cfg.Chains {
		if cfg.Chains[i].Name == cfg.DefaultChain {
			return &cfg.Chains[i]
		}
	}
	return nil
}

func extProcOf(a *anypb.Any) *extprocv3.ExternalProcessor {
	var ep extprocv3.ExternalProcessor
	if a == nil || a.UnmarshalTo(&ep) != nil {
		return nil
	}
	return &ep
}

func phaseOf(ep *extprocv3.ExternalProcessor) string {
	for _, hv := range ep.GetGrpcService().GetInitialMetadata() {
		if hv.GetKey() == contract.PhaseHeader {
			return hv.GetValue()
		}
	}
	return ""
}

// routePhase finds the connection manager whose ext_proc filter is the
// route phase.
func routePhase(bs *bootstrapv3.Bootstrap) (*hcmv3.HttpConnectionManager, *extprocv3.ExternalProcessor, error) {
	for _, l := range bs.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, nf := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if nf.GetTypedConfig() == nil || nf.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					if ep := extProcOf(hf.GetTypedConfig()); ep != nil && phaseOf(ep) == contract.PhaseRoute {
						return &hcm, ep, nil
					}
				}
			}
		}
	}
	return nil, nil, fmt.Errorf("the generated bootstrap has no route-phase ext_proc filter")
}

func firstVirtualHost(hcm *hcmv3.HttpConnectionManager) *routev3.VirtualHost {
	vhs := hcm.GetRouteConfig().GetVirtualHosts()
	if len(vhs) == 0 {
		return nil
	}
	return vhs[0]
}

// attemptPhase finds provider's cluster, its first priority-0 endpoint and
// its attempt-phase ext_proc filter.
func attemptPhase(bs *bootstrapv3.Bootstrap, provider string) (*clusterv3.Cluster, *endpointv3.LbEndpoint, *extprocv3.ExternalProcessor, error) {
	for _, cl := range bs.GetStaticResources().GetClusters() {
		for _, loc := range cl.GetLoadAssignment().GetEndpoints() {
			if loc.GetPriority() != 0 {
				continue
			}
			for _, ep := range loc.GetLbEndpoints() {
				md := ep.GetMetadata().GetFilterMetadata()[contract.EndpointNamespace]
				if md.GetFields()[contract.EndpointProviderKey].GetStringValue() != provider {
					continue
				}
				var po upstreamhttpv3.HttpProtocolOptions
				a := cl.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
				if a == nil || a.UnmarshalTo(&po) != nil {
					return nil, nil, nil, fmt.Errorf("cluster %s has no HttpProtocolOptions", cl.GetName())
				}
				for _, hf := range po.GetHttpFilters() {
					if x := extProcOf(hf.GetTypedConfig()); x != nil && phaseOf(x) == contract.PhaseAttempt {
						return cl, ep, x, nil
					}
				}
				return nil, nil, nil, fmt.Errorf("cluster %s has no attempt-phase ext_proc filter", cl.GetName())
			}
		}
	}
	return nil, nil, nil, fmt.Errorf("no cluster has an endpoint of provider %q", provider)
}

// AIGWBackend is the backend name the aigw profile's upstream host
// metadata carries; AIGWConfig's backends are named after it.
const AIGWBackend = "openai"

// AIGW is Envoy AI Gateway's shape (internal/extensionserver at c217da8,
// post_translate_modify.go): the router-level filter
// (insertRouterLevelAIGatewayExtProc: request headers SEND, request body
// BUFFERED, response headers SEND, response body BUFFERED, receiving
// namespace aigateway.envoy.io, allow_mode_override) and the upstream
// filter on the backend's cluster (request headers SEND only, request
// body NONE, response SKIP/NONE, four request_attributes naming the
// backend, the host and the route). Envoy evaluates those attributes from
// the host, cluster and route metadata AI Gateway's controller writes
// (the backend name under aigateway.envoy.io per_route_rule_backend_name).
func AIGW(sh Shape) *Profile {
	const ns = "aigateway.envoy.io"
	body := ChatBody(sh.Model, sh.BodyBytes, sh.Events > 0)
	route := &Filter{
		Name: "aigw-router",
		Mode: Mode{RequestHeader: extprocv3.ProcessingMode_SEND, RequestBody: extprocv3.ProcessingMode_BUFFERED,
			ResponseHeader: extprocv3.ProcessingMode_SEND, ResponseBody: extprocv3.ProcessingMode_BUFFERED},
		ReceiveNamespaces: []string{ns},
		AllowModeOverride: true,
	}
	upstream := &Filter{
		Name: "aigw-upstream",
		Mode: Mode{RequestHeader: extprocv3.ProcessingMode_SEND, RequestBody: extprocv3.ProcessingMode_NONE,
			ResponseHeader: extprocv3.ProcessingMode_SKIP, ResponseBody: extprocv3.ProcessingMode_NONE},
		ReceiveNamespaces: []string{ns},
		AllowModeOverride: true,
		RequestAttributes: map[string]*structpb.Value{
			"xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']": structpb.NewStringValue(AIGWBackend),
			"xds.cluster_metadata.filter_metadata['aigateway.envoy.io']['per_route_rule_backend_name']":       structpb.NewStringValue(AIGWBackend),
			"xds.upstream_host_metadata.filter_metadata['aigateway.envoy.io']['upstream_host']":               structpb.NewStringValue("api.openai.com"),
			"xds.route_metadata.filter_metadata['aigateway.envoy.io']['aigw_route_name']":                     structpb.NewStringValue("default/load"),
		},
	}
	rh, chunks := answer(sh.Model, sh)
	return &Profile{
		Name:    "aigw",
		Route:   route,
		Attempt: upstream,
		Request: clientHeaders("/v1/chat/completions", body),
		Body:    body,
		Router: func(h *Headers) {
			h.set("x-envoy-expected-rq-timeout-ms", "60000")
			h.set(":authority", "api.openai.com")
		},
		ResponseHeaders: rh,
		Chunks:          chunks,
	}
}

// AIGWConfig is an Envoy AI Gateway filter configuration
// (internal/filterapi Config) with one OpenAI backend per target, the
// first named AIGWBackend.
func AIGWConfig(targets int) []byte {
	var b strings.Builder
	b.WriteString("version: dev\nuuid: load\nbackends:\n")
	for i := range max(targets, 1) {
		name := AIGWBackend
		if i > 0 {
			name = fmt.Sprintf("%s-%d", AIGWBackend, i+1)
		}
		fmt.Fprintf(&b, "  - name: %s\n    schema: {name: OpenAI, prefix: v1}\n    auth: {apiKey: {key: sk-provider-key}}\n", name)
	}
	return []byte(b.String())
}

// LLMFailoverConfig is a configuration for this project's server: one
// chain serving model with targets OpenAI targets (providers p1..pN),
// the gRPC and admin addresses given, keys from LOADGEN_PROVIDER_KEY.
func LLMFailoverConfig(model string, targets int, grpcAddr, adminAddr string) []byte {
	var b strings.Builder
	b.WriteString("providers:\n")
	n := max(targets, 1)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {name: p%d, api: openai, host: api.openai.com, auth: {key_env: LOADGEN_PROVIDER_KEY}}\n", i)
	}
	fmt.Fprintf(&b, "chains:\n  - name: load\n    match: {models: [%s]}\n    targets:\n", model)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "      - {provider: p%d, model: gpt-4o-mini}\n", i)
	}
	fmt.Fprintf(&b, "limits: {max_body_bytes: 4MiB, max_targets: %d}\n", max(n, 8))
	fmt.Fprintf(&b, "server: {grpc_address: %q, admin_address: %q}\n", grpcAddr, adminAddr)
	return []byte(b.String())
}
