package contract_test

import (
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/llm-failover/llm-failover/contract"
)

// The route phase publishes a plan under the configured metadata namespace;
// the attempt phase reads it back from the forwarded metadata.
func ExampleEncodePlan() {
	p := contract.Plan{ID: "req-1~x", Chain: "premium", Targets: []contract.Target{
		{Provider: "openai", Model: "gpt-4o", Cluster: "openai"},
		{Provider: "groq", Model: "llama-3.3-70b-versatile", Cluster: "groq"},
	}}
	dm := contract.EncodePlan(contract.DefaultNamespace, &p)
	var namespaces []string
	md := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
	for ns, v := range dm.GetFields() {
		namespaces = append(namespaces, ns)
		md.FilterMetadata[ns] = v.GetStructValue()
	}
	slices.Sort(namespaces)
	fmt.Println(namespaces)

	got, err := contract.DecodePlan(md, contract.DefaultNamespace)
	fmt.Println(got.Chain, got.Targets[1].Provider, err)
	// Output:
	// [llm_failover llm_failover.plan]
	// premium groq <nil>
}
