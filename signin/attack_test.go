package signin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
)

const alice = "alice@contoso.onmicrosoft.com"

// Each attack on the sign-in is refused, in its own subtest, on one
// replica over real Redis and the dev IdP.
func TestAttacksAreRefused(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	login := "/.auth/login/contoso?post_login_redirect_uri=/home"

	t.Run("replayed state", func(t *testing.T) {
		b := e.browser()
		f := e.atIdP(t, b, e.start(t, b, r, login), alice)
		if resp, body := e.callback(t, b, r, f); resp.StatusCode != http.StatusFound {
			t.Fatalf("first use: %d %s", resp.StatusCode, body)
		}
		if resp, body := e.callback(t, b, r, f); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "already completed") {
			t.Fatalf("replay: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		attacker, victim := e.browser(), e.browser()
		f := e.atIdP(t, attacker, e.start(t, attacker, r, login), "bob@contoso.onmicrosoft.com")
		resp, body := e.callback(t, victim, r, f)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "another browser") {
			t.Fatalf("login CSRF: %d %s", resp.StatusCode, body)
		}
		if status, _ := me(t, victim, r); status != http.StatusUnauthorized {
			t.Fatalf("the victim is signed in as the attacker: /.auth/me %d", status)
		}
	})
	t.Run("nonce mismatch", func(t *testing.T) {
		b := e.browser()
		f := e.start(t, b, r, login)
		f.authorize = setParam(t, f.authorize, "nonce", "attacker-chosen-nonce")
		resp, body := e.callback(t, b, r, e.atIdP(t, b, f, alice))
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "nonce") {
			t.Fatalf("nonce mismatch: %d %s", resp.StatusCode, body)
		}
		if status, _ := me(t, b, r); status != http.StatusUnauthorized {
			t.Fatalf("signed in despite the nonce: %d", status)
		}
	})
	t.Run("PKCE verifier mismatch", func(t *testing.T) {
		b := e.browser()
		f := e.start(t, b, r, login)
		f.authorize = setParam(t, f.authorize, "code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
		resp, body := e.callback(t, b, r, e.atIdP(t, b, f, alice))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("PKCE mismatch: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("open redirects", func(t *testing.T) {
		for _, evil := range []string{"https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/\t/evil.example", "https:evil.example"} {
			b := e.browser()
			loc := e.signIn(t, b, r, "/.auth/login/contoso?post_login_redirect_uri="+url.QueryEscape(evil), alice)
			if loc != "/" {
				t.Errorf("post_login_redirect_uri=%q sends the browser to %q, want /", evil, loc)
			}
		}
	})
	t.Run("fixation", func(t *testing.T) {
		attacker := e.browser()
		e.signIn(t, attacker, r, login, "bob@contoso.onmicrosoft.com")
		planted := cookie(t, attacker, r)
		victim := e.browser()
		u, _ := url.Parse(r.URL)
		victim.Jar.SetCookies(u, []*http.Cookie{planted})
		e.signIn(t, victim, r, login, alice)
		if got := cookie(t, victim, r); got.Value == planted.Value {
			t.Fatal("the session ID planted before sign-in was kept")
		}
		if resp, _ := api(t, attacker, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the planted session still works: %d", resp.StatusCode)
		}
	})
	t.Run("tampered and forged cookies", func(t *testing.T) {
		b := e.browser()
		e.signIn(t, b, r, login, alice)
		good := cookie(t, b, r)
		for _, v := range []string{flip(good.Value), strings.Repeat("A", 43), "", "not a session", good.Value + "x", strings.Repeat("%", 43)} {
			forged := e.browser()
			u, _ := url.Parse(r.URL)
			forged.Jar.SetCookies(u, []*http.Cookie{{Name: good.Name, Value: v}})
			if resp, body := api(t, forged, r.URL+"/x"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("cookie %q: %d %s", v, resp.StatusCode, body)
			}
		}
	})
	t.Run("cross-site logout by GET", func(t *testing.T) {
		b := e.browser()
		e.signIn(t, b, r, login, alice)
		resp, body := get(t, b, r.URL+signin.LogoutPath, "Sec-Fetch-Site", "cross-site")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="csrf"`) {
			t.Fatalf("cross-site GET logout: %d %s", resp.StatusCode, body)
		}
		if status, _ := me(t, b, r); status != http.StatusOK {
			t.Fatalf("a cross-site GET signed the user out: /.auth/me %d", status)
		}
		req, _ := http.NewRequest(http.MethodPost, r.URL+signin.LogoutPath, strings.NewReader("csrf=guess"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if resp, body := do(t, b, req); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("cross-site POST logout: %d %s", resp.StatusCode, body)
		}
		if status, _ := me(t, b, r); status != http.StatusOK {
			t.Fatalf("a cross-site POST signed the user out: /.auth/me %d", status)
		}
		// The confirmation page's own form signs out.
		token := between(body0(t, b, r), `name="csrf" value="`, `"`)
		req, _ = http.NewRequest(http.MethodPost, r.URL+signin.LogoutPath, strings.NewReader("csrf="+url.QueryEscape(token)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, body := do(t, b, req); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/.auth/logout/complete" {
			t.Fatalf("confirmed logout: %d %s", resp.StatusCode, body)
		}
		if status, _ := me(t, b, r); status != http.StatusUnauthorized {
			t.Fatalf("still signed in after the confirmed logout: %d", status)
		}
	})
	t.Run("tenant not on the allow-list", func(t *testing.T) {
		// fabrikam is neither configured nor on organizations' allow-list.
		e.configure = func(c *tenant.Config) { delete(c.Tenants, "fabrikam") }
		defer func() { e.configure = nil }()
		r := e.replica(redisstore.ModeAuto)
		b := e.browser()
		resp, body := e.callback(t, b, r, e.atIdP(t, b, e.start(t, b, r, "/.auth/login/organizations"), "fiona@fabrikam.onmicrosoft.com"))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("fabrikam through organizations: %d %s", resp.StatusCode, body)
		}
		if loc := e.signIn(t, e.browser(), r, "/.auth/login/organizations?post_login_redirect_uri=/ok", alice); loc != "/ok" {
			t.Fatalf("contoso through organizations: %q", loc)
		}
	})
}

func setParam(t *testing.T, raw, k, v string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

// cookie is the session cookie b holds for r.
func cookie(t *testing.T, b *http.Client, r *replica) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(r.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == r.Sessions.CookieName() {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func flip(s string) string {
	b := []byte(s)
	if b[5] == 'A' {
		b[5] = 'B'
	} else {
		b[5] = 'A'
	}
	return string(b)
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	j := strings.Index(s, to)
	if j < 0 {
		return ""
	}
	return s[:j]
}

// body0 is the logout confirmation page as a cross-site GET shows it.
func body0(t *testing.T, b *http.Client, r *replica) string {
	_, body := get(t, b, r.URL+signin.LogoutPath, "Sec-Fetch-Site", "cross-site")
	return body
}

// A second sign-in started while the first one's binding cookie lives
// keeps its value (a sign-in in another tab still completes) but sends
// it again with a fresh Max-Age: otherwise the cookie expires before the
// pending sign-in it guards, which then fails with "another browser".
func TestBindingCookieIsRefreshedOnEveryLoginStart(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	b := e.browser()
	login := "/.auth/login/contoso?post_login_redirect_uri=/home"
	binding := func(resp *http.Response) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == "tg_signin" {
				return c
			}
		}
		return nil
	}
	resp, _ := get(t, b, r.URL+login)
	first := binding(resp)
	resp, _ = get(t, b, r.URL+login)
	second := binding(resp)
	if first == nil || second == nil || second.Value != first.Value || second.MaxAge != first.MaxAge || second.MaxAge <= 0 {
		t.Fatalf("binding cookie: first %v, second %v", first, second)
	}
}

// A cross-site page posts an error with a state the attacker started in
// their own browser: the victim's browser fails the binding check before
// anything is shown, and even the browser that started the sign-in sees a
// fixed text for the error code, never the request's error_description.
func TestCallbackErrorIsCheckedAndNeverEchoed(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	lure := "Your account is locked. Call +1-555-0100 to unlock it."
	post := func(b *http.Client, state string) (*http.Response, string) {
		form := url.Values{"state": {state}, "error": {"access_denied"}, "error_description": {lure}}
		req, _ := http.NewRequest(http.MethodPost, r.URL+signin.CallbackPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := do(t, b, req)
		if resp.StatusCode == http.StatusSeeOther {
			resp, body = get(t, b, r.URL+resp.Header.Get("Location"))
		}
		return resp, body
	}
	stateOf := func(f flow) string {
		u, _ := url.Parse(f.authorize)
		return u.Query().Get("state")
	}
	attacker, victim := e.browser(), e.browser()
	resp, body := post(victim, stateOf(e.start(t, attacker, r, "/.auth/login/contoso")))
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "555-0100") || !strings.Contains(body, "another browser") {
		t.Fatalf("an error posted to another browser: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, victim, r.URL+signin.CallbackPath+"?"+url.Values{"state": {stateOf(e.start(t, attacker, r, "/.auth/login/contoso"))}, "error": {"access_denied"}, "error_description": {lure}}.Encode())
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "555-0100") {
		t.Fatalf("an error in a GET to another browser: %d %s", resp.StatusCode, body)
	}
	resp, body = post(attacker, stateOf(e.start(t, attacker, r, "/.auth/login/contoso")))
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "555-0100") || !strings.Contains(body, "declined") {
		t.Fatalf("an error in the browser that started: %d %s", resp.StatusCode, body)
	}
}
