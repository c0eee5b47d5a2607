package admin_test

import (
	"encoding/base64"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/llm-failover/llm-failover/contract"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// TestPlanMetadata_IsTheSchemaOfTheEncodedPlan verifies the PlanMetadata
// message describes the compact plan string field for field: the string
// contract.EncodePlan publishes is base64url of a PlanMetadata encoding
// that parses with no unknown field and every value kept.
func TestPlanMetadata_IsTheSchemaOfTheEncodedPlan(t *testing.T) {
	p := &contract.Plan{ID: "req-1", Gen: 42, Chain: "premium", Model: "gpt-4o", Stream: true, IncludeUsage: true, Extra: 1,
		PerTry: 1500 * time.Millisecond, Client: "team-a", Exp: 1767225600000, Sig: "c2ln",
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", API: "embeddings", Probe: true,
		Targets: []contract.Target{{Provider: "openai", Model: "gpt-4o", Cluster: "openai", ContextWindow: 128000, Placement: "tier=1;weight=3/4;region=eu:preferred"},
			{Provider: "anthropic", Model: "claude-sonnet-4", Cluster: "anthropic_cluster"}}}
	s := contract.EncodePlan("llm_failover", p).GetFields()[contract.PlanNamespace("llm_failover")].GetStructValue().GetFields()[contract.PlanKey].GetStringValue()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("the plan string %q is not base64url: %v", s, err)
	}
	var got adminv1.PlanMetadata
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatalf("the plan string does not parse as PlanMetadata: %v", err)
	}
	if u := got.ProtoReflect().GetUnknown(); len(u) > 0 {
		t.Errorf("the plan string has fields PlanMetadata does not declare: %x", u)
	}
	want := &adminv1.PlanMetadata{V: 1, Id: "req-1", Gen: 42, PerTryMs: 1500, Chain: "premium", Model: "gpt-4o", Stream: true,
		IncludeUsage: true, Extra: 1, Exp: 1767225600000, Sig: "c2ln", Client: "team-a",
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Api: "embeddings", Probe: true,
		Targets: []*adminv1.PlanTarget{{Provider: "openai", Cluster: "openai", Model: "gpt-4o", ContextWindow: 128000, Placement: "tier=1;weight=3/4;region=eu:preferred"},
			{Provider: "anthropic", Cluster: "anthropic_cluster", Model: "claude-sonnet-4"}}}
	if !proto.Equal(&got, want) {
		t.Errorf("PlanMetadata = %v, want %v", &got, want)
	}
	// And back: what a protobuf library writes decodes to the same plan.
	out, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	back, err := contract.DecodePlanString(base64.RawURLEncoding.EncodeToString(out))
	if err != nil || !reflect.DeepEqual(&back, p) {
		t.Errorf("PlanMetadata decoded: got %+v, %v; want %+v", back, err, *p)
	}
}
