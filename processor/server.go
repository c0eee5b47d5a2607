package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/llm-failover/llm-failover/access"
	"github.com/llm-failover/llm-failover/affinity"
	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	"github.com/llm-failover/llm-failover/provider"
	"github.com/llm-failover/llm-failover/routing"
	"github.com/llm-failover/llm-failover/telemetry"
)

// Options configure a Server. Config is required; the rest may be zero.
type Options struct {
	// Config is the validated configuration (config.Parse or config.Load).
	Config *config.Config
	// Clock drives the breakers, latencies and the attempt phase's hold
	// timers (when it makes timers, clock.Timers; else holds run on the wall
	// clock); nil means the wall clock.
	Clock clock.Clock
	// Logger receives one JSON line per notable event; nil discards.
	Logger *slog.Logger
	// Rand draws recovery-share admissions; nil means math/rand/v2.
	Rand func() float64
	// OnStateChange observes every breaker transition (after it was logged).
	OnStateChange func(breaker.Transition)
	// Telemetry records the metrics and spans; nil makes one from
	// Config.Telemetry that exports nothing (its /metrics still works).
	Telemetry *telemetry.Telemetry
	// Events receives the audit trail (processor/audit.go, docs/audit.md);
	// nil publishes nothing.
	Events *events.Bus
	// AffinityStore remembers each conversation's target (affinity.go);
	// nil means an in-process affinity.Local bounded by
	// affinity.max_conversations.
	AffinityStore affinity.Store
}

// Server is the ext_proc service for both phases. It is safe for concurrent
// streams; each stream is one state machine owned by one goroutine.
type Server struct {
	extprocv3.UnimplementedExternalProcessorServer

	state    atomic.Pointer[state]
	registry *routing.Registry
	traces   *traceStore
	clock    clock.Clock
	log      *slog.Logger
	rand     func() float64
	events   *events.Bus           // the audit trail (audit.go); nil: none
	judge    provider.QualityJudge // quality checks' schema cache (quality.go)

	tel      *telemetry.Telemetry // metrics and spans (metrics.go, observe.go)
	limiter  *access.Limiter      // the clients' rate and token windows, across reloads
	hosts    sync.Map             // xds.upstream_host_metadata text -> provider name
	hostsLen atomic.Int64

	snaps snapshots  // the current configuration and those plans in flight were made with
	stats statsStore // each target's attempt statistics (adminstats.go)
	leads leadStore  // the plans each target led, per chain (leads.go)
	// planKeys sign the plans the route phase publishes (plansig.go).
	planKeys *planKeys
	aff      serverAffinity // conversation affinity (affinity.go)

	mu         sync.Mutex
	draining   bool
	idle       chan struct{} // closed once draining with no stream left
	idleClosed bool
	// streams counts the streams admitted and not yet ended; it changes
	// under mu, and is atomic so the metrics read it without the lock.
	streams atomic.Int64

	// msgLimits are the gRPC message limits fixed at New (grpc.NewServer
	// takes them once): a reload may not need larger ones.
	msgLimits MessageLimits
}

var _ extprocv3.ExternalProcessorServer = (*Server)(nil)

// state is one immutable configuration snapshot: a stream keeps the one it
// started with, and an attempt stream the one its plan was made with.
type state struct {
	cfg       *config.Config
	table     *routing.Table
	endpoints map[string]*endpoint // by provider name
	gen       uint64               // generationOf(cfg): the plan's "gen"
	// credHeaders are the headers every attempt removes unless it sets
	// them: provider.CredentialHeaders and every provider's auth.header.
	// The attempt phase need not see them: Envoy keeps the header of a key
	// it injects from the attempt phase (forward_rules), though an earlier
	// attempt left it in the shared header map.
	credHeaders []string
	access      *access.Policy // the clients section, compiled
	// shapes are the 1.38 shape clusters envoy-config generates for cfg
	// (contract.ShapeCluster of each config.Shapes); nil on other versions.
	shapes map[string]bool
	keyer  *affinity.Keyer // names conversations (affinity.go)
}

// endpoint is a provider with its credential. Its adapter depends on the
// request's client API: ClientAPI.Adapter(cfg.API) (dispatch.go).
type endpoint struct {
	ep  provider.Endpoint
	cfg *config.Provider
}

// New builds a server from opts. It reads every provider key now, so a
// missing key fails at start, not on the first request.
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("processor: Options.Config is required")
	}
	s := &Server{clock: opts.Clock, log: opts.Logger, rand: opts.Rand, idle: make(chan struct{}), limiter: access.NewLimiter(), events: opts.Events}
	if s.clock == nil {
		s.clock = clock.Wall{}
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.registry = routing.NewRegistry(s.clock, func(t breaker.Transition) {
		s.log.Info("breaker state change", "target", t.Name, "from", t.From.String(), "to", t.To.String(),
			"reason", t.Reason, timeAttr("until", t.Until))
		s.observeTransition(t)
		s.auditTransition(t)
		if opts.OnStateChange != nil {
			opts.OnStateChange(t)
		}
	})
	s.registry.OnRegionChange(s.regionChanged)
	pk, err := newPlanKeys()
	if err != nil {
		return nil, fmt.Errorf("processor: plan key: %w", err)
	}
	s.planKeys = pk
	if s.tel, err = newTelemetry(opts); err != nil {
		return nil, err
	}
	if err := s.initAffinity(opts); err != nil {
		return nil, err
	}
	s.stats.samples = opts.Config.Admin.TTFBSamples
	s.traces = newTraceStore(opts.Config.Trace.MaxEntries, opts.Config.Trace.TTL.D())
	s.msgLimits = MessageLimitsFor(opts.Config)
	if err := s.Reload(opts.Config); err != nil {
		return nil, err
	}
	if err := s.observeGauges(); err != nil {
		return nil, fmt.Errorf("processor: metrics: %w", err)
	}
	return s, nil
}

// Reload swaps in a new configuration. Streams already running keep the
// snapshot they started with, attempts of plans made before the reload run
// on the snapshot their plan was made with (see snapshots), and breakers of
// targets that still exist keep their state.
func (s *Server) Reload(cfg *config.Config) error {
	st := &state{cfg: cfg, endpoints: map[string]*endpoint{}, credHeaders: slices.Clone(provider.CredentialHeaders), shapes: shapeSet(cfg)}
	var errs []error
	if need := MessageLimitsFor(cfg); need.Recv > s.msgLimits.Recv || need.Send > s.msgLimits.Send {
		errs = append(errs, fmt.Errorf("processor: limits.max_body_bytes %s needs gRPC messages of up to %d bytes, above the %d fixed at start: restart llm-failover to raise it",
			cfg.Limits.MaxBodyBytes, need.Recv, s.msgLimits.Recv))
	}
	planKey, err := s.planKeys.keyFor(cfg)
	if err != nil {
		errs = append(errs, fmt.Errorf("processor: %w", err))
	}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		if _, err := provider.For(p.API); err != nil {
			errs = append(errs, fmt.Errorf("processor: provider %q: %w", p.Name, err))
			continue
		}
		// A key held by Envoy (auth.held_by: envoy) is not read here: ""
		// makes the adapters set no credential header, and the attempt
		// still removes every credential header (requestBody).
		key, err := p.Auth.ReadKey()
		if err != nil {
			errs = append(errs, fmt.Errorf("processor: provider %q: %w", p.Name, err))
			continue
		}
		value := key
		if key != "" && p.Auth.Scheme != "" {
			value = p.Auth.Scheme + " " + key
		}
		if !slices.Contains(st.credHeaders, p.Auth.Header) {
			st.credHeaders = append(st.credHeaders, p.Auth.Header)
		}
		st.endpoints[p.Name] = &endpoint{cfg: p, ep: provider.Endpoint{
			Name: p.Name, API: p.API, BasePath: p.BasePath, APIVersion: p.APIVersion,
			AuthHeader: p.Auth.Header, AuthValue: value,
			Reasoning: p.Reasoning, StructuredOutput: p.StructuredOutput,
		}}
	}
	pol, err := access.Compile(&cfg.Clients)
	if err != nil {
		errs = append(errs, fmt.Errorf("processor: %w", err))
	}
	st.access = pol
	if st.keyer, err = s.affinityKeyer(cfg); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.limiter.Retain(st.access)
	s.resizeAffinity(cfg)
	s.planKeys.set(planKey)
	st.table = routing.NewTable(cfg, s.registry, s.rand)
	st.gen = generationOf(cfg)
	s.snaps.add(st, s.clock.Now())
	s.state.Store(st)
	return nil
}

// grpcHeadroom (1 MiB) is the room a gRPC message needs beyond a body: the request
// headers (Envoy's limit is 60 KiB by default), attributes, the forwarded
// plan metadata and the protobuf framing.
const grpcHeadroom = 1 << 20

// MessageLimits are the largest gRPC messages the server receives and sends.
type MessageLimits struct{ Recv, Send int }

// MessageLimitsFor sizes the gRPC message limits from c: a message carries at
// most one request body (limits.max_body_bytes; Envoy answers 413 above it)
// plus headers and metadata. A sent body may be a translation, which can be
// larger than what came in: the send limit is twice the body limit plus the
// headroom. grpc-go's defaults (4 MiB received) would refuse a body at or
// near a limit above about 4 MiB, and Envoy's gRPC client has no limit.
// Smaller body limits still get the limits of the default
// (config.DefaultMaxBodyBytes), so a reload back to it needs no restart.
func MessageLimitsFor(c *config.Config) MessageLimits {
	body := max(int(c.Limits.MaxBodyBytes), config.DefaultMaxBodyBytes)
	return MessageLimits{Recv: body + grpcHeadroom, Send: 2*body + grpcHeadroom}
}

// GRPCServerOptions are the grpc.NewServer options the server needs: its
// message limits, and streamWorkers.
func (s *Server) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(s.msgLimits.Recv), grpc.MaxSendMsgSize(s.msgLimits.Send),
		grpc.NumStreamWorkers(streamWorkers)}
}

// streamWorkers is the number of goroutines grpc-go keeps to run streams
// (grpc.NumStreamWorkers, experimental). A stream runs Process on one
// goroutine, whose stack grows to hold a message's unmarshal and the
// handlers (runtime.newstack was 5-10% of the CPU of BenchmarkPhasesGRPC
// with a fresh goroutine per stream); a worker keeps its grown stack for
// the next stream (grpc-go resets it every 65536 streams). A stream that
// finds every worker busy gets a goroutine of its own, as without workers:
// this is no limit. Both phases hold their streams for a whole request, so
// 256 covers about 128 requests in flight; idle workers cost their stacks
// (a few MB in all).
const streamWorkers = 256

// Registry exposes the breakers (for the status page and metrics).
func (s *Server) Registry() *routing.Registry { return s.registry }

// Streams returns the number of ext_proc streams in flight.
func (s *Server) Streams() int64 { return s.streams.Load() }

// Drain stops accepting new requests and waits until the running streams
// end or ctx is done. Only route-phase streams (new requests) are refused:
// attempt streams keep being served, during and after Drain, so that a
// request planned before the drain still reaches its next target when it
// fails over (an attempt-phase error would reach the client at once, see
// docs/envoy-contract.md). The gRPC server's own stop ends them.
func (s *Server) Drain(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.closeIdleLocked()
	s.mu.Unlock()
	select {
	case <-s.idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("processor: drain: %d streams still running: %w", s.streams.Load(), ctx.Err())
	}
}

// admit counts a new stream of phase in, or refuses it while draining
// (route phase only).
func (s *Server) admit(phase string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining && phase != contract.PhaseAttempt {
		return false
	}
	s.streams.Add(1)
	return true
}

// done counts an admitted stream out.
func (s *Server) done() {
	s.mu.Lock()
	s.streams.Add(-1)
	s.closeIdleLocked()
	s.mu.Unlock()
}

func (s *Server) closeIdleLocked() {
	if s.draining && s.streams.Load() == 0 && !s.idleClosed {
		s.idleClosed = true
		close(s.idle)
	}
}

// handler is one stream's state machine. Every method runs on the stream's
// owner goroutine.
type handler interface {
	// handle answers one message; it may answer none (holding) or several
	// (releasing held messages).
	handle(req *extprocv3.ProcessingRequest) ([]*extprocv3.ProcessingResponse, error)
	// deadline is the channel of the hold timer, nil when not holding.
	deadline() <-chan time.Time
	// expire is called when the hold timer fires.
	expire() ([]*extprocv3.ProcessingResponse, error)
	// end is called once when the stream ends; err is nil on a clean end.
	end(err error)
	// done reports that the stream has nothing left to do: Process then
	// closes it with OK after sending the answers it has. In STREAMED mode
	// that releases response headers Envoy would otherwise hold until the
	// next body chunk (docs/envoy-contract.md, attempt phase).
	done() bool
}

// Process serves one ext_proc stream. A panic in a stream's state machine
// (a bug) ends that stream with codes.Internal and a log line; the server and
// its other streams go on.
func (s *Server) Process(stream extprocv3.ExternalProcessor_ProcessServer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("ext_proc stream panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "llm-failover: internal error")
		}
	}()
	ctx := stream.Context()
	phase := contract.PhaseRoute
	// One key, not a copy of all the stream's metadata (FromIncomingContext).
	if v := metadata.ValueFromIncomingContext(ctx, contract.PhaseHeader); len(v) > 0 {
		phase = v[0]
	}
	if !s.admit(phase) {
		return status.Error(codes.Unavailable, "llm-failover is draining")
	}
	defer s.done()

	st := s.state.Load()
	var h handler
	switch phase {
	case contract.PhaseRoute:
		h = newRouteStream(s, st)
	case contract.PhaseAttempt:
		as := newAttemptStream(s, st)
		if p, ok := peer.FromContext(ctx); ok {
			as.peer = p.Addr // printed only by a refusal's log line
		}
		h = as
	default:
		s.log.Error("unknown phase", "phase", phase)
		return status.Errorf(codes.InvalidArgument, "llm-failover: unknown %s %q (want %q or %q)", contract.PhaseHeader, phase, contract.PhaseRoute, contract.PhaseAttempt)
	}

	rx := receiver{stream: stream}
	defer rx.close()
	// reply sends h's answers and reports whether the stream ends, and how.
	reply := func(resps []*extprocv3.ProcessingResponse) (bool, error) {
		for _, r := range resps {
			if err := stream.Send(r); err != nil {
				h.end(err)
				return true, err
			}
		}
		if h.done() {
			h.end(nil)
			return true, nil
		}
		return false, nil
	}
	for {
		var m received
		if dl := h.deadline(); dl == nil && !rx.pending {
			// Nothing to wait for but the next message: receive on this
			// goroutine (a canceled stream's Recv returns its error).
			m.req, m.err = stream.Recv()
		} else {
			rx.ask()
			select {
			case m = <-rx.got:
				rx.pending = false
			case <-dl:
				resps, err := h.expire()
				if err != nil {
					h.end(err)
					return err
				}
				if stop, err := reply(resps); stop {
					return err
				}
				continue
			case <-ctx.Done():
				h.end(ctx.Err())
				return nil
			}
		}
		if m.err != nil {
			if errors.Is(m.err, io.EOF) {
				h.end(nil)
				return nil
			}
			h.end(m.err)
			if status.Code(m.err) == codes.Canceled || errors.Is(m.err, context.Canceled) {
				return nil
			}
			return m.err
		}
		resps, err := h.handle(m.req)
		if err != nil {
			s.log.Error("ext_proc stream ended on a protocol error", "phase", phase, "error", err.Error())
			h.end(err)
			return err
		}
		if stop, err := reply(resps); stop {
			return err
		}
	}
}

// received is one stream.Recv result.
type received struct {
	req *extprocv3.ProcessingRequest
	err error
}

// receiver receives a stream's next message on a goroutine of its own, for
// the times the stream's owner must also wait for a hold timer. Only then:
// otherwise Process receives on its own goroutine, so a stream that never
// holds (every route phase; an attempt outside its hold, each streamed
// chunk) costs no second goroutine and no hand-over per message. The
// goroutine starts at the first ask and receives one message per ask, so
// the owner and it never call Recv at once.
type receiver struct {
	stream  extprocv3.ExternalProcessor_ProcessServer
	asks    chan struct{}
	got     chan received // buffered: a late result never blocks the goroutine
	stop    chan struct{}
	pending bool // asked, and the result not taken yet
}

// ask makes sure a Recv is under way on the receiver's goroutine.
func (r *receiver) ask() {
	if r.pending {
		return
	}
	if r.asks == nil {
		r.asks, r.got, r.stop = make(chan struct{}, 1), make(chan received, 1), make(chan struct{})
		go r.run()
	}
	r.pending = true
	r.asks <- struct{}{}
}

func (r *receiver) run() {
	for {
		select {
		case <-r.asks:
		case <-r.stop:
			return
		}
		req, err := r.stream.Recv()
		r.got <- received{req, err}
		if err != nil {
			return
		}
	}
}

// close ends the goroutine, if any: at once when it waits for an ask,
// else when its Recv returns (the stream ends with Process).
func (r *receiver) close() {
	if r.stop != nil {
		close(r.stop)
	}
}

// protocolError ends a stream on a message out of protocol order.
func protocolError(format string, a ...any) error {
	return status.Errorf(codes.FailedPrecondition, "llm-failover: "+format, a...)
}
