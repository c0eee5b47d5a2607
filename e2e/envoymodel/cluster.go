package envoymodel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	upstreamcodecv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/upstream_codec/v3"
	httpupv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// cluster is a compiled static cluster.
type cluster struct {
	name      string
	endpoints []*endpoint
	rr        atomic.Uint64
	h2        bool
	// filters are the upstream HTTP filters (HttpProtocolOptions.http_filters)
	// before the upstream codec.
	filters        []*extProcConfig
	connectTimeout time.Duration
	transport      *http.Transport
	rawFilters     []*httpFilterSpec
}

type httpFilterSpec struct {
	name string
	pb   *extprocv3.ExternalProcessor
}

// endpoint is one lb_endpoint: its address, hostname and metadata.
type endpoint struct {
	addr     string
	network  string // "unix" for a pipe address, else "tcp"
	hostname string
	md       *corev3.Metadata
}

// connectError marks a failure to establish the upstream connection
// (Envoy's "connection failure" reset reason, retried by connect-failure).
type connectError struct{ err error }

func (e *connectError) Error() string { return "connection failure: " + e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

func (m *Model) compileCluster(c *clusterv3.Cluster) (*cluster, error) {
	cl := &cluster{name: c.GetName(), connectTimeout: 5 * time.Second}
	// cluster.proto connect_timeout, default 5s.
	if d := c.GetConnectTimeout(); d != nil {
		cl.connectTimeout = d.AsDuration()
	}
	// Endpoints: the lowest priority level present is used, round robin
	// (guess: the model has no health checking, so higher priorities never
	// receive traffic).
	best := uint32(1<<32 - 1)
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		if le.GetPriority() < best {
			best = le.GetPriority()
		}
	}
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		if le.GetPriority() != best {
			continue
		}
		for _, lb := range le.GetLbEndpoints() {
			ep := lb.GetEndpoint()
			sa := ep.GetAddress().GetSocketAddress()
			if sa == nil {
				if p := ep.GetAddress().GetPipe(); p != nil {
					cl.endpoints = append(cl.endpoints, &endpoint{addr: p.GetPath(), network: "unix", hostname: ep.GetHostname(), md: lb.GetMetadata()})
				}
				continue
			}
			cl.endpoints = append(cl.endpoints, &endpoint{
				addr:     net.JoinHostPort(sa.GetAddress(), itoa(int64(sa.GetPortValue()))),
				hostname: ep.GetHostname(),
				md:       lb.GetMetadata(),
			})
		}
	}
	if c.GetTransportSocket() != nil {
		m.warn("cluster %q: transport_socket %q not modelled; the model speaks plain HTTP to its endpoints", cl.name, c.GetTransportSocket().GetName())
	}
	// Deprecated cluster.http2_protocol_options selects HTTP/2.
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

// pick returns the next endpoint, round robin (the cluster's default
// lb_policy ROUND_ROBIN).
func (c *cluster) pick() (*endpoint, error) {
	if len(c.endpoints) == 0 {
		return nil, errors.New("no healthy upstream")
	}
	n := c.rr.Add(1) - 1
	return c.endpoints[n%uint64(len(c.endpoints))], nil
}

func (c *cluster) close() {
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}
