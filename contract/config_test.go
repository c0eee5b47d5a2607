package contract_test

import (
	"testing"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// TestConfig_AgreesOnNamespaces verifies the configuration's default
// metadata_namespace and its plan namespace are the contract's.
func TestConfig_AgreesOnNamespaces(t *testing.T) {
	if config.DefaultMetadataNamespace != contract.DefaultNamespace {
		t.Errorf("default metadata_namespace: config %q, contract %q", config.DefaultMetadataNamespace, contract.DefaultNamespace)
	}
	for _, ns := range []string{contract.DefaultNamespace, "custom.ns"} {
		c := &config.Config{MetadataNamespace: ns}
		if got, want := c.PlanNamespace(), contract.PlanNamespace(ns); got != want {
			t.Errorf("plan namespace of %q: config %q, contract %q", ns, got, want)
		}
	}
}
