package processor

import (
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// The plan the route phase publishes and the attempt phase reads back is a
// contract.Plan: its type, codec (contract.EncodePlan, contract.DecodePlan)
// and canonical bytes belong to package contract; processor signs and
// verifies it (plansig.go).

// targetKey is t's breaker key.
func targetKey(t contract.Target) string {
	return config.Target{Provider: t.Provider, Model: t.Model}.Key()
}
