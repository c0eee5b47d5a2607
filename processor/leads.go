package processor

import (
	"sync"
	"time"

	"github.com/llm-failover/llm-failover/routing"
)

// This file counts, per chain, the plans each target led (its first
// attempt) since start, for the admin API's status and the dashboard's
// "led" column: the realised split of a tier's weights. The metrics hold
// the same counts (llm_failover_target_selected_total).

// Leads are a chain's plans since start and how many each target led.
type Leads struct {
	Plans int64
	// ByTarget counts the plans each target ("provider/model") led.
	ByTarget map[string]int64
}

// leadStore holds one chainLeads per chain a plan was made for (configured
// chain names only).
type leadStore struct{ m sync.Map } // chain name -> *chainLeads

type chainLeads struct {
	mu    sync.Mutex
	plans int64
	by    map[string]int64
}

// countLead counts a plan of chain led by target key.
func (s *Server) countLead(chain, key string) {
	v, ok := s.leads.m.Load(chain)
	if !ok {
		v, _ = s.leads.m.LoadOrStore(chain, &chainLeads{by: map[string]int64{}})
	}
	c := v.(*chainLeads)
	c.mu.Lock()
	c.plans++
	c.by[key]++
	c.mu.Unlock()
}

// Leads returns chain's plans since start and the targets that led them;
// the zero value before its first plan.
func (s *Server) Leads(chain string) Leads {
	v, ok := s.leads.m.Load(chain)
	if !ok {
		return Leads{}
	}
	c := v.(*chainLeads)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Leads{Plans: c.plans, ByTarget: make(map[string]int64, len(c.by))}
	for k, n := range c.by {
		out.ByTarget[k] = n
	}
	return out
}

// Regions returns every configured region's state at now (routing's
// regional outage watch).
func (s *Server) Regions(now time.Time) []routing.RegionStatus { return s.registry.Regions(now) }
