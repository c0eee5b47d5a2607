package admin_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/llm-failover/llm-failover/admin"
	"github.com/llm-failover/llm-failover/config"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// TestGetStatus_ShowsChainsTargetsInOrderAndWhyABreakerOpened verifies a
// client sees every chain with its targets in configuration order, and an
// open breaker with its reason, what tripped it and the cooldown left.
func TestGetStatus_ShowsChainsTargetsInOrderAndWhyABreakerOpened(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.openTarget(t, "premium", 0)
	f.clock.Add(10 * time.Second)
	resp, err := f.client.GetStatus(ctx(t), &adminv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var chains []string
	for _, c := range resp.GetChains() {
		var ts []string
		for _, tg := range c.GetTargets() {
			ts = append(ts, tg.GetTarget().GetProvider()+"/"+tg.GetTarget().GetModel())
		}
		chains = append(chains, c.GetName()+": "+strings.Join(ts, ", "))
	}
	want := []string{"premium: openai/gpt-4o, anthropic/claude-sonnet-4, groq/llama-3.3-70b", "cheap: openai/gpt-4o-mini"}
	if strings.Join(chains, "; ") != strings.Join(want, "; ") {
		t.Errorf("chains = %q, want %q", chains, want)
	}
	open := resp.GetChains()[0].GetTargets()[0]
	if open.GetState() != adminv1.BreakerState_BREAKER_STATE_OPEN || open.GetReason() != "consecutive failures" ||
		open.GetOpenedFailures() != 3 || open.GetOpenedStatus() != 503 || open.GetOpenedDetail() != "server_error: 503 Service Unavailable" {
		t.Errorf("open target = %v, want OPEN for consecutive failures (3, 503, server_error)", open)
	}
	if got := open.GetCooldownLeft().AsDuration(); got != 20*time.Second {
		t.Errorf("cooldown left = %v, want 20s", got)
	}
	if c := resp.GetChains()[0].GetTargets()[1]; c.GetState() != adminv1.BreakerState_BREAKER_STATE_CLOSED || c.GetTrafficShare() != 1 || c.GetReason() != "" {
		t.Errorf("closed target = %v, want CLOSED, share 1, no reason", c)
	}
}

// TestExplainPlan_SaysWhyEachTargetIsInOrOut verifies the explanation of a
// model's plan with an open first target, and NOT_FOUND for an unknown
// model or chain.
func TestExplainPlan_SaysWhyEachTargetIsInOrOut(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.openTarget(t, "premium", 0)
	resp, err := f.client.ExplainPlan(ctx(t), &adminv1.ExplainPlanRequest{Model: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range resp.GetTargets() {
		got = append(got, v.GetTarget().GetModel()+"="+v.GetReason())
	}
	want := "gpt-4o=open until 2026-11-30T12:00:30Z (consecutive failures), claude-sonnet-4=closed, llama-3.3-70b=closed"
	if strings.Join(got, ", ") != want {
		t.Errorf("verdicts = %s, want %s", strings.Join(got, ", "), want)
	}
	if s := resp.GetSteps(); resp.GetChain() != "premium" || len(s) != 2 || s[0].GetTarget().GetModel() != "claude-sonnet-4" {
		t.Errorf("plan = %s %v, want premium starting with claude-sonnet-4", resp.GetChain(), s)
	}
	byHeader, err := f.client.ExplainPlan(ctx(t), &adminv1.ExplainPlanRequest{Model: "gpt-4o", Headers: map[string]string{"X-LLM-Failover-Chain": "cheap"}})
	if err != nil || byHeader.GetChain() != "cheap" {
		t.Errorf("with the chain header: chain %q (%v), want cheap", byHeader.GetChain(), err)
	}
	for _, req := range []*adminv1.ExplainPlanRequest{{Model: "nope"}, {Headers: map[string]string{"x-llm-failover-chain": "nope"}}} {
		if _, err := f.client.ExplainPlan(ctx(t), req); status.Code(err) != codes.NotFound {
			t.Errorf("ExplainPlan(%v) = %v, want NotFound", req, err)
		}
	}
}

// TestTripAndReset_RefusedUnlessAuthorized verifies the admin actions are
// refused without the token, with a wrong one, and when no token is
// configured, and work with the right one.
func TestTripAndReset_RefusedUnlessAuthorized(t *testing.T) {
	tests := []struct {
		name   string
		token  string // configured
		header string // sent
		want   codes.Code
	}{
		{"disabled without a configured token", "", "Bearer " + testToken, codes.PermissionDenied},
		{"no credentials", testToken, "", codes.Unauthenticated},
		{"wrong token", testToken, "Bearer " + testToken + "x", codes.PermissionDenied},
		{"not a bearer token", testToken, testToken, codes.PermissionDenied},
		{"right token", testToken, "Bearer " + testToken, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{token: tt.token})
			c := ctx(t)
			if tt.header != "" {
				c = metadata.AppendToOutgoingContext(c, "authorization", tt.header)
			}
			trip, err := f.client.TripBreaker(c, &adminv1.TripBreakerRequest{Target: "openai/gpt-4o", Duration: durationpb.New(time.Minute), Reason: "maintenance"})
			if status.Code(err) != tt.want {
				t.Fatalf("TripBreaker = %v, want %v", err, tt.want)
			}
			st, _ := f.client.GetStatus(ctx(t), &adminv1.GetStatusRequest{})
			state := st.GetChains()[0].GetTargets()[0].GetState()
			if tt.want != codes.OK {
				if state != adminv1.BreakerState_BREAKER_STATE_CLOSED {
					t.Errorf("after a refused trip: state %v, want CLOSED", state)
				}
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("error %q echoes the token", err)
				}
				return
			}
			if g := trip.GetTarget(); g.GetState() != adminv1.BreakerState_BREAKER_STATE_OPEN || g.GetReason() != "admin trip: maintenance" || g.GetCooldownLeft().AsDuration() != time.Minute {
				t.Errorf("TripBreaker answer = %v, want OPEN for 1m, reason admin trip: maintenance", g)
			}
			reset, err := f.client.ResetBreaker(c, &adminv1.ResetBreakerRequest{Target: "openai/gpt-4o"})
			if err != nil || reset.GetTarget().GetState() != adminv1.BreakerState_BREAKER_STATE_CLOSED {
				t.Errorf("ResetBreaker = %v, %v; want CLOSED", reset, err)
			}
		})
	}
}

// TestTripBreaker_RejectsBadTargets verifies a malformed or unknown target
// is refused with a clear status and no breaker is made.
func TestTripBreaker_RejectsBadTargets(t *testing.T) {
	f := newFixture(t, fixtureOptions{token: testToken})
	c := metadata.AppendToOutgoingContext(ctx(t), "authorization", "Bearer "+testToken)
	for _, tt := range []struct {
		target string
		dur    *durationpb.Duration
		want   codes.Code
	}{
		{"openai", nil, codes.InvalidArgument},
		{"/gpt-4o", nil, codes.InvalidArgument},
		{"openai/unknown", nil, codes.NotFound},
		{"openai/gpt-4o", durationpb.New(-time.Second), codes.InvalidArgument},
	} {
		if _, err := f.client.TripBreaker(c, &adminv1.TripBreakerRequest{Target: tt.target, Duration: tt.dur}); status.Code(err) != tt.want {
			t.Errorf("TripBreaker(%q, %v) = %v, want %v", tt.target, tt.dur, err, tt.want)
		}
	}
}

// TestAuthorize_MTLSIdentity verifies a verified client certificate
// authorizes by URI SAN, DNS SAN or common name when listed, and not
// otherwise.
func TestAuthorize_MTLSIdentity(t *testing.T) {
	z, err := admin.NewAuthorizer(config.Admin{Identities: []string{"spiffe://ops/admin", "ops.example", "oncall"}}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	spiffe, _ := url.Parse("spiffe://ops/admin")
	other, _ := url.Parse("spiffe://ops/reader")
	tests := []struct {
		name string
		cert *x509.Certificate
		want codes.Code
	}{
		{"uri san", &x509.Certificate{URIs: []*url.URL{spiffe}}, codes.OK},
		{"dns san", &x509.Certificate{DNSNames: []string{"ops.example"}}, codes.OK},
		{"common name", &x509.Certificate{Subject: pkix.Name{CommonName: "oncall"}}, codes.OK},
		{"other identity", &x509.Certificate{URIs: []*url.URL{other}}, codes.Unauthenticated},
		{"no certificate", nil, codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var state tls.ConnectionState
			if tt.cert != nil {
				state.VerifiedChains = [][]*x509.Certificate{{tt.cert}}
			}
			c := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
			if _, err := z.Authorize(c); status.Code(err) != tt.want {
				t.Errorf("Authorize = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNewAuthorizer_RefusesAShortToken verifies a token below 16 bytes is
// an error at start, naming where it came from but not the token.
func TestNewAuthorizer_RefusesAShortToken(t *testing.T) {
	_, err := admin.NewAuthorizer(config.Admin{TokenEnv: "ADMIN_TOKEN"}, func(string) string { return "short-secret" })
	if err == nil || !strings.Contains(err.Error(), "$ADMIN_TOKEN") || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("NewAuthorizer = %v, want a short-token error naming $ADMIN_TOKEN without the token", err)
	}
}
