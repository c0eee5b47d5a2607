package admin_test

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// updateScreenshots copies the screenshots into testdata/screenshots (the
// committed ones the README shows); they are always written to the test's
// artifact directory (go test -artifacts keeps it).
var updateScreenshots = flag.Bool("update-screenshots", false, "write the dashboard screenshots to testdata/screenshots")

// browserTimeout bounds each step of the browser test: the page must show
// a change within it.
const browserTimeout = 5 * time.Second

// TestDashboard_ShowsAnOpenBreakerWithItsReasonAndTheEvent drives the
// dashboard in headless Chromium: after a target's breaker opens (three 503
// failures), the page shows the open state, the reason with what tripped
// it, and the breaker event in the live timeline within a few seconds,
// without a reload; at phone width nothing overflows sideways. Screenshots
// are kept.
func TestDashboard_ShowsAnOpenBreakerWithItsReasonAndTheEvent(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's)")
		}
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	f := newFixture(t, fixtureOptions{})
	hs := httptest.NewServer(f.svc.Handler())
	defer hs.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// step runs one action bounded by browserTimeout.
	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		if err := chromedp.Do(c, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	shots := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, browserTimeout)
		defer cancel()
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		for _, dir := range append([]string{shots}, updateDirs()...) {
			if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The first call starts the browser, which lives as long as its context:
	// it takes no timeout (go test's own bounds it).
	if err := chromedp.Do(bctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	step("the timeline connects", chromedp.WaitVisible(chromedp.CSS(`#conn[data-state="live"]`)))
	step("the chains show", chromedp.WaitVisible(chromedp.CSS(`tr[data-target="openai/gpt-4o"][data-state="closed"]`)))
	shot("dashboard-closed.png")

	opened := time.Now()
	f.openTarget(t, "premium", 0)

	step("the page shows the open breaker", chromedp.WaitVisible(chromedp.CSS(`tr[data-target="openai/gpt-4o"][data-state="open"]`)))
	t.Logf("the page showed the open breaker %v after it opened", time.Since(opened).Round(time.Millisecond))
	step("the timeline shows the event", chromedp.WaitVisible(chromedp.CSS(`#events li[data-kind="breaker_transition"]`)))
	reason := text(`tr[data-target="openai/gpt-4o"] td.reason`)
	event := text(`#events li[data-kind="breaker_transition"]`)
	plan := text(`article[data-chain="premium"] .plan`)
	if want := "consecutive failures (3 failures, HTTP 503, server_error: 503 Service Unavailable)"; reason != want {
		t.Errorf("reason cell = %q, want %q", reason, want)
	}
	if !strings.Contains(event, "openai/gpt-4o") || !strings.Contains(event, "closed → open") || !strings.Contains(event, "consecutive failures") {
		t.Errorf("timeline entry = %q, want openai/gpt-4o closed → open for consecutive failures", event)
	}
	if !strings.Contains(plan, "anthropic/claude-sonnet-4 (closed)") || !strings.Contains(plan, "left out: openai/gpt-4o: open until") {
		t.Errorf("next plan = %q, want it to start with claude-sonnet-4 and leave gpt-4o out as open", plan)
	}
	shot("dashboard-open.png")

	step("phone width", chromedp.EmulateViewport(390, 844))
	step("the open breaker at phone width", chromedp.WaitVisible(chromedp.CSS(`tr[data-target="openai/gpt-4o"][data-state="open"]`)))
	c, cancel := context.WithTimeout(bctx, browserTimeout)
	defer cancel()
	overflow, err := chromedp.Run(c, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Errorf("at 390 px wide the page scrolls sideways, want it to fit")
	}
	shot("dashboard-open-phone.png")
}

// updateDirs is testdata/screenshots under -update-screenshots.
func updateDirs() []string {
	if !*updateScreenshots {
		return nil
	}
	dir := filepath.Join("testdata", "screenshots")
	_ = os.MkdirAll(dir, 0o755)
	return []string{dir}
}
