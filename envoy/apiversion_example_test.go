package envoy_test

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/llm-failover/llm-failover/envoy"
)

// A retry policy that refreshes the cluster on retry needs Envoy 1.39.
func ExampleValidateAPI() {
	rp := &routev3.RetryPolicy{NumRetries: wrapperspb.UInt32(2), RefreshClusterOnRetry: true}
	for _, v := range []string{"1.38", "1.39"} {
		fmt.Printf("%s: %v\n", v, envoy.ValidateAPI(v, rp))
	}
	// Output:
	// 1.38: field refresh_cluster_on_retry of envoy.config.route.v3.RetryPolicy does not exist in Envoy 1.38
	// 1.39: <nil>
}
