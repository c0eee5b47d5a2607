package fakellm_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-failover/llm-failover/fakellm"
)

// TestRecord_MasksAndHashesKeys verifies that every credential is masked
// in records and in GET /_fake/requests, that KeySHA256 and ReceivedKey
// tell which key arrived, and that the full secret never leaves the process.
func TestRecord_MasksAndHashesKeys(t *testing.T) {
	e := newEnv(t, fakellm.Options{})
	tests := []struct {
		name, path, header, value string
		hashKey, secret, masked   string
	}{
		{"bearer", oaPath, "Authorization", "Bearer sk-openai-123456", "authorization", "sk-openai-123456", "Bearer sk-o…"},
		{"x-api-key", anPath, "x-api-key", "sk-ant-api03-abcdef", "x-api-key", "sk-ant-api03-abcdef", "sk-a…"},
		{"azure api-key", "/openai/deployments/d/chat/completions?api-version=1", "api-key", "azurekey0123456", "api-key", "azurekey0123456", "azur…"},
		{"x-goog-api-key", gmPath, "x-goog-api-key", "AIzaSyGoogle123", "x-goog-api-key", "AIzaSyGoogle123", "AIza…"},
		{"short secret", anPath, "x-api-key", "short", "x-api-key", "short", "…"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.post(tt.path, `{"model":"m"}`, tt.header, tt.value)
			rec := e.rs.Requests()[i]
			if got := rec.Header.Get(tt.header); got != tt.masked {
				t.Errorf("masked header = %q, want %q", got, tt.masked)
			}
			if got, want := rec.KeySHA256[tt.hashKey], fakellm.KeyHash(tt.secret); got != want {
				t.Errorf("KeySHA256[%s] = %q, want %q", tt.hashKey, got, want)
			}
			if got := e.rs.ReceivedKey(rec.Seq); got != tt.secret {
				t.Errorf("ReceivedKey = %q, want %q", got, tt.secret)
			}
		})
	}
	t.Run("gemini query key", func(t *testing.T) {
		e.post("/v1beta/models/g:generateContent?key=AIzaQuery12345&x=1", `{}`)
		rec := e.rs.Requests()[e.rs.Count()-1]
		if want := "/v1beta/models/g:generateContent?key=AIza…&x=1"; rec.Path != want {
			t.Errorf("Path = %q, want %q", rec.Path, want)
		}
		if rec.KeySHA256["query:key"] != fakellm.KeyHash("AIzaQuery12345") {
			t.Errorf("KeySHA256 = %v, want query:key hash", rec.KeySHA256)
		}
	})
	t.Run("no secret over HTTP", func(t *testing.T) {
		resp, err := e.do(http.MethodGet, "/_fake/requests", "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, tt := range tests[:4] {
			if strings.Contains(string(b), tt.secret) {
				t.Errorf("GET /_fake/requests leaks %q", tt.secret)
			}
		}
		var recs []fakellm.Recorded
		if err := json.Unmarshal(b, &recs); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(recs) != 6 || recs[0].KeySHA256["authorization"] != fakellm.KeyHash("sk-openai-123456") {
			t.Errorf("got %d records, first %+v; want 6 with the hash", len(recs), recs[0].KeySHA256)
		}
	})
}

// TestRecord_Fields verifies what a record holds, that admin and health
// requests are not recorded, and Reset over HTTP.
func TestRecord_Fields(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEnv(t, fakellm.Options{Now: func() time.Time { return now }})
	body := `{"model":"claude","stream":true}`
	e.post(anPath+"?beta=true", body, "x-fake-fault", "529", "anthropic-version", "2023-06-01")
	for _, p := range []string{"/healthz", "/_fake/requests", "/_fake/faults"} {
		resp, err := e.do(http.MethodGet, p, "")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := e.rs.Count(); got != 1 {
		t.Fatalf("Count = %d, want 1", got)
	}
	rec := e.rs.Requests()[0]
	if rec.Seq != 0 || !rec.Time.Equal(now) || rec.Method != "POST" || rec.Path != anPath+"?beta=true" ||
		rec.Shape != fakellm.ShapeAnthropic || rec.Model != "claude" || !rec.Stream || rec.Body != body ||
		rec.Header.Get("anthropic-version") != "2023-06-01" {
		t.Errorf("record = %+v", rec)
	}
	if rec.Fault == nil || rec.Fault.Status != 529 || rec.FaultSource != "header" {
		t.Errorf("fault = %+v from %q, want 529 from header", rec.Fault, rec.FaultSource)
	}
	resp, err := e.do(http.MethodDelete, "/_fake/requests", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := len(e.rs.Requests()); got != 0 || e.rs.Count() != 0 {
		t.Errorf("after DELETE: %d records, Count %d; want 0, 0", got, e.rs.Count())
	}
	e.post(oaPath, `{}`)
	if got := e.rs.Requests()[0].Seq; got != 0 {
		t.Errorf("Seq after Reset = %d, want 0", got)
	}
}

// TestRecord_MaxRecorded verifies that old records are dropped while
// Count keeps counting.
func TestRecord_MaxRecorded(t *testing.T) {
	e := newEnv(t, fakellm.Options{MaxRecorded: 2})
	e.statuses(5)
	recs := e.rs.Requests()
	if len(recs) != 2 || recs[0].Seq != 3 || recs[1].Seq != 4 || e.rs.Count() != 5 {
		t.Errorf("got %d records (first seq %d), Count %d; want seqs 3,4 and Count 5", len(recs), recs[0].Seq, e.rs.Count())
	}
}
