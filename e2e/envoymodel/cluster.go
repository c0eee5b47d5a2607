package envoymodel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	credinjectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/credential_injector/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	httpupv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// cluster is a compiled static cluster.
type cluster struct {
	name string
	// levels are the load_assignment's priorities, lowest first.
	levels []*priorityLevel
	h2     bool
	// filters are the upstream HTTP filters (HttpProtocolOptions.http_filters)
	// before the upstream codec.
	filters []*extProcConfig
	// injectors are the credential_injector upstream filters, each placed
	// after its count of ext_proc filters.
	injectors      []*credInjector
	connectTimeout time.Duration
	transport      *http.Transport
	rawFilters     []*httpFilterSpec
	// maxRequests is circuit_breakers.thresholds[DEFAULT].max_requests
	// (cluster/v3/circuit_breaker.proto, default 1024); active counts the
	// requests (streams) open on the cluster.
	maxRequests int64
	active      atomic.Int64
	// maxRetries is thresholds[DEFAULT].max_retries (default 3), the
	// retries in progress whose first attempt went to this cluster;
	// retries counts them.
	maxRetries int64
	retries    atomic.Int64
	// children, set on an aggregate cluster (envoy.clusters.aggregate),
	// are the clusters it balances over, in priority order; their hosts
	// serve its requests.
	children []string
	// retryPolicy is HttpProtocolOptions.retry_policy, nil when unset.
	retryPolicy *routev3.RetryPolicy
	// m resolves an aggregate's children.
	m *Model
}

// priorityLevel is one priority of a load assignment: its lb_endpoints and
// the round robin position among the hosts they resolve to.
type priorityLevel struct {
	priority  uint32
	endpoints []*lbEndpoint
	rr        atomic.Uint64
}

// lbEndpoint is a configured lb_endpoint: a pipe, an IP (STATIC) or a DNS
// name (STRICT_DNS, LOGICAL_DNS) resolved when a host is picked.
type lbEndpoint struct {
	network  string // "unix" for a pipe, else "tcp"
	address  string // IP, DNS name or pipe path
	port     string
	hostname string // endpoint.hostname
	md       *corev3.Metadata
	// dns: the address is resolved (STRICT_DNS: every address is a host;
	// LOGICAL_DNS: the first address is the one logical host).
	dns     bool
	logical bool
}

type httpFilterSpec struct {
	name string
	pb   *extprocv3.ExternalProcessor
}

// endpoint is one host picked for a request: its dial address, hostname and
// metadata.
type endpoint struct {
	addr     string
	network  string // "unix" for a pipe address, else "tcp"
	hostname string
	md       *corev3.Metadata
	// cluster is the cluster whose load assignment holds the host (an
	// aggregate's child); its connection settings and max_requests apply.
	cluster *cluster
	// priority is the host's priority in that cluster.
	priority uint32
}

// connectError marks a failure to establish the upstream connection
// (Envoy's "connection failure" reset reason, retried by connect-failure).
type connectError struct{ err error }

func (e *connectError) Error() string { return "connection failure: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// errNoHealthyUpstream: no priority of the cluster has a host.
var errNoHealthyUpstream = errors.New("no healthy upstream")

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

func (m *Model) compileCluster(c *clusterv3.Cluster) (*cluster, error) {
	cl := &cluster{name: c.GetName(), connectTimeout: 5 * time.Second, m: m}
	// cluster.proto connect_timeout, default 5s.
	if d := c.GetConnectTimeout(); d != nil {
		cl.connectTimeout = d.AsDuration()
	}
	if err := m.compileClusterType(cl, c); err != nil {
		return nil, err
	}
	if cl.children == nil {
		if err := m.compileEndpoints(cl, c); err != nil {
			return nil, err
		}
	}
	// upstream_impl.cc ClusterInfoImpl::ResourceManagers::load: defaults
	// max_requests 1024, max_retries 3.
	cl.maxRequests, cl.maxRetries = 1024, 3
	for _, th := range c.GetCircuitBreakers().GetThresholds() {
		if th.GetPriority() != corev3.RoutingPriority_DEFAULT {
			continue
		}
		if th.GetMaxRequests() != nil {
			cl.maxRequests = int64(th.GetMaxRequests().GetValue())
		}
		if th.GetMaxRetries() != nil {
			cl.maxRetries = int64(th.GetMaxRetries().GetValue())
		}
		if rb := th.GetRetryBudget(); rb != nil {
			// resource_manager_impl.h RetryBudgetImpl: the limit is the larger
			// of budget_percent of the active requests and
			// min_retry_concurrency (default 3); the model keeps only the
			// floor, the stricter side.
			cl.maxRetries = 3
			if v := rb.GetMinRetryConcurrency(); v != nil {
				cl.maxRetries = int64(v.GetValue())
			}
			m.warn("cluster %q: retry_budget modelled as its min_retry_concurrency (%d) only", cl.name, cl.maxRetries)
		}
		// max_pending_requests and max_connections are not modelled: the
		// model has no pending queue and no connection limit.
	}
	if c.GetTransportSocket() != nil {
		m.warn("cluster %q: transport_socket %q not modelled; the model speaks plain HTTP to its endpoints", cl.name, c.GetTransportSocket().GetName())
	}
	// Deprecated cluster.http2_protocol_options selects HTTP/2.
	//lint:ignore SA1019 Envoy 1.40 still honours the deprecated field, so the model must too
	if c.GetHttp2ProtocolOptions() != nil {
		cl.h2 = true
	}
	if any := c.GetTypedExtensionProtocolOptions()[httpProtocolOptionsKey]; any != nil {
		hpo := &httpupv3.HttpProtocolOptions{}
		if err := any.UnmarshalTo(hpo); err != nil {
			return nil, fmt.Errorf("envoymodel: cluster %q: %w", cl.name, err)
		}
		if e := hpo.GetExplicitHttpConfig(); e != nil && e.GetHttp2ProtocolOptions() != nil {
			cl.h2 = true
		}
		// HttpProtocolOptions.retry_policy replaces the route's retry policy
		// for requests whose first attempt goes to this cluster
		// (router.cc Filter::getEffectiveRetryPolicy, present at f1dd21b16c).
		cl.retryPolicy = hpo.GetRetryPolicy()
		if hpo.GetAutoConfig() != nil {
			// auto_config negotiates with ALPN; without TLS it is HTTP/1.1
			// (source/common/http/mixed_conn_pool.cc).
			m.warn("cluster %q: auto_config modelled as HTTP/1.1", cl.name)
		}
		fs := hpo.GetHttpFilters()
		for i, f := range fs {
			tc := f.GetTypedConfig()
			switch {
			case tc != nil && tc.MessageIs(&upstreamcodecv3.UpstreamCodec{}):
				// upstream_codec must be the last upstream filter
				// (source/common/router/upstream_codec_filter.cc; Envoy rejects others).
				if i != len(fs)-1 {
					return nil, fmt.Errorf("envoymodel: cluster %q: upstream_codec is not the last upstream filter", cl.name)
				}
			case tc != nil && tc.MessageIs(&extprocv3.ExternalProcessor{}):
				pb := &extprocv3.ExternalProcessor{}
				if err := tc.UnmarshalTo(pb); err != nil {
					return nil, err
				}
				cl.rawFilters = append(cl.rawFilters, &httpFilterSpec{name: f.GetName(), pb: pb})
			case tc != nil && tc.MessageIs(&credinjectorv3.CredentialInjector{}):
				pb := &credinjectorv3.CredentialInjector{}
				if err := tc.UnmarshalTo(pb); err != nil {
					return nil, err
				}
				ci, err := compileCredInjector(f.GetName(), pb)
				if err != nil {
					return nil, fmt.Errorf("envoymodel: cluster %q: %w", cl.name, err)
				}
				ci.after = len(cl.rawFilters)
				cl.injectors = append(cl.injectors, ci)
			default:
				m.warn("cluster %q: upstream filter %q not modelled, skipped", cl.name, f.GetName())
			}
			if i == len(fs)-1 && (tc == nil || !tc.MessageIs(&upstreamcodecv3.UpstreamCodec{})) {
				return nil, fmt.Errorf("envoymodel: cluster %q: the last upstream filter must be upstream_codec", cl.name)
			}
		}
	}
	dialer := &net.Dialer{Timeout: cl.connectTimeout}
	var protos http.Protocols
	if cl.h2 {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	cl.transport = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := loopbackOnly(addr); err != nil {
				return nil, &connectError{err}
			}
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &connectError{err}
			}
			return c, nil
		},
		Protocols:           &protos,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}
	return cl, nil
}

// compileUpstreamFilters runs after every cluster is known (the ext_proc
// gRPC cluster may come later in the file).
func (m *Model) compileUpstreamFilters() error {
	for _, cl := range m.clusters {
		for _, f := range cl.rawFilters {
			ec, err := m.compileExtProc(f.name, f.pb)
			if err != nil {
				return fmt.Errorf("envoymodel: cluster %q: %w", cl.name, err)
			}
			ec.upstream = true
			cl.filters = append(cl.filters, ec)
		}
	}
	return nil
}

// compileEndpoints reads the load assignment. STATIC endpoints must be IPs
// or pipes; STRICT_DNS and LOGICAL_DNS names are resolved when a host is
// picked. LOGICAL_DNS must have exactly one locality_lb_endpoints with one
// lb_endpoint and its priority is rewritten to 0
// (source/extensions/clusters/logical_dns/logical_dns_cluster.cc
// LogicalDnsCluster::create and convertPriority; dns_cluster.cc has the same
// check).
func (m *Model) compileEndpoints(cl *cluster, c *clusterv3.Cluster) error {
	typ := c.GetType()
	las := c.GetLoadAssignment().GetEndpoints()
	if typ == clusterv3.Cluster_LOGICAL_DNS && (len(las) != 1 || len(las[0].GetLbEndpoints()) != 1) {
		return fmt.Errorf("envoymodel: cluster %q: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint", cl.name)
	}
	switch typ {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
	default:
		m.warn("cluster %q: type %s modelled as STATIC", cl.name, typ)
	}
	byPriority := map[uint32]*priorityLevel{}
	for _, la := range las {
		prio := la.GetPriority()
		if typ == clusterv3.Cluster_LOGICAL_DNS {
			prio = 0
		}
		lvl := byPriority[prio]
		if lvl == nil {
			lvl = &priorityLevel{priority: prio}
			byPriority[prio] = lvl
			cl.levels = append(cl.levels, lvl)
		}
		for _, lb := range la.GetLbEndpoints() {
			ep := lb.GetEndpoint()
			e := &lbEndpoint{network: "tcp", hostname: ep.GetHostname(), md: lb.GetMetadata()}
			if p := ep.GetAddress().GetPipe(); p != nil {
				e.network, e.address = "unix", p.GetPath()
				lvl.endpoints = append(lvl.endpoints, e)
				continue
			}
			sa := ep.GetAddress().GetSocketAddress()
			if sa == nil {
				return fmt.Errorf("envoymodel: cluster %q: endpoint without a socket address or pipe", cl.name)
			}
			e.address, e.port = sa.GetAddress(), itoa(int64(sa.GetPortValue()))
			switch typ {
			case clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
				e.dns, e.logical = true, typ == clusterv3.Cluster_LOGICAL_DNS
				if e.hostname == "" {
					// dns_cluster.cc ResolveTarget: the host's hostname is the
					// endpoint's hostname, else the DNS name.
					e.hostname = e.address
				}
			default:
				if net.ParseIP(e.address) == nil {
					return fmt.Errorf("envoymodel: cluster %q: malformed IP address: %s (a STATIC cluster needs IPs)", cl.name, e.address)
				}
			}
			lvl.endpoints = append(lvl.endpoints, e)
		}
	}
	sort.Slice(cl.levels, func(i, j int) bool { return cl.levels[i].priority < cl.levels[j].priority })
	if f := c.GetLoadAssignment().GetPolicy().GetOverprovisioningFactor(); f != nil && f.GetValue() < 100 {
		m.warn("cluster %q: overprovisioning_factor below 100 is not modelled: the lowest priority with a host takes all the load", cl.name)
	}
	if len(c.GetHealthChecks()) > 0 || c.GetOutlierDetection() != nil {
		m.warn("cluster %q: health checks and outlier detection are not modelled: every host is healthy", cl.name)
	}
	return nil
}

// resolver is the model's name resolution: RFC 6761 names (localhost,
// *.localhost, *.invalid) are answered without a lookup, other names by the
// Go resolver from the hosts file only (its DNS dial is refused), so the
// model never queries a name server outside the machine.
var resolver = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("envoymodel: DNS queries are not made; only the hosts file is read")
}}

// resolve returns the addresses of a name, IPv4 first (dns_lookup_family
// V4_PREFERRED and AUTO both give a usable family; the model takes v4
// when there is one). An empty result is "no host".
func resolve(ctx context.Context, name string) []string {
	if ip := net.ParseIP(name); ip != nil {
		return []string{name}
	}
	lname := strings.ToLower(strings.TrimSuffix(name, "."))
	switch {
	case lname == "localhost" || strings.HasSuffix(lname, ".localhost"):
		return []string{"127.0.0.1"}
	case lname == "invalid" || strings.HasSuffix(lname, ".invalid"):
		return nil
	}
	addrs, err := resolver.LookupHost(ctx, name)
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	if len(v4) > 0 {
		return v4
	}
	return v6
}

// hosts resolves a priority's endpoints into its hosts
// (dns_cluster.cc: a name that does not resolve contributes no host).
func (l *priorityLevel) hosts(ctx context.Context, c *cluster) []*endpoint {
	var out []*endpoint
	for _, e := range l.endpoints {
		if !e.dns {
			addr := e.address
			if e.network == "tcp" {
				addr = net.JoinHostPort(e.address, e.port)
			}
			out = append(out, &endpoint{addr: addr, network: e.network, hostname: e.hostname, md: e.md, cluster: c, priority: l.priority})
			continue
		}
		addrs := resolve(ctx, e.address)
		if e.logical && len(addrs) > 1 {
			addrs = addrs[:1]
		}
		for _, a := range addrs {
			out = append(out, &endpoint{addr: net.JoinHostPort(a, e.port), network: "tcp", hostname: e.hostname, md: e.md, cluster: c, priority: l.priority})
		}
	}
	return out
}

func (c *cluster) close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}

// loopbackOnly refuses to dial outside 127.0.0.0/8 and ::1: a name that
// resolves elsewhere is a host the model will not reach (a connection
// failure), never a real request off the machine.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("envoymodel: refusing to connect to %s outside the loopback network", addr)
	}
	return nil
}
