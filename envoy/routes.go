package envoy

import (
	"fmt"
	"strings"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// accessLogFormat is one line per request: what was answered, which cluster
// served the last attempt, how many attempts there were, and Envoy's flags.
const accessLogFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"` +
	` status=%RESPONSE_CODE% flags=%RESPONSE_FLAGS% cluster=%UPSTREAM_CLUSTER%` +
	` attempts=%UPSTREAM_REQUEST_ATTEMPT_COUNT% upstream=%UPSTREAM_HOST% duration_ms=%DURATION%` +
	` provider=%RESP(X-LLM-FAILOVER-PROVIDER)% request_id=%REQ(X-REQUEST-ID)%` + "\n"

// notFoundBody is the OpenAI-style error answered for every unrouted path. It
// ends in a newline, which also keeps it on one line in the YAML (a literal block).
const notFoundBody = `{"error":{"message":"Unknown path: this gateway serves the OpenAI-style endpoints it is configured for.","type":"invalid_request_error","param":null,"code":"not_found"}}` + "\n"

// defaultGroups are the priority groups of the default chain (or the first
// chain): one group per target, in order, named attempt-1, attempt-2, ...
// The route phase replaces them per request; these serve when it does not.
func defaultGroups(c *config.Config) ([]*pgv3.PriorityGroup, error) {
	ch := &c.Chains[0]
	if c.DefaultChain != "" {
		if ch = c.Chain(c.DefaultChain); ch == nil {
			return nil, fmt.Errorf("%w: default_chain %q is not a configured chain", ErrGenerate, c.DefaultChain)
		}
	}
	groups := make([]*pgv3.PriorityGroup, 0, len(ch.Targets))
	for i, t := range ch.Targets {
		p := c.Provider(t.Provider)
		if p == nil {
			return nil, fmt.Errorf("%w: chain %q target %d: provider %q is not configured", ErrGenerate, ch.Name, i, t.Provider)
		}
		groups = append(groups, &pgv3.PriorityGroup{
			Name:     fmt.Sprintf("attempt-%d", i+1),
			Clusters: []*pgv3.ClusterWeight{{ClusterName: p.Cluster, Weight: u32(1)}},
		})
	}
	return groups, nil
}

// numRetries is the static fallback ceiling: the longest chain minus one
// plus the same-target retries. The route phase replaces it per request
// with x-envoy-max-retries from the request's own plan.
func numRetries(c *config.Config) uint32 {
	return uint32(c.MaxAttempts() - 1)
}

// perTryIdleTimeout is envoy.per_try_idle_timeout, or when unset the longest
// non-streamed attempt timeout: Envoy starts the per-try idle timer with the
// attempt and resets it only on response bytes
// (router/upstream_request.cc setupPerTryTimeout, resetPerTryIdleTimer), so
// a shorter value would cut a non-streamed answer still being generated.
func perTryIdleTimeout(c *config.Config) time.Duration {
	if d := c.Envoy.PerTryIdleTimeout.D(); d > 0 {
		return d
	}
	return c.LongestAttemptTimeout(false)
}

func retryPolicy(c *config.Config) *routev3.RetryPolicy {
	rp := &routev3.RetryPolicy{
		RetryOn:       retryOn,
		NumRetries:    u32(numRetries(c)),
		PerTryTimeout: durationpb.New(c.Envoy.PerTryTimeout.D()),
		RetryBackOff: &routev3.RetryPolicy_RetryBackOff{
			BaseInterval: durationpb.New(c.Envoy.RetryBaseInterval.D()),
		},
		RetriableHeaders: []*routev3.HeaderMatcher{{
			Name: contract.RetryHeader,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: contract.RetryValue},
			}},
		}},
	}
	rp.PerTryIdleTimeout = durationpb.New(perTryIdleTimeout(c))
	return rp
}

// failoverRoute sends path to the cluster the version's topology picks
// (clusterChoice). A path ending in "/" matches as a prefix, any other path
// exactly.
func failoverRoute(c *config.Config, path string, groups []*pgv3.PriorityGroup) *routev3.Route {
	match := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: path}}
	if strings.HasSuffix(path, "/") {
		match = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: path}}
	}
	action := &routev3.RouteAction{
		HostRewriteSpecifier: &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)},
		Timeout:              durationpb.New(0),
		// The stream idle timeout (HCM default 5m) sees no activity while
		// attempts wait for a non-streamed answer or fail over: bound it by
		// the longest a request's attempts can take instead.
		IdleTimeout: durationpb.New(c.RequestLifetime()),
		RetryPolicy: retryPolicy(c),
	}
	clusterChoice(c, groups, action)
	return &routev3.Route{
		Name:                   "failover " + path,
		Match:                  match,
		Action:                 &routev3.Route_Route{Route: action},
		RequestBodyBufferLimit: wrapperspb.UInt64(uint64(c.Limits.MaxBodyBytes)),
	}
}

// notFoundRoute answers every other path 404 without calling llm-failover.
func notFoundRoute() *routev3.Route {
	r := jsonDirectResponse("not found", 404, notFoundBody)
	r.TypedPerFilterConfig = map[string]*anypb.Any{
		filterExtProc: mustAny(&extprocv3.ExtProcPerRoute{Override: &extprocv3.ExtProcPerRoute_Disabled{Disabled: true}}),
	}
	return r
}

// jsonDirectResponse is a catch-all route (prefix "/") that Envoy answers
// itself with status and a JSON body.
func jsonDirectResponse(name string, status uint32, body string) *routev3.Route {
	return &routev3.Route{
		Name:  name,
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status: status,
			Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}},
		}},
		ResponseHeadersToAdd: []*corev3.HeaderValueOption{{
			Header:       &corev3.HeaderValue{Key: "content-type", Value: "application/json"},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}},
	}
}

func httpConnectionManager(c *config.Config, groups []*pgv3.PriorityGroup) (*hcmv3.HttpConnectionManager, error) {
	routes := make([]*routev3.Route, 0, len(c.Envoy.Routes)+1)
	seen := map[string]bool{}
	for _, p := range c.Envoy.Routes {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%w: envoy.routes: %q must start with '/'", ErrGenerate, p)
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		routes = append(routes, chainRetryRoutes(c, p, groups)...)
		routes = append(routes, failoverRoute(c, p, groups))
	}
	routes = append(routes, notFoundRoute())
	route := routePhaseExtProc(c)
	clientAttributes(c, route)
	hcm := &hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: routeConfigName,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:                          virtualHostName,
				Domains:                       []string{"*"},
				Routes:                        routes,
				IncludeRequestAttemptCount:    true,
				IncludeAttemptCountInResponse: true,
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: filterExtProc, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(route)}},
			{Name: filterRouter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
		LocalReplyConfig: localReplyConfig(),
		AccessLog: []*accesslogv3.AccessLog{{
			Name: accessLogStdout,
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&streamv3.StdoutAccessLog{
				AccessLogFormat: &streamv3.StdoutAccessLog_LogFormat{LogFormat: &corev3.SubstitutionFormatString{
					Format: &corev3.SubstitutionFormatString_TextFormatSource{TextFormatSource: &corev3.DataSource{
						Specifier: &corev3.DataSource_InlineString{InlineString: accessLogFormat},
					}},
				}},
			})},
		}},
	}
	clientAddress(c, hcm)
	return hcm, nil
}

// attemptMessageTimeout is the attempt phase's message_timeout: above the
// server's hold of a response's headers (server.stream_first_event_timeout)
// by envoy.attempt_message_slack, since its expiry is a local reply to the
// client that is never retried.
func attemptMessageTimeout(c *config.Config) time.Duration {
	return c.Server.StreamFirstEventTimeout.D() + c.Envoy.AttemptMessageSlack.D()
}

func extProcGRPC(phase string) *corev3.GrpcService {
	return &corev3.GrpcService{
		TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: ExtProcCluster}},
		InitialMetadata: []*corev3.HeaderValue{{Key: contract.PhaseHeader, Value: phase}},
	}
}

func namespaces(c *config.Config) *extprocv3.MetadataOptions_MetadataNamespaces {
	return &extprocv3.MetadataOptions_MetadataNamespaces{Untyped: []string{c.MetadataNamespace, contract.PlanNamespace(c.MetadataNamespace)}}
}

// routePhaseExtProc is the HCM ext_proc filter: it reads the request, plans
// the attempts and hands the plan back as dynamic metadata.
func routePhaseExtProc(c *config.Config) *extprocv3.ExternalProcessor {
	return &extprocv3.ExternalProcessor{
		GrpcService:      extProcGRPC(contract.PhaseRoute),
		FailureModeAllow: false,
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
			ResponseBodyMode:    extprocv3.ProcessingMode_NONE,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		MessageTimeout:    durationpb.New(c.Envoy.RouteMessageTimeout.D()),
		AllowModeOverride: true,
		MetadataOptions:   &extprocv3.MetadataOptions{ReceivingNamespaces: namespaces(c)},
		// The route phase bounds each request's retries and per-try timeout
		// with two x-envoy-* headers (on 1.39 it also pins
		// x-envoy-attempt-count), which the default rules refuse:
		// allow_expression is checked before allow_envoy
		// (mutation_rules.cc Checker::isAllowed).
		MutationRules: &mutationrulesv3.HeaderMutationRules{
			AllowExpression: &matcherv3.RegexMatcher{Regex: routePhaseMutationRules(c)},
		},
	}
}

// attemptPhaseExtProc is the upstream ext_proc filter of every provider
// cluster: it rewrites each attempt for its provider and judges the answer.
func attemptPhaseExtProc(c *config.Config) *extprocv3.ExternalProcessor {
	return &extprocv3.ExternalProcessor{
		GrpcService:      extProcGRPC(contract.PhaseAttempt),
		FailureModeAllow: false,
		ProcessingMode: &extprocv3.ProcessingMode{
			RequestHeaderMode:   extprocv3.ProcessingMode_SEND,
			ResponseHeaderMode:  extprocv3.ProcessingMode_SEND,
			RequestBodyMode:     extprocv3.ProcessingMode_BUFFERED,
			ResponseBodyMode:    extprocv3.ProcessingMode_STREAMED,
			RequestTrailerMode:  extprocv3.ProcessingMode_SKIP,
			ResponseTrailerMode: extprocv3.ProcessingMode_SKIP,
		},
		// The plan is a request attribute, sent once on the first message;
		// no forwarding_namespaces, which Envoy would attach to every
		// message, each response body chunk included (ext_proc.cc
		// Filter::addDynamicMetadata; docs/envoy-contract.md).
		RequestAttributes:                       contract.AttemptAttributes(c.MetadataNamespace),
		MessageTimeout:                          durationpb.New(attemptMessageTimeout(c)),
		SendBodyWithoutWaitingForHeaderResponse: true,
		ForwardRules:                            hiddenCredentials(c),
	}
}
