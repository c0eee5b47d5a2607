package replay

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserTimeout bounds each step of the browser test.
const browserTimeout = 10 * time.Second

// TestHTMLReport_RendersInChromium renders the report of a 2-minute
// outage in headless Chromium: the summary table, the breaker-state plot
// of both runs with the candidate's open span drawn, the share and latency
// plots; at phone width nothing overflows sideways. The screenshots are in
// the test's artifact directory (go test -artifacts).
func TestHTMLReport_RendersInChromium(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's)")
		}
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	rep := outageReport(t)
	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script") || strings.Contains(page.String(), "http://") || strings.Contains(page.String(), "https://") {
		t.Errorf("the report loads a script or an external resource; want it self-contained")
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("content-type", "text/html; charset=utf-8")
		w.Write(page.Bytes())
	}))
	defer hs.Close()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("no-first-run", true), chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("opening the report: %v", err)
	}
	eval := func(js string) int {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		n, err := chromedp.Run(c, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}
	shot := func(name string) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := eval(`document.querySelectorAll('#summary tbody tr').length`); n < 10 {
		t.Errorf("summary rows = %d, want the figures side by side (10 or more)", n)
	}
	// The candidate's p/m lane has an open (red) span with a width; the
	// recorded baseline never opened.
	open := `Array.from(document.querySelectorAll('figure[data-plot="states"][data-run="%s"] rect[fill="#d64545"]')).filter(r => r.getBoundingClientRect().width > 1).length`
	if n := eval(strings.Replace(open, "%s", "candidate", 1)); n < 1 {
		t.Errorf("candidate state plot: %d visible open spans, want at least 1", n)
	}
	if n := eval(strings.Replace(open, "%s", "baseline", 1)); n != 0 {
		t.Errorf("baseline state plot: %d open spans, want 0 (the recording never opened)", n)
	}
	if n := eval(`document.querySelectorAll('figure[data-plot="share"] polygon').length`); n != 4 {
		t.Errorf("share plot: %d areas, want 4 (2 targets in 2 runs)", n)
	}
	if n := eval(`document.querySelectorAll('figure[data-plot="latency"] polyline').length`); n != 2 {
		t.Errorf("latency plot: %d lines, want 2", n)
	}
	shot("replay-report.png")
	c, cancel := context.WithTimeout(bctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(c, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	if n := eval(`document.documentElement.scrollWidth > document.documentElement.clientWidth ? 1 : 0`); n != 0 {
		t.Errorf("at 390 px wide the page scrolls sideways, want it to fit")
	}
	shot("replay-report-phone.png")
}
