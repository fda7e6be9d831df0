package signin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// ASVS 3.6.1: with MaxAuthAge the authorize request says max_age, and a
// sign-in whose authentication at the IdP is older (here: a silent
// tenant switch two hours after alice last authenticated, from an IdP
// that ignores max_age) is asked once more with prompt=login, and refused
// if still older. An IdP that honours max_age asks the user itself.
func TestMaxAuthAge(t *testing.T) {
	e := newEnv(t)
	idp := e.idp.IdP()
	// One clock for the IdP and the handler, so that the IdP's two hours
	// are the handler's too.
	r := e.replica(redisstore.ModeAuto, func(o *signin.Options) { o.MaxAuthAge = time.Hour; o.Now = idp.Now })
	query := func(t *testing.T, authorize string) url.Values {
		t.Helper()
		u, err := url.Parse(authorize)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query()
	}
	if q := query(t, e.start(t, e.browser(), e.replica(redisstore.ModeAuto), "/.auth/login/contoso").authorize); q.Has("max_age") {
		t.Fatalf("max_age %q without MaxAuthAge", q.Get("max_age"))
	}
	b := e.browser()
	f := e.start(t, b, r, "/.auth/login/contoso?post_login_redirect_uri=/a")
	if got := query(t, f.authorize).Get("max_age"); got != "3600" {
		t.Fatalf("the authorize request's max_age is %q, want 3600", got)
	}
	if resp, body := e.callback(t, b, r, e.atIdP(t, b, f, alice)); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/a" {
		t.Fatalf("a fresh sign-in: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	idp.Advance(2 * time.Hour)

	// switchSilently starts the switch to fabrikam, which tries prompt=none,
	// and returns where the callback sends the browser next.
	switchSilently := func(t *testing.T) *http.Response {
		t.Helper()
		f := e.start(t, b, r, "/.auth/login/fabrikam?post_login_redirect_uri=/f")
		if q := query(t, f.authorize); q.Get("prompt") != "none" || q.Get("max_age") != "3600" {
			t.Fatalf("the switch's authorize request: %v", q)
		}
		resp, _ := e.callback(t, b, r, e.atIdP(t, b, f, ""))
		return resp
	}
	t.Run("the IdP honours max_age", func(t *testing.T) {
		resp := switchSilently(t)
		if q := query(t, resp.Header.Get("Location")); resp.StatusCode != http.StatusFound || !q.Has("client_id") || q.Get("prompt") != "" {
			t.Fatalf("after login_required: %d %q, want the IdP's page", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	idp.SetIgnoreMaxAge(true)
	// asked follows the switch to the second authorize request, which
	// must ask alice to authenticate again.
	asked := func(t *testing.T) flow {
		t.Helper()
		resp := switchSilently(t)
		q := query(t, resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || q.Get("prompt") != "login" || q.Get("max_age") != "3600" || q.Get("login_hint") != alice {
			t.Fatalf("after a two-hour-old authentication: %d %v, want prompt=login for alice", resp.StatusCode, q)
		}
		return flow{authorize: resp.Header.Get("Location")}
	}
	t.Run("still too old", func(t *testing.T) {
		// An IdP that answers prompt=login with its single sign-on.
		f := asked(t)
		f.authorize = strings.Replace(f.authorize, "prompt=login", "prompt=none", 1)
		resp, body := e.callback(t, b, r, e.atIdP(t, b, f, ""))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "older than this app allows") {
			t.Fatalf("a second too-old authentication: %d %s", resp.StatusCode, body)
		}
		if s := loadSession(t, b, r); s.TenantKey != "contoso" {
			t.Fatalf("the refused sign-in changed the session to %s", s.TenantKey)
		}
	})
	t.Run("authenticated again", func(t *testing.T) {
		resp, body := e.callback(t, b, r, e.atIdP(t, b, asked(t), alice))
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/f" {
			t.Fatalf("after authenticating again: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if s := loadSession(t, b, r); s.TenantKey != "fabrikam" {
			t.Fatalf("signed in to %s, want fabrikam", s.TenantKey)
		}
	})
}
