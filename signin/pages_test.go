package signin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// RFC 9700 4.16 (clickjacking): every page tenantgate itself renders
// (the tenant chooser, the sign-out confirmation, the signed-out page,
// refusals and "temporarily unavailable") forbids being framed, with
// Content-Security-Policy frame-ancestors 'none'.
func TestPagesCannotBeFramed(t *testing.T) {
	e := newEnv(t)
	chooser := e.replica(redisstore.ModeAuto, func(o *signin.Options) { o.DefaultTenant = "" })
	r := e.replica(redisstore.ModeAuto)
	unavailable := e.replica(redisstore.ModeAuto)
	unavailable.Store.Close() // every store call fails: 503
	cookie := func(b *http.Client, r *replica) *http.Client {
		setCookie(t, b, r, &http.Cookie{Name: r.Sessions.CookieName(), Value: strings.Repeat("A", 43)})
		return b
	}
	for _, tc := range []struct {
		name   string
		r      *replica
		b      *http.Client
		path   string
		status int
		text   string
	}{
		{"tenant chooser", chooser, e.browser(), "/.auth/login/aad", http.StatusOK, "Choose your organization"},
		{"sign-out confirmation", r, cookie(e.browser(), r), signin.LogoutPath, http.StatusOK, "Sign out?"},
		{"signed out", r, e.browser(), "/.auth/logout/complete", http.StatusOK, "Signed out"},
		{"refusal", r, e.browser(), signin.CallbackPath + "?state=forged&code=x", http.StatusBadRequest, "Sign-in failed"},
		{"unknown tenant", r, e.browser(), "/.auth/login/nowhere", http.StatusNotFound, "Sign-in failed"},
		{"temporarily unavailable", unavailable, e.browser(), "/.auth/login/contoso", http.StatusServiceUnavailable, "Temporarily unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.b, tc.r.URL+tc.path)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.text) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET %s: %d %q %.200s, want the %d page", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
			}
			csp := resp.Header.Values("Content-Security-Policy")
			if len(csp) != 1 || !strings.Contains(csp[0], "frame-ancestors 'none'") {
				t.Fatalf("GET %s: Content-Security-Policy %q, want frame-ancestors 'none'", tc.path, csp)
			}
		})
	}
}
