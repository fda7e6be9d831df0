package signin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// signInDue signs user in with an access token that MSAL treats as
// expired (4 minutes left: MSAL refreshes 5 minutes early), so that the
// next request must refresh; tokens issued after that are long-lived.
func (e *env) signInDue(t *testing.T, b *http.Client, r *replica, user string) {
	t.Helper()
	e.idp.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
	e.signIn(t, b, r, "/.auth/login/contoso", user)
	e.idp.IdP().SetLifetimes(devidp.Lifetimes{})
}

// The refresh token revoked at the IdP while the access token is due: the
// next request ends the session (a natural logout). A browser is sent to
// sign in again with its path; an API caller gets 401.
func TestRevokedRefreshTokenEndsTheSession(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	browser, client := e.browser(), e.browser()
	e.signInDue(t, browser, r, alice)
	e.signInDue(t, client, r, alice)
	if n := e.idp.IdP().RevokeRefreshTokens(alice); n == 0 {
		t.Fatal("devidp revoked no refresh token")
	}
	resp, body := get(t, browser, r.URL+"/tasks?id=7")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/.auth/login/aad?post_login_redirect_uri=%2Ftasks%3Fid%3D7" {
		t.Fatalf("browser after revocation: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, _ = api(t, client, r.URL+"/tasks")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("API after revocation: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// The session is gone, not just refused once: no record, no tokens.
	if status, _ := me(t, browser, r); status != http.StatusUnauthorized {
		t.Fatalf("/.auth/me after the natural logout: %d", status)
	}
}

// An IdP outage or a paused Redis while the token is due is 503 with
// Retry-After, and the session survives: the same cookie works after.
func TestOutageIsNotSignOut(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	t.Run("IdP down", func(t *testing.T) {
		b := e.browser()
		e.signInDue(t, b, r, alice)
		e.idp.IdP().SetOutage(time.Hour)
		resp, body := api(t, b, r.URL+"/x")
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("during the outage: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		e.idp.IdP().SetOutage(0)
		if resp, body := api(t, b, r.URL+"/x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after the outage: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("Redis paused", func(t *testing.T) {
		b := e.browser()
		e.signInDue(t, b, r, alice)
		e.redis[0].Pause(t)
		resp, body := api(t, b, r.URL+"/x")
		e.redis[0].Resume(t)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("with Redis paused: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, body := api(t, b, r.URL+"/x")
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after Redis resumed: %d %s", resp.StatusCode, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// A revocation by operations on replica B is refused on replica A within
// a second, whichever way A's store keeps its L1 coherent.
func TestRevocationOnOneReplicaIsRefusedOnAnother(t *testing.T) {
	e := newEnv(t)
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModeBcast, redisstore.ModePubSub, redisstore.ModeOff} {
		t.Run(string(mode), func(t *testing.T) {
			a, b := e.replica(mode), e.replica(mode)
			br := e.browser()
			e.signIn(t, br, a, "/.auth/login/contoso", alice)
			if resp, _ := api(t, br, a.URL+"/x"); resp.StatusCode != http.StatusOK {
				t.Fatalf("before revocation: %d", resp.StatusCode)
			}
			s := loadSession(t, br, a)
			if _, err := b.Sessions.RevokeUser(t.Context(), s.TenantID, s.HomeAccountID); err != nil {
				t.Fatal(err)
			}
			revoked := time.Now()
			for {
				resp, _ := api(t, br, a.URL+"/x")
				if resp.StatusCode == http.StatusUnauthorized {
					break
				}
				if time.Since(revoked) > time.Second {
					t.Fatalf("replica A still serves the session %v after B revoked it", time.Since(revoked))
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// Switching tenant while signed in: alice (a guest in fabrikam) switches
// from contoso without a form (prompt=none with her username as the
// hint), gets a new session ID, and the old session ends. bob, no guest
// there, is sent on to the interactive page.
func TestTenantSwitch(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	b := e.browser()
	e.signIn(t, b, r, "/.auth/login/contoso", alice)
	old := cookie(t, b, r)
	f := e.start(t, b, r, "/.auth/login/fabrikam?post_login_redirect_uri=/f")
	if !strings.Contains(f.authorize, "prompt=none") || !strings.Contains(f.authorize, "login_hint=alice%40contoso.onmicrosoft.com") {
		t.Fatalf("the switch does not try prompt=none with a hint: %s", f.authorize)
	}
	resp, body := e.callback(t, b, r, e.atIdP(t, b, f, ""))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/f" {
		t.Fatalf("silent switch: %d %s", resp.StatusCode, body)
	}
	if got := cookie(t, b, r); got.Value == old.Value {
		t.Fatal("the tenant switch kept the session ID")
	}
	_, m := me(t, b, r)
	if len(m) != 1 || !hasClaim(m[0], "tid", devidp.DemoFabrikamID) {
		t.Fatalf("after the switch /.auth/me is %v, want fabrikam's tid", m)
	}
	stale := e.browser()
	setCookie(t, stale, r, old)
	if resp, _ := api(t, stale, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old session still works: %d", resp.StatusCode)
	}

	bob := e.browser()
	e.signIn(t, bob, r, "/.auth/login/contoso", "bob@contoso.onmicrosoft.com")
	f = e.start(t, bob, r, "/.auth/login/fabrikam")
	resp, body = e.callback(t, bob, r, e.atIdP(t, bob, f, ""))
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/v2.0/authorize") || strings.Contains(resp.Header.Get("Location"), "prompt=none") {
		t.Fatalf("bob's switch after login_required: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func hasClaim(m map[string]any, typ, val string) bool {
	claims, _ := m["user_claims"].([]any)
	for _, c := range claims {
		if c, ok := c.(map[string]any); ok && c["typ"] == typ && c["val"] == val {
			return true
		}
	}
	return false
}

// Conditional Access asking for MFA (AADSTS50076, with a claims challenge)
// for a resource beyond the tenant's scopes, asked through Token, says
// nothing about the session: Token returns *InteractionRequiredError and
// the session and its tokens stay. For the tenant's own scopes the same
// answer is a natural logout.
func TestStepUpForAnotherResourceKeepsTheSession(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	// A step-up for the tenant's own scopes ends the session.
	due := e.browser()
	e.signInDue(t, due, r, alice)
	if err := e.idp.IdP().QueueError(devidp.QueuedError{Endpoint: "token", Grant: "refresh_token", Code: 50076}); err != nil {
		t.Fatal(err)
	}
	if resp, body := api(t, due, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("step-up for the tenant's own scopes: %d %s", resp.StatusCode, body)
	}
	if resp, _ := api(t, due, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the session survived a step-up for the tenant's own scopes: %d", resp.StatusCode)
	}
	b := e.browser()
	e.signIn(t, b, r, "/.auth/login/contoso", alice)
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/", nil)
	for _, c := range b.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	if err := e.idp.IdP().QueueError(devidp.QueuedError{Endpoint: "token", Grant: "refresh_token", Code: 50076}); err != nil {
		t.Fatal(err)
	}
	other := []string{"https://graph.microsoft.com/Mail.Read"}
	_, err := r.Handler.Token(context.Background(), req, other)
	var ie *signin.InteractionRequiredError
	if !errors.As(err, &ie) || errors.Is(err, signin.ErrSignInRequired) || ie.Claims == "" || !slices.Equal(ie.Scopes, other) {
		t.Fatalf("Token(another resource) under a step-up: %v", err)
	}
	if _, err := r.Handler.Token(context.Background(), req, nil); err != nil {
		t.Fatalf("the session did not survive a step-up challenge for another resource: %v", err)
	}
	if resp, body := api(t, b, r.URL+"/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after the step-up: %d %s", resp.StatusCode, body)
	}
	// Challenge sends a browser to sign in with the scopes asked for.
	w := httptest.NewRecorder()
	nav, _ := http.NewRequest(http.MethodGet, r.URL+"/mail", nil)
	nav.Header.Set("Accept", "text/html")
	r.Handler.Challenge(w, nav, err)
	if loc := w.Header().Get("Location"); w.Code != http.StatusFound || !strings.Contains(loc, "scope="+url.QueryEscape(other[0])) {
		t.Fatalf("Challenge(step-up): %d %q", w.Code, loc)
	}
}

// Signing out on the phone ends the phone's session only: the laptop's
// session of the same user shares the token partition, which stays while
// a session of the user lives, and goes with the last sign-out.
func TestLogoutInOneBrowserKeepsTheOthers(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	login := "/.auth/login/contoso?post_login_redirect_uri=/home"
	laptop, phone := e.browser(), e.browser()
	e.signInDue(t, laptop, r, alice) // its next request refreshes: the partition must be there
	e.signIn(t, phone, r, login, alice)
	if resp, _ := get(t, phone, r.URL+signin.LogoutPath, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusFound {
		t.Fatalf("phone sign-out: %d", resp.StatusCode)
	}
	if resp, _ := api(t, phone, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the phone is still signed in: %d", resp.StatusCode)
	}
	if resp, body := api(t, laptop, r.URL+"/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the laptop's session ended because the phone signed out: %d %s", resp.StatusCode, body)
	}
	// The last sign-out deletes the partition.
	s := loadSession(t, laptop, r)
	if resp, _ := get(t, laptop, r.URL+signin.LogoutPath, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusFound {
		t.Fatalf("laptop sign-out: %d", resp.StatusCode)
	}
	tenantOf, _ := r.Tenants.Tenant("contoso")
	if _, err := tenantOf.Client().AcquireTokenSilent(context.Background(), s.HomeAccountID, tenantOf.Scopes); err == nil {
		t.Fatal("the user's tokens outlived their last session")
	}
}

// A request that needs no token checks the session's tokens only when
// they can have changed: tokens removed from the store behind the
// session's back (an eviction, an operator) go unnoticed while the access
// token is good, for at most a minute, and then end the session; a
// request needing the token (Token, --pass-access-token) always looks.
func TestTokenCheckedWhenItCanHaveChanged(t *testing.T) {
	e := newEnv(t)
	var skew atomic.Int64
	r := e.replica(redisstore.ModeAuto, func(o *signin.Options) {
		o.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	b := e.browser()
	e.signIn(t, b, r, "/.auth/login/contoso", alice)
	if resp, body := api(t, b, r.URL+"/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d %s", resp.StatusCode, body)
	}
	s := loadSession(t, b, r)
	contoso, _ := r.Tenants.Tenant("contoso")
	if err := contoso.Client().SignOut(t.Context(), s.HomeAccountID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if resp, body := api(t, b, r.URL+"/x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("within a minute of the last check: %d %s; want 200 without a token lookup", resp.StatusCode, body)
		}
	}
	skew.Store(int64(61 * time.Second))
	if resp, _ := api(t, b, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a minute later: %d; want 401, the session ended", resp.StatusCode)
	}
	if status, _ := me(t, b, r); status != http.StatusUnauthorized {
		t.Fatalf("/.auth/me after: %d; want the session gone", status)
	}
}
