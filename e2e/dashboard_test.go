package e2e

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/llm-failover/llm-failover/admin"
	"github.com/llm-failover/llm-failover/config"
	"github.com/llm-failover/llm-failover/fakellm"
)

// TestDashboard_FakellmFaultsOpenABreakerThePageShows drives the admin
// dashboard of a local stack in headless Chromium (Debian's chromium):
// with the page open, the primary fake answers 503 to three requests
// through the front door; each is answered by the secondary, and within a
// few seconds, without a reload, the page shows the primary's breaker open
// with the reason and the failure that tripped it, the failovers and the
// opening in the live timeline, and the next plan going to the secondary.
// The screenshot is kept in the test's artifact directory
// (go test -artifacts).
func TestDashboard_FakellmFaultsOpenABreakerThePageShows(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's)")
		}
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	// One Envoy version is enough: the page reads the server, whichever
	// topology is in front of it (the audit scenario runs on every version).
	s := newStack(t, config.EnvoyV140, stackOpts{})
	s.needLocal("the server's dashboard")
	svc := admin.New(admin.Options{Source: s.proc, Events: s.audit.bus, Clock: s.clock})
	defer svc.Close()
	hs := httptest.NewServer(svc.Handler())
	defer hs.Close()

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chrome), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.WindowSize(1280, 900))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first call starts the browser, which lives as long as its
	// context: it takes no timeout of its own.
	if err := chromedp.Do(bctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	wait := func(what, sel string) {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, 5*time.Second)
		defer cancel()
		if err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			t.Fatalf("%s (%s): %v", what, sel, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	wait("the timeline connects", `#conn[data-state="live"]`)
	wait("the primary shows closed", `tr[data-target="primary/primary-model"][data-state="closed"]`)

	if err := s.fakes["primary"].SetFaults(sched(fakellm.Fault{Status: 503, Times: -1})); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.mustOK(s.chat(), "secondary")
	}

	opened := time.Now()
	wait("the primary shows open", `tr[data-target="primary/primary-model"][data-state="open"]`)
	t.Logf("the page showed the open breaker %v after the third request was answered", time.Since(opened).Round(time.Millisecond))
	wait("the timeline shows the opening", `#events li[data-kind="breaker_transition"]`)
	wait("the timeline shows the failovers", `#events li[data-kind="failover"]`)
	reason := text(`tr[data-target="primary/primary-model"] td.reason`)
	if !strings.HasPrefix(reason, "consecutive failures (3 failures, HTTP 503") {
		t.Errorf("reason cell = %q, want consecutive failures (3 failures, HTTP 503, ...)", reason)
	}
	if ev := text(`#events li[data-kind="failover"]`); !strings.Contains(ev, "primary/primary-model") || !strings.Contains(ev, "HTTP 503") {
		t.Errorf("failover entry = %q, want the primary's 503", ev)
	}
	if plan := text(`article[data-chain="main"] .plan`); !strings.Contains(plan, "left out: primary/primary-model: open until") {
		t.Errorf("next plan = %q, want the primary left out as open", plan)
	}
	c, cancel := context.WithTimeout(bctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), "dashboard-fakellm-open.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
