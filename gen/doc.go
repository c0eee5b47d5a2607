// Package gen holds the Go code generated from proto/ (buf generate; see
// proto/buf.gen.yaml) and the test that keeps it current. The admin API's
// messages and service are in gen/llmfailover/admin/v1 (package adminv1).
package gen
