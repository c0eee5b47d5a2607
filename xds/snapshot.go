package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/envoy"
)

// adsSource is the config source of every resource the served ones name:
// the same ADS stream.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// Snapshot builds the resources Envoy is served for c: listeners, routes
// and clusters, checked for consistency (every route a listener
// names is in the snapshot). No secret is served: keys Envoy holds and the
// ext_proc channel's TLS material stay in SDS files Envoy reads itself
// (envoy.Fragments.SDSFiles), and static secrets stay in the bootstrap
// (Bootstrap). Its version is a digest of the resources, so
// equal configs give equal versions on every replica and across restarts,
// and a reload that changes nothing Envoy sees pushes nothing. c must have
// had ApplyDefaults and Validate run (config.Load does both).
func Snapshot(c *config.Config) (*cachev3.Snapshot, error) {
	f, err := envoy.BuildFragments(c)
	if err != nil {
		return nil, err
	}
	client, err := f.ListenerWithRDS(adsSource())
	if err != nil {
		return nil, err
	}
	res := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType: {client},
		resourcev3.RouteType:    {f.RouteConfiguration},
		resourcev3.ClusterType:  {f.ExtProcCluster},
	}
	for _, l := range f.Listeners {
		res[resourcev3.ListenerType] = append(res[resourcev3.ListenerType], l)
	}
	for _, cl := range f.Clusters {
		res[resourcev3.ClusterType] = append(res[resourcev3.ClusterType], cl)
	}
	version, err := digest(res)
	if err != nil {
		return nil, err
	}
	snap, err := cachev3.NewSnapshot(version, res)
	if err != nil {
		return nil, fmt.Errorf("xds: snapshot: %w", err)
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("xds: snapshot: %w", err)
	}
	return snap, nil
}

// digest is the first 16 hex digits of the SHA-256 of every resource's
// canonical YAML, by type in a fixed order and by position within a type.
func digest(res map[resourcev3.Type][]types.Resource) (string, error) {
	h := sha256.New()
	for _, typ := range []resourcev3.Type{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType} {
		fmt.Fprintf(h, "%s %d\n", typ, len(res[typ]))
		for _, r := range res[typ] {
			b, err := envoy.MarshalYAML(r)
			if err != nil {
				return "", fmt.Errorf("xds: marshal %s: %w", typ, err)
			}
			fmt.Fprintf(h, "%d\n", len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
