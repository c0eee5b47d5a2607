package processor

import (
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// The plan the route phase publishes and the attempt phase reads back: its
// type, codec (contract.EncodePlan, contract.DecodePlan) and canonical
// bytes belong to package contract; processor signs and verifies it
// (plansig.go).
type (
	planInfo   = contract.Plan
	planTarget = contract.Target
)

// targetKey is t's breaker key.
func targetKey(t planTarget) string {
	return config.Target{Provider: t.Provider, Model: t.Model}.Key()
}
