package istio

import "github.com/llm-failover/llm-failover/config"

// forEnvoy is a copy of c whose Envoy pieces are those of Envoy release
// version.
func forEnvoy(c *config.Config, version string) *config.Config {
	ev := *c
	_ = version // TODO(k8s): ev.Envoy.Version = version once envoy.version lands
	return &ev
}
