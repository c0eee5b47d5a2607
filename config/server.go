package config

import (
	"time"
)

// Server holds the process's listen addresses.
type Server struct {
	// GRPCAddress is where the ext_proc gRPC service listens. Default
	// "127.0.0.1:50051" (loopback). A "unix:/path" value listens on a unix
	// socket. An address beyond loopback needs TLS or InsecureGRPC.
	GRPCAddress string `json:"grpc_address,omitempty"`
	// InsecureGRPC allows a GRPCAddress beyond loopback without TLS: anyone
	// who reaches the port can then open ext_proc streams. Logged at warn
	// at start. Default false.
	InsecureGRPC bool `json:"insecure_grpc,omitempty"`
	// TLS serves the gRPC listener over TLS, or mutual TLS when it names a
	// client CA. Unset: plain gRPC. See ServerTLS.
	TLS *ServerTLS `json:"tls,omitempty"`
	// PlanKeyFile holds the key (at least 32 bytes, surrounding white space
	// trimmed) that signs the plans the route phase publishes; replicas
	// behind one Envoy share it so any of them verifies an attempt. Unset:
	// a random key made at start, so every attempt must reach the replica
	// that planned it. Read at start and on reload.
	PlanKeyFile string `json:"plan_key_file,omitempty"`
	// AdminAddress serves /healthz, /readyz and /metrics. Default "127.0.0.1:9464".
	AdminAddress string `json:"admin_address,omitempty"`
	// DrainTimeout bounds how long SIGTERM waits for in-flight streams. Default 20s, 0s..10m.
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
	// StreamFirstEventTimeout is how long the attempt phase holds a response's
	// headers before the client sees them: a streamed (SSE) 200 until its first
	// content-bearing event (no event at all by then: the attempt fails over as
	// a timeout; events but no content yet, such as a model thinking: the stream
	// is passed on unjudged), any other 200 until its whole body, an error
	// status until its body can be classified. Default 10s, 100ms..5m. Envoy's
	// ext_proc message_timeout is generated above it by envoy.attempt_message_slack.
	StreamFirstEventTimeout Duration `json:"stream_first_event_timeout,omitempty"`
	// MaxStreamHoldBytes bounds the bytes of a streamed 200 held while waiting
	// for its first content-bearing event (past it the stream is passed on
	// unjudged, logged), and of an error body held to classify it.
	// Default 64KiB, 1KiB..16MiB.
	MaxStreamHoldBytes ByteSize `json:"max_stream_hold_bytes,omitempty"`
}

func (s *Server) applyDefaults() {
	setStr(&s.GRPCAddress, DefaultGRPCAddress)
	setStr(&s.AdminAddress, DefaultAdminAddress)
	setDur(&s.DrainTimeout, 20*time.Second)
	setDur(&s.StreamFirstEventTimeout, 10*time.Second)
	if s.MaxStreamHoldBytes == 0 {
		s.MaxStreamHoldBytes = 64 << 10
	}
}

// validate checks the server section's bounds; its addresses, TLS and plan
// key are checked with the channel's security (validateChannel).
func (s *Server) validate(p *problems) {
	p.durIn("server.drain_timeout", s.DrainTimeout, 0, 10*time.Minute)
	p.durIn("server.stream_first_event_timeout", s.StreamFirstEventTimeout, 100*time.Millisecond, 5*time.Minute)
	if h := s.MaxStreamHoldBytes; h < 1<<10 || h > 16<<20 {
		p.bad("server.max_stream_hold_bytes", "%s is outside 1KiB..16MiB", h)
	}
}
