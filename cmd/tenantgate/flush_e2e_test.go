package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/faultproxy"
	"github.com/tenantgate/tenantgate/internal/redistest"
)

// A refresh whose new tokens could not be written (Redis unreachable
// behind a warm L1) waits in the token cache's write-behind; SIGTERM
// writes it before the process exits, once Redis answers within the
// flush's deadline. Proved by another replica: it uses the refreshed
// tokens without a refresh of its own, under strict refresh-token
// rotation (redeeming the spent refresh token again would end the
// sign-in), so a lost state would show as a second grant or a 401.
func TestSIGTERMWritesTheQueuedTokens(t *testing.T) {
	srv := redistest.Standalone(t)
	// MSAL renews 5 minutes early: this token is good for 2 s, then due.
	idp := devidptest.Start(t, devidptest.WithLifetimes(devidp.Lifetimes{AccessToken: 5*time.Minute + 2*time.Second}))
	idp.IdP().SetStrictRefreshRotation(true)
	up := echoUpstream(t)
	f := newFixture(t, idp)
	px := faultproxy.Start(t, srv.Addr)
	// Short store timeouts, so that the refresh gives up the lock and the
	// write quickly while Redis is black-holed.
	g := startServe(t, f.args("redis://"+px.Addr+"?op_timeout=300ms", up.URL, "--pass-access-token"), f.env()...)
	b := browser(idp)
	signIn(t, idp, b, g.URL, "alice@contoso.onmicrosoft.com")
	idp.IdP().SetLifetimes(devidp.Lifetimes{}) // the refreshed tokens are long-lived
	// One request while the token is good puts the session and the token
	// partition in the replica's L1; then the token falls due.
	if resp, body := send(t, b, http.MethodGet, g.URL+"/x", nil, "Accept", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, body)
	}
	time.Sleep(2500 * time.Millisecond)

	px.BlackHole()
	resp, body := send(t, b, http.MethodGet, g.URL+"/x", nil, "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		px.Heal()
		t.Fatalf("with Redis black-holed behind a warm L1: %d %s", resp.StatusCode, body)
	}
	fresh := http.Header(decodeEcho(t, body).Header).Get("X-Ms-Token-Aad-Access-Token")
	if n := idp.IdP().Count("token", "refresh_token"); n != 1 || fresh == "" {
		px.Heal()
		t.Fatalf("the refresh: %d grants, token %t; want 1 grant and a token", n, fresh != "")
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the flush is waiting on Redis
	px.Heal()
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, tail(g.out.String(), 20))
	}
	if strings.Contains(g.out.String(), "closed with a state not yet written") {
		t.Fatalf("the queued state was dropped at exit:\n%s", tail(g.out.String(), 20))
	}

	other := startServe(t, f.args("redis://"+srv.Addr, up.URL, "--pass-access-token"), f.env()...)
	// Both replicas are localhost: the browser's cookie jar sends the
	// same session cookie to either port.
	resp, body = send(t, b, http.MethodGet, other.URL+"/x", nil, "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another replica after the flush: %d %s; the refreshed tokens were lost", resp.StatusCode, body)
	}
	if got := http.Header(decodeEcho(t, body).Header).Get("X-Ms-Token-Aad-Access-Token"); got != fresh {
		t.Fatalf("another replica passed a different access token: the refreshed state did not land")
	}
	if n := idp.IdP().Count("token", "refresh_token"); n != 1 {
		t.Fatalf("%d refresh grants; want the one before SIGTERM only", n)
	}
}
