package routing

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-failover/llm-failover/breaker"
	"github.com/llm-failover/llm-failover/config"
)

// RegionChange is a region entering or leaving outage: the share of its
// targets (distinct provider/model, across every chain) whose breakers are
// open or half-open reached routing.regional_outage_share, or fell below it.
type RegionChange struct {
	Region string
	// Outage is true when the outage starts, false when it ends.
	Outage bool
	At     time.Time
	// Open and Targets are the region's open (or half-open) targets and
	// all its targets when the change was seen.
	Open, Targets int
	// Since is when the outage started (for an end; At for a start).
	Since time.Time
}

// RegionStatus is one region as the watch sees it now.
type RegionStatus struct {
	Region        string
	Open, Targets int
	Outage        bool
	Since         time.Time // when the outage started; zero when none
}

// OutageView says which regions are in outage: what plans read of the
// watch. The registry's regionWatch is the per-process implementation; a
// fleet-wide one (a shared store) can stand in for it.
type OutageView interface {
	// Outages returns the regions in outage; the map is not modified.
	Outages() map[string]bool
}

var _ OutageView = (*regionWatch)(nil)

// regionWatch follows every region's open share from breaker transitions
// (Registry.changed) and says which regions are in outage. It lives as
// long as the registry; each table tells it the configuration's regions
// (configure). Changes are queued under mu and delivered in order, after
// it, by whoever holds deliver.
type regionWatch struct {
	mu       sync.Mutex
	share    float64
	min      int
	members  map[string][]*breaker.Breaker // region -> its targets' breakers
	regionOf map[string]string             // breaker name -> region
	since    map[string]time.Time          // regions in outage -> start
	queue    []RegionChange
	out      atomic.Pointer[map[string]bool]

	deliver  sync.Mutex
	onChange atomic.Pointer[func(RegionChange)]
}

func newRegionWatch() *regionWatch {
	w := &regionWatch{members: map[string][]*breaker.Breaker{}, regionOf: map[string]string{}, since: map[string]time.Time{}}
	w.out.Store(&map[string]bool{})
	return w
}

func (w *regionWatch) Outages() map[string]bool { return *w.out.Load() }

// configure sets the regions of cfg's targets (breakers by target key) and
// the outage settings, and re-evaluates every region at now.
func (w *regionWatch) configure(cfg *config.Config, breakers func(key string) *breaker.Breaker, now time.Time) {
	members := map[string][]*breaker.Breaker{}
	regionOf := map[string]string{}
	for i := range cfg.Chains {
		for _, tg := range cfg.Chains[i].Targets {
			r := cfg.RegionOf(tg)
			if r == "" || regionOf[tg.Key()] != "" {
				continue
			}
			regionOf[tg.Key()] = r
			members[r] = append(members[r], breakers(tg.Key()))
		}
	}
	w.mu.Lock()
	w.share, w.min = *cfg.Routing.RegionalOutageShare, cfg.Routing.RegionalOutageMinTargets
	w.members, w.regionOf = members, regionOf
	for r := range w.since {
		if members[r] == nil {
			w.set(r, false, 0, 0, now)
		}
	}
	for r := range members {
		w.evaluate(r, now)
	}
	w.mu.Unlock()
	w.flush()
}

// observe re-evaluates the region of the breaker named name at now.
func (w *regionWatch) observe(name string, now time.Time) {
	w.mu.Lock()
	if r := w.regionOf[name]; r != "" {
		w.evaluate(r, now)
	}
	w.mu.Unlock()
	w.flush()
}

// evaluate counts region r's open targets at now and starts or ends its
// outage; w.mu is held.
func (w *regionWatch) evaluate(r string, now time.Time) {
	bs := w.members[r]
	open := 0
	for _, b := range bs {
		if s := b.Snapshot(now).State; s == breaker.Open || s == breaker.HalfOpen {
			open++
		}
	}
	in := w.share > 0 && len(bs) >= w.min && float64(open) >= w.share*float64(len(bs))
	if _, was := w.since[r]; was != in {
		w.set(r, in, open, len(bs), now)
	}
}

// set starts or ends r's outage and queues the change; w.mu is held.
func (w *regionWatch) set(r string, in bool, open, targets int, now time.Time) {
	c := RegionChange{Region: r, Outage: in, At: now, Open: open, Targets: targets, Since: now}
	if in {
		w.since[r] = now
	} else {
		c.Since = w.since[r]
		delete(w.since, r)
	}
	out := make(map[string]bool, len(w.since))
	for k := range w.since {
		out[k] = true
	}
	w.out.Store(&out)
	w.queue = append(w.queue, c)
}

// flush delivers the queued changes in order.
func (w *regionWatch) flush() {
	w.deliver.Lock()
	defer w.deliver.Unlock()
	for {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		if len(q) == 0 {
			return
		}
		if fn := w.onChange.Load(); fn != nil {
			for _, c := range q {
				(*fn)(c)
			}
		}
	}
}

// status is every region's state at now, by name.
func (w *regionWatch) status(now time.Time) []RegionStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]RegionStatus, 0, len(w.members))
	for r, bs := range w.members {
		st := RegionStatus{Region: r, Targets: len(bs), Since: w.since[r]}
		_, st.Outage = w.since[r]
		for _, b := range bs {
			if s := b.Snapshot(now).State; s == breaker.Open || s == breaker.HalfOpen {
				st.Open++
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b RegionStatus) int {
		if a.Region < b.Region {
			return -1
		}
		if a.Region > b.Region {
			return 1
		}
		return 0
	})
	return out
}
