package devidp_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

func authorizeURL(srv *devidptest.Server, tenant string, extra url.Values) string {
	q := url.Values{"client_id": {srv.ClientID()}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {"openid User.Read"}, "state": {"s1"}}
	for k, v := range extra {
		q[k] = v
	}
	return srv.Authority(tenant) + "/oauth2/v2.0/authorize?" + q.Encode()
}

func TestSignInPageListsTenantUsersAndHonoursLoginHint(t *testing.T) {
	srv := devidptest.Start(t)
	resp, err := srv.Browser().Get(authorizeURL(srv, "fabrikam", url.Values{"login_hint": {"alice@contoso.onmicrosoft.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, `name="username" value="fiona@fabrikam.onmicrosoft.com"`) {
		t.Fatalf("page lacks fabrikam's member: %d %s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `value="alice@contoso.onmicrosoft.com" checked`) {
		t.Fatal("login_hint did not preselect the guest alice")
	}
	if strings.Contains(page, "bob@contoso") {
		t.Fatal("the page lists a user of another tenant")
	}
}

func TestPromptNoneUsesTheBrowserSessionUntilLogout(t *testing.T) {
	srv := devidptest.Start(t)
	browser := srv.Browser()
	if p, err := srv.SignIn(browser, authorizeURL(srv, "contoso", nil), "bob@contoso.onmicrosoft.com"); err != nil || p.Get("code") == "" {
		t.Fatalf("interactive sign-in: %v %v", err, p)
	}
	silent := authorizeURL(srv, "contoso", url.Values{"prompt": {"none"}, "response_mode": {"form_post"}})
	p, err := srv.SignIn(browser, silent, "")
	if err != nil || p.Get("code") == "" || p.Get("state") != "s1" {
		t.Fatalf("prompt=none with a session: %v %v", err, p)
	}
	resp, err := browser.Get(srv.Authority("contoso") + "/oauth2/v2.0/logout?post_logout_redirect_uri=" + url.QueryEscape(redirectURI) + "&state=bye")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != redirectURI+"?state=bye" {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	p, err = srv.SignIn(browser, silent, "")
	if err != nil || p.Get("error") != "login_required" || !strings.HasPrefix(p.Get("error_description"), "AADSTS50058:") {
		t.Fatalf("prompt=none after logout: %v %v", err, p)
	}
}

func TestLogoutRefusesUnregisteredRedirect(t *testing.T) {
	srv := devidptest.Start(t)
	resp, err := srv.Browser().Get(srv.Authority("contoso") + "/oauth2/v2.0/logout?post_logout_redirect_uri=https://evil.example/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("logout to an unregistered URI: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestAuthorizeRedirectsScopeErrors(t *testing.T) {
	srv := devidptest.Start(t)
	for scope, want := range map[string]string{
		"openid api://" + srv.ClientID() + "/Tasks.Admin": "consent_required",
		"openid api://" + srv.ClientID() + "/nope":        "invalid_scope",
	} {
		resp, err := srv.Browser().Get(authorizeURL(srv, "contoso", url.Values{"scope": {scope}}))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != want || loc.Query().Get("state") != "s1" {
			t.Fatalf("%s: %d %s", scope, resp.StatusCode, loc)
		}
	}
}

func TestCommonAuthorityIssuesInTheUsersTenant(t *testing.T) {
	srv := devidptest.Start(t)
	u := strings.Replace(authorizeURL(srv, "contoso", nil), srv.Authority("contoso"), srv.URL+"/organizations", 1)
	p, err := srv.SignIn(nil, u, "fiona@fabrikam.onmicrosoft.com")
	if err != nil || p.Get("code") == "" {
		t.Fatalf("%v %v", err, p)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {srv.ClientID()}, "client_secret": {srv.Secret()},
		"code": {p.Get("code")}, "redirect_uri": {redirectURI}, "scope": {"openid User.Read"}}
	st, _, raw := post(t, srv, "organizations", form)
	if st != 200 {
		t.Fatalf("redeem at organizations: %d %s", st, raw)
	}
	if tid := decodeClaims(t, field(t, raw, "id_token"))["tid"]; tid != "fab0d4e2-2222-4f22-8f22-000000000002" {
		t.Fatalf("tid %v, want fabrikam", tid)
	}
}

// A user signed in at home is signed in silently as a guest elsewhere, as
// in Entra: alice, a member of contoso and a guest in fabrikam, gets a
// fabrikam code from prompt=none, for her guest account; bob, no guest
// there, gets login_required.
func TestPromptNoneSignsInAGuestOfAnotherTenant(t *testing.T) {
	srv := devidptest.Start(t)
	for _, tc := range []struct{ user, want string }{{"alice@contoso.onmicrosoft.com", "code"}, {"bob@contoso.onmicrosoft.com", "login_required"}} {
		browser := srv.Browser()
		if p, err := srv.SignIn(browser, authorizeURL(srv, "contoso", nil), tc.user); err != nil || p.Get("code") == "" {
			t.Fatalf("interactive sign-in of %s: %v %v", tc.user, err, p)
		}
		p, err := srv.SignIn(browser, authorizeURL(srv, "fabrikam", url.Values{"prompt": {"none"}, "login_hint": {tc.user}}), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Get("code"); tc.want == "code" && got == "" || tc.want != "code" && p.Get("error") != tc.want {
			t.Fatalf("prompt=none in fabrikam for %s: %v, want %s", tc.user, p, tc.want)
		}
	}
}
