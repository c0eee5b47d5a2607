// Package schema is shared by the per-version tool modules beside it
// (tools/envoyapi/1.38, 1.39, 1.40), each built against one
// go-control-plane/envoy release. It writes that release's compact API
// schema, which the main module embeds under envoy/apidata and reads in
// envoy.ValidateAPI, and it checks an Envoy bootstrap against the linked
// release with strict protojson plus the protoc-gen-validate rules
// (https://github.com/envoyproxy/protoc-gen-validate), recursing into every
// Any. It must not import the main module: that would raise the
// go-control-plane/envoy version of the tool modules to the main module's.
package schema
