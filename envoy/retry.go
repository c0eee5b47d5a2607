package envoy

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	pgv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/router/cluster_specifiers/priority_group/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// chainRetryRoutes are path's routes for the chains whose retry back-off
// (chains[].retry base, max) differs from the route's: Envoy takes the
// back-off from the route only (retry_state_impl.cc RetryStateImpl reads
// route_policy.baseInterval / maxInterval; no request header sets it), so
// each such chain gets a copy of the failover route that matches the
// x-llm-failover-chain header the route phase sets before it clears the
// route cache, with the chain's retry_back_off. They come before the
// failover route; a request of any other chain matches that one.
func chainRetryRoutes(c *config.Config, path string, groups []*pgv3.PriorityGroup) []*routev3.Route {
	var out []*routev3.Route
	defBase, defMax := c.RetryBackoff(nil)
	for i := range c.Chains {
		ch := &c.Chains[i]
		base, max := c.RetryBackoff(ch)
		if base == defBase && max == defMax {
			continue
		}
		r := failoverRoute(c, path, groups)
		r.Name += " chain " + ch.Name
		r.Match.Headers = []*routev3.HeaderMatcher{{
			Name: contract.HeaderChain,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: ch.Name},
			}},
		}}
		r.GetRoute().RetryPolicy.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{
			BaseInterval: durationpb.New(base),
			MaxInterval:  durationpb.New(max),
		}
		out = append(out, r)
	}
	return out
}
