package envoymodel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/grpc"
	"sigs.k8s.io/yaml"
)

// Options configures a Model. The zero value works.
type Options struct {
	// Listen is the address the listener binds; default "127.0.0.1:0". The
	// listener's own socket_address in the bootstrap is ignored.
	Listen string
	// Logger receives the model's debug log; nil discards.
	Logger *slog.Logger
	// Rand returns random values for the cluster specifier and the retry
	// backoff jitter; nil uses math/rand/v2.
	Rand func() uint64
	// Version is the Envoy version played: "1.38", "1.39" or "1.40"
	// (Versions); empty means "1.40". A config setting a field or
	// typed_config type or enum value the version lacks (absent_api.txt) is
	// refused, and the rules that differ between versions follow the
	// version (see doc.go).
	Version string
	// Backport45355 plays, on "1.38", a 1.38.x build carrying the backport
	// (#46952) of Envoy #45355: a STREAMED headers answer does not continue
	// the held response headers, as on 1.39 and 1.40. v1.38.0 itself lacks
	// it; whether Istio 1.30's Envoy has it is not known. Ignored on other
	// versions, which have it.
	Backport45355 bool
	// Listeners are sockets already bound for the bootstrap's other
	// listeners, by listener name, served instead of binding the
	// listener's configured address (whose port must be the socket's).
	// Tests bind 127.0.0.1:0 first and write the port into the config, so
	// parallel tests never race for a port. Close closes those served; if
	// New fails, the caller closes them.
	Listeners map[string]net.Listener

	// listener, when set, picks the listener to model by name (the other
	// listeners' models are made this way); ln, when set, is its socket.
	listener string
	ln       net.Listener
}

// Model is a running model of one Envoy listener.
type Model struct {
	log     *slog.Logger
	rand    func() uint64
	hcm     *hcmv3.HttpConnectionManager
	routes  *routev3.RouteConfiguration
	filters []*extProcConfig // HCM ext_proc filters, in decode order
	// localReply is the HCM local_reply_config, nil when unset.
	localReply *localReplyConfig
	clusters   map[string]*cluster
	// bufferLimit is the listener's per_connection_buffer_limit_bytes
	// (listener.proto; default 1 MiB).
	bufferLimit uint64
	// suppressEnvoyHeaders is the router's suppress_envoy_headers.
	suppressEnvoyHeaders bool
	// Warnings lists the configuration the model does not model.
	Warnings []string
	// version is Options.Version with the default applied.
	version string
	// holdHeaders45355: a STREAMED headers answer leaves the response
	// headers held (Envoy #45355, in 1.39.0 and later).
	holdHeaders45355 bool
	// matchers and priorityGroups are the routes' compiled inline cluster
	// specifier plugins, by route action.
	matchers       map[*routev3.RouteAction]*clusterMatcher
	priorityGroups map[*routev3.RouteAction]*priorityGroupSpec

	ln  net.Listener
	srv *http.Server
	// listenerName is the modelled listener; others are the models of the
	// bootstrap's other HCM listeners, each on its configured address.
	listenerName string
	others       []*Model

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// New builds a model from an envoy.yaml and starts serving.
func New(envoyYAML []byte, opts Options) (*Model, error) {
	boot, err := ParseBootstrap(envoyYAML)
	if err != nil {
		return nil, err
	}
	version, err := optsVersion(opts)
	if err != nil {
		return nil, err
	}
	// The YAML itself is checked, so a field the version lacks is refused
	// even when written at its default value.
	j, err := yaml.YAMLToJSON(envoyYAML)
	if err != nil {
		return nil, fmt.Errorf("envoymodel: yaml: %w", err)
	}
	if err := checkVersionFields(version, boot.ProtoReflect().Descriptor(), j); err != nil {
		return nil, err
	}
	return newModel(boot, opts, version)
}

// NewFromBootstrap builds a model from a decoded bootstrap and starts
// serving. A field the version lacks is found only when it holds a
// non-default value: New, reading the YAML, is stricter.
func NewFromBootstrap(boot *bootstrapv3.Bootstrap, opts Options) (*Model, error) {
	version, err := optsVersion(opts)
	if err != nil {
		return nil, err
	}
	if err := checkVersionMessage(version, boot); err != nil {
		return nil, err
	}
	return newModel(boot, opts, version)
}

func optsVersion(opts Options) (string, error) {
	if opts.Version == "" {
		return Version140, nil
	}
	return opts.Version, checkVersionName(opts.Version)
}

func newModel(boot *bootstrapv3.Bootstrap, opts Options, version string) (*Model, error) {
	m := &Model{
		version:          version,
		holdHeaders45355: version != Version138 || opts.Backport45355,
		listenerName:     opts.listener,
		log:              opts.Logger,
		rand:             opts.Rand,
		clusters:         map[string]*cluster{},
		bufferLimit:      1 << 20,
		conns:            map[string]*grpc.ClientConn{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.rand == nil {
		m.rand = rand.Uint64
	}
	if err := m.compile(boot); err != nil {
		m.closeConns()
		if opts.ln != nil {
			_ = opts.ln.Close()
		}
		return nil, err
	}
	addr := opts.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln := opts.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			m.closeConns()
			return nil, fmt.Errorf("envoymodel: listen: %w", err)
		}
	}
	m.ln = ln
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	m.srv = &http.Server{Handler: m, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.srv.Serve(ln) }()
	if opts.listener == "" {
		m.serveOtherListeners(boot, opts)
	}
	return m, nil
}

// serveOtherListeners models every other listener holding an HCM (for
// example llm-failover's "unavailable" listener, a direct_response 503 that
// provider clusters reach through a priority-1 endpoint) on its configured
// socket address, which must be a loopback address. One that cannot be
// served is a warning: connections to it then fail.
func (m *Model) serveOtherListeners(boot *bootstrapv3.Bootstrap, opts Options) {
	for _, l := range boot.GetStaticResources().GetListeners() {
		if l.GetName() == m.listenerName || !hasHCM(l) {
			continue
		}
		sa := l.GetAddress().GetSocketAddress()
		addr := net.JoinHostPort(sa.GetAddress(), itoa(int64(sa.GetPortValue())))
		if err := loopbackOnly(addr); err != nil {
			m.warn("listener %q: %v; not served", l.GetName(), err)
			continue
		}
		ln := opts.Listeners[l.GetName()]
		if ln != nil {
			if _, port, _ := net.SplitHostPort(ln.Addr().String()); port != itoa(int64(sa.GetPortValue())) {
				m.warn("listener %q: the socket given (%s) is not on its port %d; not served", l.GetName(), ln.Addr(), sa.GetPortValue())
				_ = ln.Close()
				continue
			}
		}
		o, err := newModel(boot, Options{Listen: addr, Logger: opts.Logger, Rand: opts.Rand, Version: m.version, Backport45355: opts.Backport45355, listener: l.GetName(), ln: ln}, m.version)
		if err != nil {
			m.warn("listener %q not served: %v", l.GetName(), err)
			continue
		}
		for _, w := range o.Warnings {
			m.warn("listener %q: %s", l.GetName(), w)
		}
		m.others = append(m.others, o)
	}
}

func hasHCM(l *listenerv3.Listener) bool {
	for _, fc := range l.GetFilterChains() {
		for _, f := range fc.GetFilters() {
			if f.GetTypedConfig() != nil && f.GetTypedConfig().MessageIs(&hcmv3.HttpConnectionManager{}) {
				return true
			}
		}
	}
	return false
}

// Addr is the listener's address (host:port).
func (m *Model) Addr() string { return m.ln.Addr().String() }

// URL is the listener's base URL.
func (m *Model) URL() string { return "http://" + m.Addr() }

// Close stops the listener, aborts the requests in flight and closes the
// gRPC connections.
func (m *Model) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := m.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = m.srv.Close()
	}
	for _, o := range m.others {
		_ = o.Close()
	}
	m.closeConns()
	for _, c := range m.clusters {
		c.close()
	}
	return err
}

func (m *Model) closeConns() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.conns {
		_ = c.Close()
		delete(m.conns, k)
	}
}

func (m *Model) warn(format string, args ...any) {
	m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
}

func (m *Model) compile(boot *bootstrapv3.Bootstrap) error {
	sr := boot.GetStaticResources()
	for _, c := range sr.GetClusters() {
		cl, err := m.compileCluster(c)
		if err != nil {
			return err
		}
		m.clusters[cl.name] = cl
	}
	if err := m.checkAggregates(); err != nil {
		return err
	}
	if err := m.compileUpstreamFilters(); err != nil {
		return err
	}
	// The first listener whose filter chain holds an HCM is modelled (or
	// the one named by Options.listener).
	for _, l := range sr.GetListeners() {
		if m.listenerName != "" && l.GetName() != m.listenerName {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetTypedConfig() == nil {
					continue
				}
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				m.hcm = hcm
				m.listenerName = l.GetName()
				// listener.proto per_connection_buffer_limit_bytes, default 1 MiB.
				if v := l.GetPerConnectionBufferLimitBytes(); v != nil {
					m.bufferLimit = uint64(v.GetValue())
				}
				break
			}
			if m.hcm != nil {
				break
			}
		}
		if m.hcm != nil {
			break
		}
	}
	if m.hcm == nil {
		return errors.New("envoymodel: no listener with an http_connection_manager")
	}
	if m.hcm.GetInternalAddressConfig() != nil {
		m.warn("http_connection_manager internal_address_config is not modelled: every request is external (its x-envoy-* control headers are stripped)")
	}
	m.routes = m.hcm.GetRouteConfig()
	if m.routes == nil {
		return errors.New("envoymodel: only an inline route_config is modelled (no RDS)")
	}
	if err := m.compileRoutes(); err != nil {
		return err
	}
	lrc, err := compileLocalReply(m.hcm.GetLocalReplyConfig())
	if err != nil {
		return err
	}
	m.localReply = lrc
	sawRouter := false
	for _, f := range m.hcm.GetHttpFilters() {
		if f.GetDisabled() {
			continue
		}
		tc := f.GetTypedConfig()
		switch {
		case tc == nil:
			m.warn("http filter %q without typed_config ignored", f.GetName())
		case tc.MessageIs(&extprocv3.ExternalProcessor{}):
			if sawRouter {
				return fmt.Errorf("envoymodel: http filter %q after the router", f.GetName())
			}
			pb := &extprocv3.ExternalProcessor{}
			if err := tc.UnmarshalTo(pb); err != nil {
				return err
			}
			ec, err := m.compileExtProc(f.GetName(), pb)
			if err != nil {
				return err
			}
			m.filters = append(m.filters, ec)
		case tc.MessageIs(&routerv3.Router{}):
			sawRouter = true
			rc := &routerv3.Router{}
			if err := tc.UnmarshalTo(rc); err != nil {
				return err
			}
			// router.proto suppress_envoy_headers: no x-envoy-upstream-service-time
			// and no x-envoy-expected-rq-timeout-ms.
			m.suppressEnvoyHeaders = rc.GetSuppressEnvoyHeaders()
		default:
			m.warn("http filter %q (%s) is not modelled and is skipped", f.GetName(), tc.GetTypeUrl())
		}
	}
	if !sawRouter {
		return errors.New("envoymodel: no envoy.filters.http.router in http_filters")
	}
	return nil
}

// ServeHTTP handles one downstream request: the HCM with its filter chain.
func (m *Model) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rs := &stream{
		m:      m,
		ctx:    r.Context(),
		start:  time.Now(),
		dynMD:  map[string]*structValue{},
		random: m.rand(),
		log:    m.log,
	}
	h := fromRequest(r)
	// conn_manager_utility.cc mutateRequestHeaders: without
	// internal_address_config no address is internal
	// (conn_manager_config.h DefaultInternalAddressConfig), so every
	// request is external and cleanInternalHeaders strips the x-envoy
	// headers a client could use to steer Envoy; with use_remote_address it
	// is also an edge request.
	edge := m.hcm.GetUseRemoteAddress().GetValue()
	rs.downstream = downstreamAddress(m.hcm, h, r.RemoteAddr)
	appendXFF(m.hcm, h, r.RemoteAddr)
	cleanInternalHeaders(h, edge, m.routes.GetInternalOnlyHeaders())
	// HCM generate_request_id (default true) adds x-request-id when absent,
	// and replaces a client's on an edge request unless
	// preserve_external_request_id (UUIDRequestIDExtension::set).
	if m.hcm.GetGenerateRequestId() == nil || m.hcm.GetGenerateRequestId().GetValue() {
		if !h.has("x-request-id") || edge && !m.hcm.GetPreserveExternalRequestId() {
			h.set("x-request-id", newUUID(m.rand))
		}
	}
	// conn_manager_utility.cc: x-forwarded-proto is set from the downstream
	// connection when absent.
	if !h.has("x-forwarded-proto") {
		h.set("x-forwarded-proto", "http")
	}
	rs.reqHeaders = h
	resp := rs.run(r)
	rs.write(w, resp)
}

// cleanInternalHeaders is conn_manager_utility.cc
// ConnectionManagerUtility::cleanInternalHeaders (1.40.0-dev cb2a49b).
func cleanInternalHeaders(h *headerMap, edge bool, internalOnly []string) {
	if edge {
		for _, k := range []string{"x-envoy-decorator-operation", "x-envoy-downstream-service-cluster",
			"x-envoy-downstream-service-node", "x-envoy-original-path", "x-envoy-original-host"} {
			h.del(k)
		}
	}
	for _, k := range []string{"x-envoy-retriable-status-codes", "x-envoy-retriable-header-names",
		"x-envoy-retry-on", "x-envoy-retry-grpc-on", "x-envoy-max-retries",
		"x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-timeout-ms",
		"x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response",
		"x-envoy-expected-rq-timeout-ms", "x-envoy-force-trace", "x-envoy-ip-tags",
		"x-envoy-original-url", "x-envoy-hedge-on-per-try-timeout"} {
		h.del(k)
	}
	for _, k := range internalOnly {
		h.del(strings.ToLower(k))
	}
}

// newUUID makes a random version 4 UUID.
func newUUID(rnd func() uint64) string {
	a, b := rnd(), rnd()
	a = (a &^ (0xf << 12)) | (4 << 12)
	b = (b &^ (0x3 << 62)) | (0x2 << 62)
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// CloseIdleConnections closes the idle upstream connections of every
// cluster (tests use it before counting goroutines).
func (m *Model) CloseIdleConnections() {
	for _, c := range m.clusters {
		c.close()
	}
	for _, o := range m.others {
		o.CloseIdleConnections()
	}
}
