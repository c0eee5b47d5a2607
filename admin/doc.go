// Package admin serves the admin API, llmfailover.admin.v1.AdminService
// (proto/llmfailover/admin/v1/admin.proto: status, the audit event stream,
// plan explanations, authorized breaker trips and resets), and the live
// dashboard built on the same messages as JSON, both on
// server.admin_address. See docs/admin.md.
package admin
