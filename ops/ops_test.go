package ops

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
)

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123": true, "a.b:c_d": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "has space": false, "<script>": false, "é": false, "a\nb": false,
	} {
		if got := validRequestID(id); got != want {
			t.Errorf("validRequestID(%q) = %v", id, got)
		}
	}
}

func TestRefreshOutcome(t *testing.T) {
	// client_info of uid "u1", utid "t1", base64url without padding.
	const ci = "eyJ1aWQiOiJ1MSIsInV0aWQiOiJ0MSJ9"
	for _, tc := range []struct {
		status              int
		body                string
		result, error, home string
	}{
		{200, `{"access_token":"x","client_info":"` + ci + `"}`, "ok", "", "u1.t1"},
		{200, `{"client_info":"not base64!"}`, "ok", "", ""},
		{400, `{"error":"invalid_grant","error_description":"AADSTS50173","error_codes":[50173]}`, "invalid_grant", "invalid_grant AADSTS50173", ""},
		{400, `{"error":"interaction_required"}`, "invalid_grant", "interaction_required", ""},
		{400, `{"error":"invalid_client"}`, "other", "invalid_client", ""},
		{400, `{"error":"<b>not a code</b>"}`, "other", "HTTP 400", ""},
		{429, ``, "transient", "HTTP 429", ""},
		{503, `<html>`, "transient", "HTTP 503", ""},
		{503, `{"error":"temporarily_unavailable","error_codes":[50196]}`, "transient", "temporarily_unavailable AADSTS50196", ""},
	} {
		if r, h := refreshOutcome(tc.status, []byte(tc.body)); r.Result != tc.result || r.Error != tc.error || h != tc.home {
			t.Errorf("%d %s: %+v %q; want %s %q %q", tc.status, tc.body, r, h, tc.result, tc.error, tc.home)
		}
	}
	if got := scopeSet("openid api://x/B offline_access api://x/a profile"); got != "api://x/a api://x/b" {
		t.Errorf("scopeSet: %q", got)
	}
	if tenantOfPath("/c0a7f4a1-1111/oauth2/v2.0/token") != "c0a7f4a1-1111" || endpointOf("/t/oauth2/v2.0/token") != "token" ||
		endpointOf("/t/v2.0/.well-known/openid-configuration") != "discovery" || endpointOf("/t/discovery/v2.0/keys") != "keys" {
		t.Error("endpoint or tenant of a path misread")
	}
}

func newTestHandler(t *testing.T, now func() time.Time) *Handler {
	t.Helper()
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	k, _ := seal.GenerateKey("t")
	keys, _ := seal.NewKeyring(k)
	sm, err := session.New(st, keys, session.Options{PublicURL: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{Sessions: sm, Tenants: func() []Tenant { return []Tenant{{Key: "contoso", TenantID: "tid-1"}} },
		Token: "0123456789abcdef-token", Logger: discard(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The admin cookie proves the token was typed, expires, and dies with a
// rotated token; cookie-authenticated revocations need the CSRF token.
func TestAdminCookieAndCSRF(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	h := newTestHandler(t, func() time.Time { return now })
	wrong := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token=nope"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(wrong, req)
	if wrong.Code != http.StatusUnauthorized || len(wrong.Result().Cookies()) != 0 {
		t.Fatalf("a wrong token: %d, cookies %v", wrong.Code, wrong.Result().Cookies())
	}
	req = httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("token=0123456789abcdef-token"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	login := httptest.NewRecorder()
	h.ServeHTTP(login, req)
	cookies := login.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != cookieName || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("login cookie: %v", cookies)
	}
	get := func(c *http.Cookie, path string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if c != nil {
			r.AddCookie(c)
		}
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := get(cookies[0], "/api/tenants"); code != http.StatusOK {
		t.Fatalf("with the admin cookie: %d", code)
	}
	forged := *cookies[0]
	forged.Value = strings.Split(forged.Value, ".")[0] + ".AAAA"
	if code := get(&forged, "/api/tenants"); code != http.StatusUnauthorized {
		t.Fatalf("a forged admin cookie: %d", code)
	}
	post := func(body, csrf string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/api/revoke", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if csrf != "" {
			r.Header.Set("X-CSRF-Token", csrf)
		}
		r.AddCookie(cookies[0])
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := post("session="+strings.Repeat("a", 64), ""); code != http.StatusForbidden {
		t.Fatalf("revoke with the cookie and no CSRF token: %d", code)
	}
	if code := post("session="+strings.Repeat("a", 64), csrfToken(cookies[0].Value)); code != http.StatusOK {
		t.Fatalf("revoke with the CSRF token: %d", code)
	}
	now = now.Add(cookieLifetime + time.Second)
	if code := get(cookies[0], "/api/tenants"); code != http.StatusUnauthorized {
		t.Fatalf("an expired admin cookie: %d", code)
	}
}
