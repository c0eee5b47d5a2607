package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// FuzzExplainPlan verifies any model, chain header and needs get a plan or
// NOT_FOUND, never a panic, and that the dashboard's /api/explain answers
// 200 or 404 for the same input.
func FuzzExplainPlan(f *testing.F) {
	f.Add("gpt-4o", "", true, false, int32(0))
	f.Add("", "premium", false, true, int32(200000))
	f.Add("\x00\xff", "cheap\n", true, true, int32(-1))
	fx := newService(f, fixtureOptions{}) // no network: the Service is called directly
	h := fx.svc.Handler()
	f.Fuzz(func(t *testing.T, model, chain string, tools, vision bool, prompt int32) {
		req := &adminv1.ExplainPlanRequest{Model: model, Tools: tools, Vision: vision, PromptTokens: prompt}
		if chain != "" {
			req.Headers = map[string]string{"x-llm-failover-chain": chain}
		}
		resp, err := fx.svc.ExplainPlan(context.Background(), req)
		if err != nil && status.Code(err) != codes.NotFound {
			t.Fatalf("ExplainPlan(%q, %q) = %v, want a plan or NotFound", model, chain, err)
		}
		if err == nil && len(resp.GetTargets()) == 0 {
			t.Fatalf("ExplainPlan(%q, %q) = no target verdicts", model, chain)
		}
		q := url.Values{"model": {model}, "chain": {chain}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/explain?"+q.Encode(), nil))
		if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
			t.Fatalf("/api/explain?%s = %d, want 200 or 404", q.Encode(), rec.Code)
		}
	})
}

// FuzzTripBreaker verifies any target and reason an authorized caller sends
// get a clear status, never a panic, and that what is recorded or echoed is
// bounded, valid UTF-8 and free of control characters.
func FuzzTripBreaker(f *testing.F) {
	f.Add("openai/gpt-4o", "maintenance")
	f.Add("openai", "")
	f.Add("a/b/c", strings.Repeat("é", 200))
	f.Add("openai/gpt-4o", "line\nbreak\x1b[31m")
	fx := newService(f, fixtureOptions{token: testToken})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+testToken))
	f.Fuzz(func(t *testing.T, target, reason string) {
		resp, err := fx.svc.TripBreaker(ctx, &adminv1.TripBreakerRequest{Target: target, Reason: reason})
		if err != nil {
			switch status.Code(err) {
			case codes.InvalidArgument, codes.NotFound:
			default:
				t.Fatalf("TripBreaker(%q) = %v, want OK, InvalidArgument or NotFound", target, err)
			}
			if msg := status.Convert(err).Message(); !clean(msg) {
				t.Fatalf("error message %q is not clean text", msg)
			}
			return
		}
		if r := resp.GetTarget().GetReason(); !clean(r) || len(r) > len("admin trip: ")+128 {
			t.Fatalf("recorded reason %q: want clean text of at most 128 bytes after the prefix", r)
		}
		if _, err := fx.svc.ResetBreaker(ctx, &adminv1.ResetBreakerRequest{Target: target}); err != nil {
			t.Fatalf("ResetBreaker(%q) after a trip = %v", target, err)
		}
	})
}

// clean reports valid UTF-8 without control characters.
func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
