package processor

import "github.com/llm-failover/llm-failover/routing"

// Table returns the routing table of the current configuration, for the
// admin API's status and plan explanations (read-only use).
func (s *Server) Table() *routing.Table { return s.state.Load().table }
