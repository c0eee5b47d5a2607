package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/clock"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
	"github.com/llm-failover/llm-failover/events"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
	"github.com/llm-failover/llm-failover/processor"
	"github.com/llm-failover/llm-failover/routing"
)

// Source is the running server as the admin API reads it
// (processor.Server).
type Source interface {
	// Table is the routing table of the current configuration.
	Table() *routing.Table
	// Streams is the number of ext_proc streams in flight.
	Streams() int64
	// TargetStats are a target's attempt statistics ("provider/model").
	TargetStats(key string) processor.TargetStats
	// Leads are a chain's plans since start and the targets that led them.
	Leads(chain string) processor.Leads
	// Regions are the configured regions' states at now.
	Regions(now time.Time) []routing.RegionStatus
}

// Options configure a Service. Source is required.
type Options struct {
	Source Source
	// Events is the audit Bus WatchEvents and the dashboard's timeline
	// subscribe to; nil: they answer UNAVAILABLE (503).
	Events *events.Bus
	// Auth authorizes TripBreaker and ResetBreaker; nil refuses them.
	Auth *Authorizer
	// MaxWatchers and WatchBuffer are admin.max_watchers and
	// admin.watch_buffer (0: their defaults).
	MaxWatchers, WatchBuffer int
	// Clock is the time source; nil means the wall clock.
	Clock clock.Clock
	// Logger receives one line per admin action; nil discards.
	Logger *slog.Logger
}

// Service is the llmfailover.admin.v1.AdminService and the dashboard.
type Service struct {
	adminv1.UnimplementedAdminServiceServer

	src      Source
	bus      *events.Bus
	auth     *Authorizer
	clock    clock.Clock
	log      *slog.Logger
	buffer   int
	watchers chan struct{} // a slot per live event stream
	done     chan struct{} // closed by Close
	once     sync.Once
}

var _ adminv1.AdminServiceServer = (*Service)(nil)

// New returns the service of o.
func New(o Options) *Service {
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = config.DefaultAdminMaxWatchers
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = config.DefaultAdminWatchBuffer
	}
	if o.Clock == nil {
		o.Clock = clock.Wall{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{src: o.Source, bus: o.Events, auth: o.Auth, clock: o.Clock, log: o.Logger,
		buffer: o.WatchBuffer, watchers: make(chan struct{}, o.MaxWatchers), done: make(chan struct{})}
}

// Close ends every event stream (WatchEvents answers UNAVAILABLE, the
// dashboard's stream ends) and refuses new ones, so a server shutdown need
// not wait for them. It is safe to call more than once.
func (s *Service) Close() { s.once.Do(func() { close(s.done) }) }

// Register adds the service to gs.
func (s *Service) Register(gs *grpc.Server) { adminv1.RegisterAdminServiceServer(gs, s) }

// GetStatus returns every chain with its targets' breakers.
func (s *Service) GetStatus(context.Context, *adminv1.GetStatusRequest) (*adminv1.GetStatusResponse, error) {
	return statusOf(s.src, s.clock.Now()), nil
}

// ExplainPlan returns the plan a request would get now.
func (s *Service) ExplainPlan(_ context.Context, r *adminv1.ExplainPlanRequest) (*adminv1.ExplainPlanResponse, error) {
	t := s.src.Table()
	var chainHeader string
	for k, v := range r.GetHeaders() {
		if strings.EqualFold(k, contract.HeaderChain) {
			chainHeader = v
		}
	}
	ch, err := t.Resolve(r.GetModel(), chainHeader)
	if err != nil {
		return nil, toStatus(err)
	}
	needs := routing.Needs{Tools: r.GetTools(), JSON: r.GetJson(), Vision: r.GetVision(), PromptTokens: int(max(r.GetPromptTokens(), 0)),
		Region: r.GetRegion()}
	return explanation(t.Explain(ch, s.clock.Now(), needs)), nil
}

// TripBreaker opens a target's breaker, if the caller is authorized.
func (s *Service) TripBreaker(ctx context.Context, r *adminv1.TripBreakerRequest) (*adminv1.TripBreakerResponse, error) {
	who, err := s.auth.Authorize(ctx)
	if err != nil {
		return nil, err
	}
	if d := r.GetDuration(); d != nil && (d.CheckValid() != nil || d.AsDuration() < 0) {
		return nil, status.Error(codes.InvalidArgument, "duration must be a valid, non-negative duration")
	}
	b, tg, err := s.breaker(r.GetTarget())
	if err != nil {
		return nil, err
	}
	reason := "admin trip"
	if r.GetReason() != "" {
		reason += ": " + clean(r.GetReason())
	}
	now := s.clock.Now()
	b.Trip(now, r.GetDuration().AsDuration(), reason)
	s.log.Warn("breaker tripped by admin", "target", b.Name(), "by", who, "reason", reason)
	return &adminv1.TripBreakerResponse{Target: s.targetStatus(b, tg)}, nil
}

// ResetBreaker closes a target's breaker, if the caller is authorized.
func (s *Service) ResetBreaker(ctx context.Context, r *adminv1.ResetBreakerRequest) (*adminv1.ResetBreakerResponse, error) {
	who, err := s.auth.Authorize(ctx)
	if err != nil {
		return nil, err
	}
	b, tg, err := s.breaker(r.GetTarget())
	if err != nil {
		return nil, err
	}
	reason := "admin reset"
	if r.GetReason() != "" {
		reason += ": " + clean(r.GetReason())
	}
	b.Reset(s.clock.Now(), reason)
	s.log.Warn("breaker reset by admin", "target", b.Name(), "by", who, "reason", reason)
	return &adminv1.ResetBreakerResponse{Target: s.targetStatus(b, tg)}, nil
}

// breaker finds the breaker of a configured "provider/model" target.
func (s *Service) breaker(key string) (*breaker.Breaker, config.Target, error) {
	p, m, ok := strings.Cut(key, "/")
	if !ok || p == "" || m == "" {
		return nil, config.Target{}, status.Errorf(codes.InvalidArgument, "target %q: want provider/model", clean(key))
	}
	b := s.src.Table().BreakerFor(p, m)
	if b == nil {
		return nil, config.Target{}, status.Errorf(codes.NotFound, "target %q is not in the configuration", clean(key))
	}
	return b, config.Target{Provider: p, Model: m}, nil
}

func (s *Service) targetStatus(b *breaker.Breaker, tg config.Target) *adminv1.TargetStatus {
	now := s.clock.Now()
	return targetStatus(tg, b.Snapshot(now), s.src.TargetStats(tg.Key()), len(s.src.Table().Config().Breaker.RecoveryStages), now)
}

// WatchEvents streams the audit events.
func (s *Service) WatchEvents(r *adminv1.WatchEventsRequest, stream grpc.ServerStreamingServer[adminv1.WatchEventsResponse]) error {
	sub, release, err := s.subscribe(r.GetKinds())
	if err != nil {
		return toStatus(err)
	}
	defer release()
	send := func(e events.Event) error {
		return stream.Send(&adminv1.WatchEventsResponse{Event: event(e)})
	}
	if r.GetHistory() || r.GetHistoryOnly() {
		for _, e := range sub.Backlog {
			if err := send(e); err != nil {
				return err
			}
		}
	}
	if r.GetHistoryOnly() {
		return nil
	}
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return status.Error(codes.Unavailable, "the server is stopping")
		case e, ok := <-sub.C():
			if !ok {
				return status.Error(codes.Unavailable, "the server is stopping")
			}
			if err := send(e); err != nil {
				return err
			}
		}
	}
}

// Errors of subscribe.
var errTooManyWatchers = errors.New("too many event watchers (admin.max_watchers)")

// subscribe takes a watcher slot and subscribes to the Bus; release gives
// both back.
func (s *Service) subscribe(kinds []string) (*events.Subscription, func(), error) {
	if s.bus == nil {
		return nil, nil, errNoBus
	}
	select {
	case <-s.done:
		return nil, nil, events.ErrClosed
	default:
	}
	select {
	case s.watchers <- struct{}{}:
	default:
		return nil, nil, errTooManyWatchers
	}
	ks := make([]events.Kind, 0, len(kinds))
	for _, k := range kinds {
		ks = append(ks, events.Kind(k))
	}
	sub, err := s.bus.Subscribe(events.SubscribeOptions{Buffer: s.buffer, Kinds: ks})
	if err != nil {
		<-s.watchers
		return nil, nil, err
	}
	return sub, func() { sub.Close(); <-s.watchers }, nil
}

// toStatus maps the errors of routing and subscriptions to gRPC statuses,
// once, at the boundary.
func toStatus(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, routing.ErrModelNotFound), errors.Is(err, routing.ErrUnknownChain):
		code = codes.NotFound
	case errors.Is(err, errTooManyWatchers), errors.Is(err, events.ErrTooManySubscribers):
		code = codes.ResourceExhausted
	case errors.Is(err, errNoBus), errors.Is(err, events.ErrClosed):
		code = codes.Unavailable
	}
	return status.Error(code, err.Error())
}

// maxTextLen bounds the caller's text (a reason, a target) this service
// records or echoes.
const maxTextLen = 128

// clean makes caller text safe for a log line and a breaker reason
// (events.CleanText), cut to maxTextLen bytes.
func clean(s string) string { return events.CleanText(s, maxTextLen) }
