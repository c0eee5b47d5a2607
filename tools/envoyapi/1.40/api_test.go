package main

import (
	"testing"

	"github.com/llm-failover/llm-failover/tools/envoyapi/schema"
)

// repo is the main module's root.
const repo = "../../.."

// TestGeneratedConfigPassesEnvoy1_40API checks the envoy.yaml that
// envoy-config generates for Envoy 1.40 with this release's strict protojson
// and protoc-gen-validate rules.
func TestGeneratedConfigPassesEnvoy1_40API(t *testing.T) {
	schema.TestGeneratedConfig(t, repo, "1.40")
}

// TestEmbeddedSchemaIsThisRelease checks that envoy/apidata holds the schema
// of this module's go-control-plane/envoy release.
func TestEmbeddedSchemaIsThisRelease(t *testing.T) {
	schema.TestEmbeddedSchema(t, repo, "1.40", source)
}

// TestSketchesPassExactlyWhereTheySayTheyDo checks the hand-written
// bootstraps in tools/envoyapi/testdata, each marked with the releases that
// accept it, with this release's strict protojson and validation rules.
func TestSketchesPassExactlyWhereTheySayTheyDo(t *testing.T) {
	schema.TestSketches(t, "../testdata", "1.40")
}
