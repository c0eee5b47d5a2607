package processor

import (
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/contract"
)

// The plan the route phase publishes and the attempt phase reads back is a
// contract.Plan: its type, codecs (contract.EncodePlan,
// contract.DecodePlanString, contract.DecodePlan) and canonical bytes belong
// to package contract; processor signs and verifies it (plansig.go).

// attemptPlan reads the plan of an attempt stream from its first message,
// once: from the request attribute contract.PlanAttribute (what the
// generated upstream filter asks Envoy for), else from the forwarded
// metadata an earlier envoy-config's forwarding_namespaces sends.
func attemptPlan(req *extprocv3.ProcessingRequest, attrs *structpb.Struct, ns string) (contract.Plan, error) {
	if v, ok := attrs.GetFields()[contract.PlanAttribute(ns)]; ok {
		return contract.DecodePlanString(v.GetStringValue())
	}
	return contract.DecodePlan(req.GetMetadataContext(), ns)
}

// targetKey is t's breaker key.
func targetKey(t contract.Target) string {
	return config.Target{Provider: t.Provider, Model: t.Model}.Key()
}
