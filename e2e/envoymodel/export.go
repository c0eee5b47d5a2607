package envoymodel

import corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

// ShortDebugString prints a core Metadata as Envoy prints a message-typed
// CEL attribute such as xds.upstream_host_metadata (see shortDebugString).
// The load harness (loadgen) sends it as the model does.
func ShortDebugString(md *corev3.Metadata) string { return shortDebugString(md) }
