// Command envoyapi-1.40 writes the compact API schema of go-control-plane/envoy
// v1.40.0 to standard output, gzipped, for envoy.ValidateAPI. Run it through
// tools/envoyapi/regen, which also refreshes imports_gen.go.
package main

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/llm-failover/llm-failover/tools/envoyapi/schema"
)

// source names the release this module links; keep it equal to go.mod's.
const source = "github.com/envoyproxy/go-control-plane/envoy@v1.40.0"

func main() {
	if err := schema.Write(os.Stdout, source, protoregistry.GlobalFiles); err != nil {
		fmt.Fprintln(os.Stderr, "envoyapi-1.40:", err)
		os.Exit(1)
	}
}
