package admin_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/llm-failover/llm-failover/events"
	adminv1 "github.com/llm-failover/llm-failover/gen/llmfailover/admin/v1"
)

// TestWatchEvents_StreamsHistoryThenLiveEvents verifies a watcher gets the
// recent history, then the breaker transition as it happens, with the
// opening's reason, count and cooldown, filtered by kind.
func TestWatchEvents_StreamsHistoryThenLiveEvents(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bus.Publish(events.Event{Kind: events.KindConfigReload, Reason: "loaded"})
	f.bus.Publish(events.Event{Kind: events.KindFailover, RequestID: "r1", Chain: "premium", From: events.Target{Provider: "openai", Model: "gpt-4o"},
		To: events.Target{Provider: "anthropic", Model: "claude-sonnet-4"}, Reason: "server_error", Status: 503, AddedLatencyMS: 120})
	stream, err := f.client.WatchEvents(ctx(t), &adminv1.WatchEventsRequest{History: true, Kinds: []string{"failover", "breaker_transition"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if e := first.GetEvent(); e.GetKind() != "failover" || e.GetTo().GetModel() != "claude-sonnet-4" || e.GetAddedLatencyMs() != 120 || e.GetV() != 1 {
		t.Errorf("history event = %v, want the failover to claude-sonnet-4 (+120 ms, v1)", e)
	}
	f.openTarget(t, "premium", 0)
	live, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	e := live.GetEvent()
	if e.GetKind() != "breaker_transition" || e.GetBreakerTo() != "open" || e.GetReason() != "consecutive failures" ||
		e.GetFailures() != 3 || e.GetFrom().GetModel() != "gpt-4o" || e.GetCooldownUntil() == nil || e.GetSeq() != 3 {
		t.Errorf("live event = %v, want gpt-4o closed->open for consecutive failures (3), seq 3", e)
	}
}

// TestWatchEvents_RefusesWatchersBeyondTheLimit verifies admin.max_watchers
// holds: one more watcher is refused with RESOURCE_EXHAUSTED, and a slot is
// given back when a watcher leaves.
func TestWatchEvents_RefusesWatchersBeyondTheLimit(t *testing.T) {
	f := newFixture(t, fixtureOptions{maxWatchers: 1})
	f.bus.Publish(events.Event{Kind: events.KindProbe})
	c1, cancel := contextWithCancel(t)
	s1, err := f.client.WatchEvents(c1, &adminv1.WatchEventsRequest{History: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Recv(); err != nil { // the history came: the first watcher is subscribed
		t.Fatal(err)
	}
	s2, err := f.client.WatchEvents(ctx(t), &adminv1.WatchEventsRequest{})
	if err == nil {
		_, err = s2.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second watcher = %v, want ResourceExhausted", err)
	}
	cancel()
	waitFor(t, func() bool { return f.bus.Stats().Subscribers == 0 })
	s3, err := f.client.WatchEvents(ctx(t), &adminv1.WatchEventsRequest{History: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Recv(); err != nil {
		t.Fatalf("watcher after the first left = %v, want the history", err)
	}
}

// TestDashboardEvents_ServerSentEvents verifies /api/events sends the
// history and then live events as server-sent "audit" events whose data is
// the Event message as JSON, without the routine answer_cost events.
func TestDashboardEvents_ServerSentEvents(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.bus.Publish(events.Event{Kind: events.KindAnswerCost, Chain: "premium"})
	f.bus.Publish(events.Event{Kind: events.KindConfigReload, Reason: "loaded"})
	hs := httptest.NewServer(f.svc.Handler())
	defer hs.Close()
	req, _ := http.NewRequestWithContext(ctx(t), "GET", hs.URL+"/api/events?history=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("content-type"); ct != "text/event-stream" {
		t.Fatalf("content-type = %q, want text/event-stream", ct)
	}
	r := bufio.NewReader(resp.Body)
	next := func() *adminv1.Event {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var e adminv1.Event
				if err := protojson.Unmarshal([]byte(data), &e); err != nil {
					t.Fatalf("data %q: %v", data, err)
				}
				return &e
			}
			if line == ": live\n" { // the history is sent: publish the live events
				f.bus.Publish(events.Event{Kind: events.KindAnswerCost, Chain: "premium"})
				f.openTarget(t, "premium", 0)
			}
		}
	}
	if e := next(); e.GetKind() != "config_reload" || e.GetReason() != "loaded" {
		t.Errorf("first event = %v, want the config reload", e)
	}
	if e := next(); e.GetKind() != "breaker_transition" || e.GetBreakerTo() != "open" {
		t.Errorf("live event = %v, want the breaker opening", e)
	}
}

// TestDashboardAPI_ServesStatusAndExplainAsJSON verifies the dashboard's
// JSON reads use the proto field names, and map errors to HTTP statuses.
func TestDashboardAPI_ServesStatusAndExplainAsJSON(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.openTarget(t, "premium", 0)
	hs := httptest.NewServer(f.svc.Handler())
	defer hs.Close()
	tests := []struct {
		path     string
		code     int
		contains string
	}{
		{"/api/status", 200, `"state":"BREAKER_STATE_OPEN","reason":"consecutive failures"`},
		{"/api/explain?chain=premium", 200, `"chain":"premium"`},
		{"/api/explain?model=unknown", 404, "model not found"},
		{"/", 200, "<title>llm-failover</title>"},
		{"/static/app.js", 200, "EventSource"},
		{"/nothing", 404, ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(hs.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var compact bytes.Buffer // protojson varies its white space on purpose
		if json.Compact(&compact, b) != nil {
			compact.Reset()
			compact.Write(b)
		}
		if resp.StatusCode != tt.code || !strings.Contains(compact.String(), tt.contains) {
			t.Errorf("GET %s = %d %.200q, want %d containing %q", tt.path, resp.StatusCode, compact.String(), tt.code, tt.contains)
		}
	}
}
