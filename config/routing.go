package config

// AllOpenPolicy says what happens when every target of a chain is open.
type AllOpenPolicy string

// The all-open policies.
const (
	// AllOpenTrySoonest tries the target whose cooldown ends first.
	AllOpenTrySoonest AllOpenPolicy = "try-soonest"
	// AllOpenReject answers 503 without an attempt.
	AllOpenReject AllOpenPolicy = "reject"
)

// Routing holds plan-building choices.
type Routing struct {
	// AllOpen: try-soonest (default) or reject.
	AllOpen AllOpenPolicy `json:"all_open,omitempty"`
	// SameTargetRetries adds attempts on the last target (Envoy repeats the last
	// priority group). Default 0, 0..5.
	SameTargetRetries *int `json:"same_target_retries,omitempty"`
	// AttemptTimeout bounds each attempt, for streamed and non-streamed
	// requests; chains may override it.
	AttemptTimeout AttemptTimeout `json:"attempt_timeout"`
	// RegionHeader lets a request name the region it prefers in the
	// x-llm-failover-region header (a client policy's region wins over
	// it). Default false: the header is ignored.
	RegionHeader bool `json:"region_header,omitempty"`
	// RegionalOutageShare is the share of a region's targets whose breakers
	// are open (or half-open) at which the region is in outage: its
	// targets that still admit traffic move behind every other region's in
	// plans. Default 0.5, 0..1; 0 turns outage detection off.
	RegionalOutageShare *float64 `json:"regional_outage_share,omitempty"`
	// RegionalOutageMinTargets is the fewest distinct targets (provider/model)
	// a region needs to be declared in outage: a region of one target is
	// only that target's breaker. Default 2, 1..1000.
	RegionalOutageMinTargets int `json:"regional_outage_min_targets,omitempty"`
}

func (r *Routing) applyDefaults() {
	if r.AllOpen == "" {
		r.AllOpen = AllOpenTrySoonest
	}
	if r.SameTargetRetries == nil {
		z := 0
		r.SameTargetRetries = &z
	}
	setDur(&r.AttemptTimeout.Streamed, DefaultStreamedTimeout)
	setDur(&r.AttemptTimeout.NonStreamed, DefaultNonStreamedTimeout)
	r.applyRegionDefaults()
}

func (r *Routing) validate(p *problems) {
	if r.AllOpen != AllOpenTrySoonest && r.AllOpen != AllOpenReject {
		p.bad("routing.all_open", "%q is not try-soonest or reject", r.AllOpen)
	}
	if n := r.SameTargetRetries; n != nil {
		p.intIn("routing.same_target_retries", *n, 0, 5)
	}
	r.AttemptTimeout.validate(p, "routing.attempt_timeout")
	r.validateRegions(p)
}
