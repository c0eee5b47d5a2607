package envoymodel

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// perRoute finds the ExtProcPerRoute of an HCM filter for the current route:
// the most specific of route, virtual host and route configuration
// typed_per_filter_config, keyed by the filter name
// (source/common/router/config_impl.cc mostSpecificPerFilterConfig). It is
// read when the filter starts, with the route selected at that time.
func (rs *stream) perRoute(filter string) *extprocv3.ExtProcPerRoute {
	for _, m := range []map[string]*anypb.Any{
		rs.route.GetTypedPerFilterConfig(),
		rs.vhost.GetTypedPerFilterConfig(),
		rs.m.routes.GetTypedPerFilterConfig(),
	} {
		a := m[filter]
		if a == nil {
			continue
		}
		pr := &extprocv3.ExtProcPerRoute{}
		if a.UnmarshalTo(pr) != nil {
			rs.log.Debug("per-route config not modelled", "filter", filter, "type", a.GetTypeUrl())
			continue
		}
		return pr
	}
	return nil
}

// applyPerRoute applies ExtProcPerRoute to a new filter instance: disabled
// skips the filter for the stream (ext_proc.cc mergePerRouteConfig);
// overrides.processing_mode and failure_mode_allow replace the filter's.
// Other overrides are not modelled. It reports whether the filter runs.
func (p *extProc) applyPerRoute(pr *extprocv3.ExtProcPerRoute) bool {
	if pr == nil {
		return true
	}
	if pr.GetDisabled() {
		return false
	}
	if o := pr.GetOverrides(); o != nil {
		if pm := o.GetProcessingMode(); pm != nil {
			p.mode = modeFrom(pm)
		}
		if fm := o.GetFailureModeAllow(); fm != nil {
			p.failOpen = fm
		}
	}
	return true
}

// failureModeAllow is the effective failure_mode_allow.
func (p *extProc) failureModeAllow() bool {
	if p.failOpen != nil {
		return p.failOpen.GetValue()
	}
	return p.cfg.pb.GetFailureModeAllow()
}
