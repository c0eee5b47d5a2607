package processor

import "github.com/llm-failover/llm-failover/access"

// Limiter returns the clients' rate and token windows, which fleet mode
// shares across replicas (package fleet).
func (s *Server) Limiter() *access.Limiter { return s.limiter }
