package xds

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/llm-failover/llm-failover/config"
)

// fleet is the one snapshot-cache key: every Envoy that connects, whatever
// its node id, is served the same resources.
const fleet = "llm-failover"

// fleetHash maps every node to fleet.
type fleetHash struct{}

func (fleetHash) ID(*corev3.Node) string { return fleet }

var _ cachev3.NodeHash = fleetHash{}

// Server serves one config's resources over ADS and swaps them for a new
// config's on Set. Build it with NewServer; register it on a gRPC server
// with Register.
type Server struct {
	cache cachev3.SnapshotCache
	ads   serverv3.Server
	log   *slog.Logger

	mu      sync.Mutex // serialises Set
	version string
}

// NewServer returns a Server serving c's resources (Snapshot). ctx bounds
// the go-control-plane server's life: cancel it after the gRPC server has
// stopped. A nil log discards.
func NewServer(ctx context.Context, c *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	snap, err := Snapshot(c)
	if err != nil {
		return nil, err
	}
	s := &Server{cache: cachev3.NewSnapshotCache(true, fleetHash{}, cacheLogger{log}), log: log}
	s.ads = serverv3.NewServer(ctx, s.cache, s.callbacks())
	if err := s.Set(ctx, snap); err != nil {
		return nil, err
	}
	return s, nil
}

// Register adds the aggregated discovery service to gs.
func (s *Server) Register(gs *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(gs, s.ads)
}

// Set serves snap from now on: every open stream whose Envoy holds another
// version is sent the new resources. Build snap with Snapshot.
func (s *Server) Set(ctx context.Context, snap *cachev3.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cache.SetSnapshot(ctx, fleet, snap); err != nil {
		return fmt.Errorf("xds: set snapshot: %w", err)
	}
	s.version = snap.GetVersion(resourcev3.ListenerType)
	return nil
}

// Version is the version of the resources served.
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// callbacks log what an operator needs to see: Envoys connecting and
// leaving, and every update an Envoy rejected (a NACK, with Envoy's reason).
func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, typeURL string) error {
			s.log.Debug("xds stream opened", "stream", id, "type", typeURL)
			return nil
		},
		StreamClosedFunc: func(id int64, node *corev3.Node) {
			s.log.Info("xds stream closed", "stream", id, "node", node.GetId())
		},
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			if e := req.GetErrorDetail(); e != nil {
				s.log.Warn("envoy rejected an xds update", "stream", id, "node", req.GetNode().GetId(),
					"type", req.GetTypeUrl(), "nonce", req.GetResponseNonce(), "error", e.GetMessage())
			}
			return nil
		},
	}
}

// cacheLogger sends go-control-plane's cache log to slog at debug level
// (warnings and errors at their own).
type cacheLogger struct{ log *slog.Logger }

func (l cacheLogger) Debugf(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l cacheLogger) Infof(format string, args ...any)  { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l cacheLogger) Warnf(format string, args ...any)  { l.log.Warn(fmt.Sprintf(format, args...)) }
func (l cacheLogger) Errorf(format string, args ...any) { l.log.Error(fmt.Sprintf(format, args...)) }
