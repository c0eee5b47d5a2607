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
	// One Envoy version is enough: the page reads the server, whichever
	// topology is in front of it (the audit scenario runs on every version).
	s := newStack(t, config.EnvoyV140, stackOpts{})
	pg := openDashboard(t, s)
	wait, text := pg.wait, pg.text
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
	pg.screenshot("dashboard-fakellm-open.png")
}

// dashboardPage is a stack's admin dashboard open in headless Chromium.
type dashboardPage struct {
	t    *testing.T
	bctx context.Context
}

// openDashboard serves the dashboard of local stack s and opens it in
// headless Chromium (Debian's chromium; skipped without it outside CI);
// everything closes when the test ends.
func openDashboard(t *testing.T, s *stack) *dashboardPage {
	t.Helper()
	chrome, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs Debian's)")
		}
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	s.needLocal("the server's dashboard")
	svc := admin.New(admin.Options{Source: s.proc, Events: s.audit.bus, Clock: s.clock})
	t.Cleanup(svc.Close)
	hs := httptest.NewServer(svc.Handler())
	t.Cleanup(hs.Close)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chrome), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.NoFirstRun, chromedp.WindowSize(1280, 900))
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first call starts the browser, which lives as long as its
	// context: it takes no timeout of its own.
	if err := chromedp.Do(bctx, chromedp.Navigate(hs.URL+"/")); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	return &dashboardPage{t: t, bctx: bctx}
}

// wait waits up to 5 s for sel to be visible.
func (p *dashboardPage) wait(what, sel string) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.bctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("%s (%s): %v", what, sel, err)
	}
}

// text is the text of sel.
func (p *dashboardPage) text(sel string) string {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.bctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

// textOnceIt is the text of sel once ok accepts it, or after 5 s (the
// page refreshes its status on its own, after the events that change it).
func (p *dashboardPage) textOnceIt(sel string, ok func(string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	got := p.text(sel)
	for !ok(got) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		got = p.text(sel)
	}
	return got
}

// screenshot keeps the page in the test's artifact directory.
func (p *dashboardPage) screenshot(name string) {
	p.t.Helper()
	c, cancel := context.WithTimeout(p.bctx, 5*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.t.ArtifactDir(), name), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
