package signin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// The IdP's claims challenge (Conditional Access asking for MFA,
// AADSTS50076 on a silent refresh) goes with the user to sign in again:
// Challenge's login URL carries it, the pending sign-in keeps it, and the
// authorize request has it as Entra's claims parameter. For another
// resource (the session stays) and for the tenant's own scopes (the
// session ended).
func TestStepUpForwardsTheClaimsChallenge(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	stepUp := func() {
		t.Helper()
		if err := e.idp.IdP().QueueError(devidp.QueuedError{Endpoint: "token", Grant: "refresh_token", Code: 50076}); err != nil {
			t.Fatal(err)
		}
	}
	// authorizeClaims follows a login URL to the IdP and returns the
	// authorize request's claims parameter.
	authorizeClaims := func(t *testing.T, b *http.Client, login string) (flow, string) {
		t.Helper()
		if !strings.HasPrefix(login, "/.auth/login/") {
			t.Fatalf("challenge sent the browser to %q, not to sign in", login)
		}
		f := e.start(t, b, r, login)
		u, err := url.Parse(f.authorize)
		if err != nil {
			t.Fatal(err)
		}
		return f, u.Query().Get("claims")
	}

	t.Run("another resource", func(t *testing.T) {
		b := e.browser()
		e.signIn(t, b, r, "/.auth/login/contoso", alice)
		req, _ := http.NewRequest(http.MethodGet, r.URL+"/", nil)
		for _, c := range b.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		other := []string{apiScope(e.idp, "Tasks.Read")}
		stepUp()
		_, err := r.Handler.Token(context.Background(), req, other)
		var ie *signin.InteractionRequiredError
		if !errors.As(err, &ie) || ie.Claims == "" {
			t.Fatalf("Token under a step-up: %v", err)
		}
		w := httptest.NewRecorder()
		nav, _ := http.NewRequest(http.MethodGet, r.URL+"/tasks/7", nil)
		nav.Header.Set("Accept", "text/html")
		r.Handler.Challenge(w, nav, err)
		f, got := authorizeClaims(t, b, w.Header().Get("Location"))
		sameJSON(t, got, ie.Claims)
		// The step-up sign-in completes, its code redeemed with the claims
		// too (as MSAL's WithClaims sends them), and the token is had.
		e.idp.IdP().ResetRequests()
		resp, body := e.callback(t, b, r, e.atIdP(t, b, f, alice))
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/tasks/7" {
			t.Fatalf("the step-up sign-in: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		for _, q := range e.idp.IdP().Requests() {
			if q.Endpoint == "token" && q.Grant == "authorization_code" && !q.Claims {
				t.Fatal("the step-up's code was redeemed without the claims")
			}
		}
		if e.idp.IdP().Count("token", "authorization_code") != 1 {
			t.Fatal("no code redemption seen")
		}
		req.Header.Del("Cookie")
		for _, c := range b.Jar.Cookies(req.URL) {
			req.AddCookie(c)
		}
		if tok, err := r.Handler.Token(context.Background(), req, other); err != nil || tok.AccessToken == "" {
			t.Fatalf("Token after the step-up sign-in: %v", err)
		}
	})

	t.Run("own scopes", func(t *testing.T) {
		// bob: alice's partition holds long-lived tokens by now.
		b := e.browser()
		e.signInDue(t, b, r, "bob@contoso.onmicrosoft.com")
		stepUp()
		resp, body := get(t, b, r.URL+"/tasks")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("a step-up for the tenant's own scopes: %d %s", resp.StatusCode, body)
		}
		_, got := authorizeClaims(t, b, resp.Header.Get("Location"))
		sameJSON(t, got, `{"access_token":{"capolids":{"essential":true,"values":["devidp-mfa"]}}}`)
	})

	t.Run("no challenge, no claims", func(t *testing.T) {
		_, got := authorizeClaims(t, e.browser(), "/.auth/login/contoso")
		if got != "" {
			t.Fatalf("a plain sign-in sends claims %q", got)
		}
	})

	t.Run("what goes on is what was checked", func(t *testing.T) {
		// A duplicate key decodes to its last value; the first must not
		// ride along to the IdP in the raw string.
		dup := `{"access_token":{"xms_cc":{"values":["cp1"]}},"access_token":{"nbf":{"essential":true,"value":"1"}}}`
		_, got := authorizeClaims(t, e.browser(), "/.auth/login/contoso?claims="+url.QueryEscape(dup))
		if strings.Contains(got, "xms_cc") || !strings.Contains(got, "nbf") {
			t.Fatalf("claims sent to the IdP: %q; want the checked request only", got)
		}
	})

	t.Run("malformed claims are refused", func(t *testing.T) {
		for _, c := range []string{"not json", `["a"]`, `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}` + strings.Repeat(" ", 5000),

			// Client capabilities (continuous access evaluation: day-long
			// tokens) and anything else beyond a challenge's own members.
			`{"access_token":{"xms_cc":{"values":["cp1"]}}}`,
			`{"access_token":{"acrs":{"essential":true,"value":"c1"},"xms_cc":{"values":["cp1"]}}}`,
			`{"userinfo":{"email":null}}`, `{}`, `{"access_token":{}}`, `{"access_token":"x"}`} {
			resp, body := get(t, e.browser(), r.URL+"/.auth/login/contoso?claims="+url.QueryEscape(c))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("claims %.20q: %d %s", c, resp.StatusCode, body)
			}
		}
	})
}

// sameJSON fails unless got and want are the same JSON value.
func sameJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("claims %q are not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("claims %s, want %s", got, want)
	}
}
