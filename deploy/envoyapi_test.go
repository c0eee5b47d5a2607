package deploy

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/llm-failover/llm-failover/envoy"
	"github.com/llm-failover/llm-failover/istio"
)

// validateEnvoyAPI refuses what Envoy release version's API lacks
// (envoy.ValidateAPI: the field and type schemas of go-control-plane's
// envoy module of that release).
func validateEnvoyAPI(version string, m proto.Message) error {
	return envoy.ValidateAPI(version, m)
}

// TestIstioConfig_PatchesOfOneReleaseRefusedByAnOlder checks that the
// Envoy API check is the release's own: the 1.31 gateway EnvoyFilter (its
// route retries with refresh_cluster_on_retry, new in Envoy 1.39) is
// refused as Istio 1.30's, whose Envoy 1.38 lacks the field.
func TestIstioConfig_PatchesOfOneReleaseRefusedByAnOlder(t *testing.T) {
	c, chartSvc := chartConfig(t, withEnvoyVersion(t, "", "1.39"))
	out, err := istio.Generate(c, istio.Options{IstioVersion: istio.V131, Hosts: []string{"llm.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	for _, o := range splitManifest(t, string(out)) {
		if o.kind == "EnvoyFilter" {
			errs = append(errs, checkIstioObject(istio.V130, o, chartSvc)...)
		}
	}
	if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), "refresh_cluster_on_retry") || !strings.Contains(err.Error(), "1.38") {
		t.Fatalf("errors = %v, want refresh_cluster_on_retry refused for Envoy 1.38", err)
	}
}
