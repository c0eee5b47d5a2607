package envoy

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/llm-failover/llm-failover/config"
)

// TestCheck_SDSWithoutNodeIsRefused verifies that a bootstrap taking a
// secret from SDS without node id and cluster is refused, as Envoy refuses
// it at start (sds_api.cc checkLocalInfo), on every version, and that the
// generated bootstrap carries a node so it passes.
func TestCheck_SDSWithoutNodeIsRefused(t *testing.T) {
	c, err := config.Load("testdata/mtls.config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			c.Envoy.Version = v
			b, err := Generate(c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckVersion(b, v); err != nil {
				t.Fatalf("generated bootstrap: %v", err)
			}
			var kept []string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "node:") || strings.HasPrefix(line, "  id: "+NodeID) || strings.HasPrefix(line, "  cluster: "+NodeCluster) {
					continue
				}
				kept = append(kept, line)
			}
			stripped := []byte(strings.Join(kept, "\n"))
			err = CheckVersion(stripped, v)
			var p *Problem
			if !errors.As(err, &p) || !strings.Contains(err.Error(), "node id and cluster are required") {
				t.Fatalf("without node: %v, want the node refusal", err)
			}
		})
	}
}

// TestCheck_NoSDSNeedsNoNode verifies that a bootstrap without SDS secrets
// is not asked for a node (Envoy does not need one for static configs).
func TestCheck_NoSDSNeedsNoNode(t *testing.T) {
	b, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "node:") || strings.HasPrefix(line, "  id: "+NodeID) || strings.HasPrefix(line, "  cluster: "+NodeCluster) {
			continue
		}
		kept = append(kept, line)
	}
	if err := Check([]byte(strings.Join(kept, "\n"))); err != nil {
		t.Fatalf("envoy.yaml without node: %v, want valid", err)
	}
}
