// Package browsertest starts headless Chromium (Debian's chromium package)
// for tests of pages, through chromedp. It passes no certificate flags:
// what a test sees is what an ordinary browser sees.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds the browser, or fails the test with the command that
// installs it.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `apt-get install -y chromium` (make test does, as root)")
	return ""
}

// New returns a browser context for the test: a fresh profile (no cookies),
// headless, ended with the test. Each call is a separate browser, so two
// calls are two users.
func New(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: starting chromium: %v", err)
	}
	return ctx
}

// Do runs steps with a deadline, failing the test with the page's URL and
// a screenshot saved with the test's artifacts when one fails.
func Do(t testing.TB, ctx context.Context, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		defer scancel()
		loc, _ := chromedp.Run(sctx, chromedp.Location())
		shot, _ := chromedp.Run(sctx, chromedp.CaptureScreenshot())
		path := Screenshot(t, "failure", shot)
		t.Fatalf("browsertest: %v (at %s; screenshot %s)", err, loc, path)
	}
}

// Text returns the text of the first element sel matches, within timeout.
func Text(t testing.TB, ctx context.Context, timeout time.Duration, sel string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("browsertest: text of %s: %v (at %s)", sel, err, loc)
	}
	return s
}

// Screenshot writes png under the test artifacts directory
// ($TENANTGATE_ARTIFACTS, default the test's temp dir) and returns its path.
func Screenshot(t testing.TB, name string, png []byte) string {
	t.Helper()
	dir := os.Getenv("TENANTGATE_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	_ = os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, filepath.Base(t.Name())+"-"+name+".png")
	_ = os.WriteFile(path, png, 0o644)
	return path
}
