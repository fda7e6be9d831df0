package main

import (
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tenantgate/tenantgate/internal/browsertest"
)

// Demo mode in an ordinary browser: headless Chromium with no certificate
// flag signs in as alice through the chooser and the dev IdP's page, sees
// the demo app, and calls the demo API with the bearer token. It also
// proves the cookies survive a real browser's SameSite rules: the IdP's
// form_post to the callback is cross-site.
func TestDemoModeSignsInInABrowser(t *testing.T) {
	g := startServe(t, []string{"--listen", "127.0.0.1:0"})
	ctx := browsertest.New(t)
	const wait = 30 * time.Second
	browsertest.Do(t, ctx, wait,
		chromedp.Navigate(g.URL),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/.auth/login/contoso"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/.auth/login/contoso"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[value="alice@contoso.onmicrosoft.com"]`)),
		chromedp.Click(chromedp.CSS(`input[value="alice@contoso.onmicrosoft.com"]`)),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("who")),
	)
	if who := browsertest.Text(t, ctx, wait, "#who"); !strings.Contains(who, "Alice Adams") {
		t.Fatalf("the demo page says %q", who)
	}
	if exp := browsertest.Text(t, ctx, wait, "#expires"); exp == "" {
		t.Fatal("the demo page shows no token expiry: the access token did not reach the app")
	}
	shot, _ := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	browsertest.Screenshot(t, "demo-signed-in", shot)
	browsertest.Do(t, ctx, wait, chromedp.Click(chromedp.ID("call")), chromedp.WaitVisible(chromedp.ID("api")))
	if api := browsertest.Text(t, ctx, wait, "#api"); !strings.Contains(api, "hello from the demo API") || !strings.Contains(api, "access_as_user") {
		t.Fatalf("the demo API answered %q", api)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if u, _ := url.Parse(loc); u.Scheme != "http" {
		t.Fatalf("ended at %s", loc)
	}
}

// `make run` is the README's first command: it must answer on the URL it
// prints, and the demo sign-in must work there.
func TestMakeRunServesTheDemo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not installed: run `apt-get install -y make`")
	}
	cmd := exec.Command("make", "-s", "run", "RUNFLAGS=--listen=127.0.0.1:0")
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		keepLog(t.Name(), out.String())
		if t.Failed() {
			t.Logf("make run output:\n%s", tail(out.String(), 3000))
		}
	})
	var public string
	for deadline := time.Now().Add(3 * time.Minute); public == ""; {
		for _, line := range strings.Split(out.String(), "\n") {
			if u, ok := strings.CutPrefix(line, "tenantgate: open "); ok {
				public = strings.TrimSpace(u)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run printed no URL:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	jar := newJar()
	b.Jar = jar
	// Through the chooser to contoso, then the IdP's plain-HTTP page.
	resp, body := send(t, b, http.MethodGet, public+"/.auth/login/contoso?post_login_redirect_uri=/", nil)
	authorize := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authorize, "http://127.0.0.1:") {
		t.Fatalf("login: %d %q %s", resp.StatusCode, authorize, body)
	}
	resp, body = send(t, b, http.MethodPost, authorize, strings.NewReader("username=alice%40contoso.onmicrosoft.com"), "Content-Type", "application/x-www-form-urlencoded")
	form := hiddenInputs(body)
	if resp.StatusCode != http.StatusOK || form.Get("code") == "" {
		t.Fatalf("the IdP's page: %d %s", resp.StatusCode, body)
	}
	resp, _ = send(t, b, http.MethodPost, public+"/.auth/login/aad/callback", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	resp, _ = send(t, b, http.MethodGet, public+resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	resp, body = send(t, b, http.MethodGet, public+"/", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Alice Adams") {
		t.Fatalf("the demo page after sign-in: %d %s", resp.StatusCode, body)
	}
}
