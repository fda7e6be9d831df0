package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tenantgate/tenantgate/internal/browsertest"
)

// signInInBrowser signs user in to tenant through demo mode's chooser and
// the dev IdP's page.
func signInInBrowser(t *testing.T, ctx context.Context, g, tenant, user string) {
	t.Helper()
	browsertest.Do(t, ctx, 30*time.Second,
		chromedp.Navigate(g),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/.auth/login/`+tenant+`"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/.auth/login/`+tenant+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[value="`+user+`"]`)),
		chromedp.Click(chromedp.CSS(`input[value="`+user+`"]`)),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("who")),
	)
}

// The ops page in headless Chromium: alice signs in, an operator sees her
// session, fiona's sign-in appears without a reload, and revoking alice
// sends her next navigation to sign-in.
func TestOpsPageInABrowser(t *testing.T) {
	g := startServe(t, []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, "TENANTGATE_ADMIN_TOKEN="+testAdminToken)
	admin := adminURL(t, g)
	const wait = 30 * time.Second

	alice := browsertest.New(t)
	signInInBrowser(t, alice, g.URL, "contoso", "alice@contoso.onmicrosoft.com")
	if who := browsertest.Text(t, alice, wait, "#who"); !strings.Contains(who, "Alice Adams") {
		t.Fatalf("the demo page says %q", who)
	}

	op := browsertest.New(t)
	aliceRow := `#sessions tr[data-user="alice@contoso.onmicrosoft.com"]`
	fionaRow := `#sessions tr[data-user="fiona@fabrikam.onmicrosoft.com"]`
	browsertest.Do(t, op, wait,
		chromedp.Navigate(admin),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), testAdminToken),
		chromedp.Click(chromedp.ID("enter")),
		chromedp.WaitVisible(chromedp.CSS(aliceRow)),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
	)
	// A mark that a reload would wipe.
	if _, err := chromedp.Run(op, chromedp.Evaluate[bool](`window.tgNoReload = true`)); err != nil {
		t.Fatal(err)
	}
	browsertest.Do(t, op, wait, chromedp.WaitVisible(chromedp.CSS(`#live`)))
	if live := browsertest.Text(t, op, wait, "#live"); !strings.HasPrefix(live, "Live") {
		t.Fatalf("the live view did not start: %q", live)
	}

	fiona := browsertest.New(t)
	signInInBrowser(t, fiona, g.URL, "fabrikam", "fiona@fabrikam.onmicrosoft.com")
	signedIn := time.Now()
	browsertest.Do(t, op, wait, chromedp.WaitVisible(chromedp.CSS(fionaRow)))
	t.Logf("fiona's session appeared on the ops page %v after her sign-in completed", time.Since(signedIn).Round(10*time.Millisecond))
	if still, err := chromedp.Run(op, chromedp.Evaluate[bool](`window.tgNoReload === true`)); err != nil || !still {
		t.Fatalf("the page reloaded to show fiona (%v)", err)
	}
	if tokens := browsertest.Text(t, op, wait, aliceRow+" td.tokens"); !strings.Contains(tokens, "access token until") || !strings.Contains(tokens, "refresh token held") {
		t.Errorf("alice's token status on the page: %q", tokens)
	}
	shot, _ := chromedp.Run(op, chromedp.FullScreenshot(100))
	browsertest.Screenshot(t, "ops-page", shot)
	if os.Getenv("TENANTGATE_DOCS_SCREENSHOT") != "" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "ops-page.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	html, err := chromedp.Run(op, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, testAdminToken) {
		t.Fatal("the ops page shows the admin token")
	}

	// Revoke alice: the button asks for a second click.
	browsertest.Do(t, op, wait,
		chromedp.Click(chromedp.CSS(aliceRow+" button.revoke-user")),
		chromedp.WaitVisible(chromedp.CSS(aliceRow+" button.revoke-user.confirm")),
		chromedp.Click(chromedp.CSS(aliceRow+" button.revoke-user.confirm")),
		chromedp.WaitVisible(chromedp.ID("notice")),
		chromedp.WaitNotPresent(chromedp.CSS(aliceRow)),
		chromedp.WaitVisible(chromedp.CSS(fionaRow)),
	)
	if n := browsertest.Text(t, op, wait, "#notice"); !strings.Contains(n, "Revoked 1") {
		t.Errorf("after the revocation the page says %q", n)
	}
	shot, _ = chromedp.Run(op, chromedp.FullScreenshot(100))
	browsertest.Screenshot(t, "ops-after-revoke", shot)

	// A revocation elsewhere (the API, another operator, another replica)
	// takes fiona's row off this page without a reload.
	if _, err := chromedp.Run(op, chromedp.Evaluate[bool](`window.tgNoReload = true`)); err != nil {
		t.Fatal(err)
	}
	handle, err := chromedp.Run(op, chromedp.Evaluate[string](`document.querySelector('`+fionaRow+`').dataset.handle`))
	if err != nil || len(handle) != 64 {
		t.Fatalf("fiona's handle on the page: %q %v", handle, err)
	}
	resp, body := send(t, http.DefaultClient, http.MethodPost, admin+"/api/revoke", strings.NewReader(`{"session":"`+handle+`"}`),
		"Authorization", "Bearer "+testAdminToken, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"revoked":1`) {
		t.Fatalf("revoking fiona by the API: %d %s", resp.StatusCode, body)
	}
	revoked := time.Now()
	browsertest.Do(t, op, wait, chromedp.WaitNotPresent(chromedp.CSS(fionaRow)))
	t.Logf("fiona's revoked session left the ops page %v after the revocation", time.Since(revoked).Round(10*time.Millisecond))
	if still, err := chromedp.Run(op, chromedp.Evaluate[bool](`window.tgNoReload === true`)); err != nil || !still {
		t.Fatalf("the page reloaded to drop fiona (%v)", err)
	}

	// alice's next navigation goes to sign-in: the chooser of demo mode.
	browsertest.Do(t, alice, wait,
		chromedp.Navigate(g.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/.auth/login/contoso"]`)),
	)
	loc, _ := chromedp.Run(alice, chromedp.Location())
	if !strings.Contains(loc, "/.auth/login") {
		t.Errorf("alice's next navigation ended at %s; want the sign-in page", loc)
	}
	if out := g.out.String(); !strings.Contains(out, `"who":"admin token","via":"admin cookie","action":"revoke","result":"ok","count":1,"tenant":"contoso","user":"`) {
		t.Errorf("no audit line for the revocation:\n%s", tail(out, 2000))
	}
}
