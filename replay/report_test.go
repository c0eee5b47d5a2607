package replay

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden reports under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./replay -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./replay -update rewrites it after review):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// TestReport_OutageSideBySide verifies the figures of a 2-minute outage of
// the primary: the recording (no breaker) spent an attempt on the failing
// primary for each of its 120 requests, the candidate opens the primary's
// breaker after 3, so fewer attempts fail and the added TTFB's median is 0;
// the text and JSON renderings are pinned by golden files.
func TestReport_OutageSideBySide(t *testing.T) {
	rep := outageReport(t)
	b, c := rep.Baseline, rep.Candidate
	if b.Requests != 300 || b.Answered != 300 || b.FailedAttempts != 120 || b.Flaps != 0 {
		t.Errorf("baseline %+v, want 300 answered, 120 failed attempts, no flap", b)
	}
	if c.Requests != 300 || c.Answered != 300 || c.FailedAttempts >= 20 || c.Flaps != 1 || len(c.Incidents) != 1 {
		t.Errorf("candidate: %d answered, %d failed attempts, %d flaps, %d incidents; want 300, under 20, 1, 1",
			c.Answered, c.FailedAttempts, c.Flaps, len(c.Incidents))
	}
	if in := c.Incidents[0]; in.LeftAfterMS != 2000 || in.Back.IsZero() {
		t.Errorf("incident %+v, want traffic gone 2s after the first failure (3 failures a second apart) and back", in)
	}
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, "outage.txt", text.Bytes())
	golden(t, "outage.json", js.Bytes())
}
