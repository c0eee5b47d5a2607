package loadgen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The summary of a compare.sh folder gives each case's ratio and the slopes
// per KB, per chunk and per target from the reports there.
func TestSummarize_RatiosAndSlopes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, r Report) {
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ours-json2k-c16", Report{BodyBytes: 2048, ServerCPUUS: 300, RPS: 1000, AllocsPerRequest: 700})
	write("aigw-json2k-c16", Report{BodyBytes: 2048, ServerCPUUS: 200, RPS: 2000})
	write("ours-json1m", Report{BodyBytes: 1 << 20, ServerCPUUS: 300 + 1022*2})
	write("ours-sse50", Report{Chunks: 51, ServerCPUUS: 1000})
	write("ours-sse800", Report{Chunks: 801, ServerCPUUS: 1000 + 750*3})
	write("ours-chain2", Report{ServerCPUUS: 300})
	write("ours-chain8", Report{ServerCPUUS: 360})
	var out bytes.Buffer
	if err := Summarize(&out, dir); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| JSON 2 KB, 16 concurrent | 300.0 / 200.0 | 1.50× | 1000 / 2000 |",
		"| 700 / - |",
		"| µs per KB of request body (2 KB → 1 MB) | 2.00 (+681%) | - |",
		"| µs per SSE chunk (50 → 800 events) | 3.00 (+225%) | - |",
		"| µs per chain target (2 → 8) | 10.00 (+20%) | - |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if err := Summarize(&out, t.TempDir()); err == nil {
		t.Error("an empty folder: no error")
	}
}
