package devidp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// idTokenAuthTime redeems code, with claims (which the request log notes),
// and returns its ID token's auth_time.
func idTokenAuthTime(t *testing.T, srv *devidptest.Server, code, verifier string) time.Time {
	t.Helper()
	form := redeem(srv, code, verifier)
	form.Set("claims", `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`)
	srv.IdP().ResetRequests()
	status, _, raw := post(t, srv, devidp.DemoContosoID, form)
	if log := srv.IdP().Requests(); len(log) != 1 || !log[0].Claims {
		t.Fatalf("the request log does not say the redemption carried claims: %+v", log)
	}
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %s", status, raw)
	}
	var reply struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal([]byte(raw), &reply); err != nil || reply.IDToken == "" {
		t.Fatalf("no ID token: %v %s", err, raw)
	}
	at, ok := decodeClaims(t, reply.IDToken)["auth_time"].(float64)
	if !ok {
		t.Fatal("the ID token has no auth_time")
	}
	return time.Unix(int64(at), 0)
}

// A silent sign-in reports when the user authenticated on the page, not
// when the code was issued (as Entra's single sign-on does); max_age makes
// a silent sign-in whose authentication is older fail with login_required,
// unless the IdP is told to ignore it.
func TestAuthTimeAndMaxAge(t *testing.T) {
	srv := devidptest.Start(t)
	browser := srv.Browser()
	verifier, challenge := pkce()
	withPKCE := url.Values{"scope": {"openid offline_access User.Read"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	p, err := srv.SignIn(browser, authorizeURL(srv, "contoso", withPKCE), "bob@contoso.onmicrosoft.com")
	if err != nil || p.Get("code") == "" {
		t.Fatalf("interactive sign-in: %v %v", err, p)
	}
	signedIn := idTokenAuthTime(t, srv, p.Get("code"), verifier)
	srv.IdP().Advance(2 * time.Hour)

	silent := func(extra url.Values) url.Values {
		t.Helper()
		q := url.Values{"prompt": {"none"}}
		for k, v := range withPKCE {
			q[k] = v
		}
		for k, v := range extra {
			q[k] = v
		}
		p, err := srv.SignIn(browser, authorizeURL(srv, "contoso", q), "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p = silent(nil)
	if got := idTokenAuthTime(t, srv, p.Get("code"), verifier); !got.Equal(signedIn) {
		t.Fatalf("a silent sign-in two hours later has auth_time %v, want the page's %v", got, signedIn)
	}
	if p := silent(url.Values{"max_age": {"10800"}}); p.Get("code") == "" {
		t.Fatalf("max_age 3h after 2h: %v", p)
	}
	if p := silent(url.Values{"max_age": {"3600"}}); p.Get("error") != "login_required" || !strings.Contains(p.Get("error_description"), "max_age") {
		t.Fatalf("max_age 1h after 2h: %v", p)
	}
	if p := silent(url.Values{"max_age": {"an hour"}}); p.Get("error") != "invalid_request" {
		t.Fatalf("a malformed max_age: %v", p)
	}
	srv.IdP().SetIgnoreMaxAge(true)
	if p := silent(url.Values{"max_age": {"3600"}}); p.Get("code") == "" {
		t.Fatalf("max_age ignored: %v", p)
	}
	srv.IdP().SetIgnoreMaxAge(false)
	// Authenticating on the page again starts the clock again.
	p, err = srv.SignIn(browser, authorizeURL(srv, "contoso", withPKCE), "bob@contoso.onmicrosoft.com")
	if err != nil || p.Get("code") == "" {
		t.Fatalf("interactive sign-in: %v %v", err, p)
	}
	if got := idTokenAuthTime(t, srv, p.Get("code"), verifier); !got.After(signedIn.Add(time.Hour)) {
		t.Fatalf("auth_time %v after signing in on the page again, want about %v", got, srv.IdP().Now())
	}
	if p := silent(url.Values{"max_age": {"3600"}}); p.Get("code") == "" {
		t.Fatalf("max_age 1h just after signing in: %v", p)
	}
}

// With ResponseIss, every authorization response, code or error, names
// the issuer of the tenant (RFC 9207), and discovery says so; by default,
// as in Entra, neither.
func TestResponseIss(t *testing.T) {
	srv := devidptest.Start(t)
	discovers := func() bool {
		t.Helper()
		resp, err := srv.HTTPClient().Get(srv.Authority("contoso") + "/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var meta map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
			t.Fatal(err)
		}
		return meta["authorization_response_iss_parameter_supported"] == true
	}
	want := srv.Authority(devidp.DemoContosoID) + "/v2.0"
	for _, on := range []bool{false, true} {
		if err := srv.IdP().SetResponseIss(on); err != nil {
			t.Fatal(err)
		}
		code, err := srv.SignIn(nil, authorizeURL(srv, "contoso", url.Values{"response_mode": {"form_post"}}), "bob@contoso.onmicrosoft.com")
		if err != nil || code.Get("code") == "" {
			t.Fatalf("sign-in: %v %v", err, code)
		}
		refused, err := srv.SignIn(nil, authorizeURL(srv, "contoso", url.Values{"prompt": {"none"}}), "")
		if err != nil || refused.Get("error") != "login_required" {
			t.Fatalf("prompt=none without a session: %v %v", err, refused)
		}
		for name, p := range map[string]url.Values{"code": code, "error": refused} {
			if got := p.Get("iss"); (on && got != want) || (!on && p.Has("iss")) {
				t.Fatalf("ResponseIss %v, the %s response's iss is %q (want %q)", on, name, got, want)
			}
		}
		if got := discovers(); got != on {
			t.Fatalf("ResponseIss %v, discovery advertises it: %v", on, got)
		}
	}
	if _, err := devidp.New(devidp.Options{NewKey: devidptest.Keys(), ResponseIss: true, BrowserURL: "http://127.0.0.1:8400"}); err == nil {
		t.Fatal("ResponseIss with BrowserURL was accepted")
	}
}
