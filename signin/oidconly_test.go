package signin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
)

// A sign-in-only app (a CIAM app that calls no API) configures only OIDC
// scopes, or none. MSAL Go reports any requested scope the reply does not
// echo as declined and fails the call (architecture fact 11), and Entra
// never echoes offline_access: such a tenant once failed at the callback
// with a 503. The whole flow must work with the real MSAL Go, and later
// requests be authenticated without an access token, even when the
// access token the sign-in brought is long expired (nothing refreshes it).
func TestOIDCOnlyScopesSignIn(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		scopes []string
	}{
		{"none", nil},
		{"openid profile offline_access email", []string{"openid", "profile", "offline_access", "email"}},
		{"offline_access", []string{"offline_access"}},
		{"upper case", []string{"OpenID", "Offline_Access"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.configure = func(c *tenant.Config) {
				ct := c.Tenants["contoso"]
				ct.Scopes = tc.scopes
				c.Tenants["contoso"] = ct
			}
			defer func() { e.configure = nil }()
			a, b := e.replica(redisstore.ModeAuto), e.replica(redisstore.ModeAuto, func(o *signin.Options) { o.ExposeTokens = true })
			br := e.browser()
			e.idp.IdP().ResetRequests()
			if loc := e.signIn(t, br, a, "/.auth/login/contoso?post_login_redirect_uri=/tasks", alice); loc != "/tasks" {
				t.Fatalf("after sign-in the browser goes to %q, want /tasks", loc)
			}
			// Past the access token's lifetime: a token check would refresh.
			e.idp.IdP().Advance(2 * time.Hour)
			defer e.idp.IdP().Advance(-2 * time.Hour)
			for _, r := range []*replica{a, b} {
				resp, body := api(t, br, r.URL+"/tasks")
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"`+alice+`"`) {
					t.Fatalf("a request after sign-in: %d %s", resp.StatusCode, body)
				}
			}
			status, m := me(t, br, b)
			if status != http.StatusOK || len(m) != 1 || m[0]["user_id"] != alice {
				t.Fatalf("/.auth/me: %d %v", status, m)
			}
			if _, ok := m[0]["access_token"]; ok {
				t.Fatalf("/.auth/me shows an access token for a tenant that asks for none: %v", m[0])
			}
			req, _ := http.NewRequest(http.MethodGet, b.URL+"/.auth/refresh", nil)
			if resp, body := do(t, br, req); resp.StatusCode != http.StatusOK || !strings.Contains(body, "expires_on") {
				t.Fatalf("/.auth/refresh: %d %s", resp.StatusCode, body)
			}
			if n := e.idp.IdP().Count("token", "refresh_token"); n != 0 {
				t.Fatalf("%d refreshes for a tenant with no resource scope, want 0", n)
			}
			// Asking for a resource explicitly still works, through the
			// refresh token the sign-in brought.
			req, _ = http.NewRequest(http.MethodGet, a.URL+"/", nil)
			for _, c := range br.Jar.Cookies(req.URL) {
				req.AddCookie(c)
			}
			tok, err := a.Handler.Token(t.Context(), req, []string{apiScope(e.idp, "access_as_user")})
			if err != nil || tok.AccessToken == "" {
				t.Fatalf("Token for the API after an OIDC-only sign-in: %v", err)
			}
		})
	}
}
