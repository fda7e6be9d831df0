package signin_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// RFC 9207: an authorization response's iss, when the IdP sends one
// (devidp with ResponseIss; Entra sends none), must be the issuer of the
// tenant the sign-in was sent to; for the multi-tenant app, that of the
// ID token's tenant. Absent, the sign-in goes on as before.
func TestAuthorizationResponseIss(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	issuer := func(tid string) string { return e.idp.URL + "/" + tid + "/v2.0" }
	// signIn runs a sign-in through login, with the IdP's iss replaced by
	// iss unless keep, and returns the callback's last answer.
	type answer struct {
		resp  *http.Response
		body  string
		start time.Time // on the IdP's clock, before the callback
	}
	signIn := func(t *testing.T, login, iss string, keep bool) answer {
		t.Helper()
		b := e.browser()
		f := e.atIdP(t, b, e.start(t, b, r, login+"?post_login_redirect_uri=/ok"), alice)
		if !keep {
			f.form.Set("iss", iss)
		} else if got := f.form.Get("iss"); got != iss {
			t.Fatalf("the IdP sent iss %q, want %q", got, iss)
		}
		start := e.idp.IdP().Now()
		resp, body := e.callback(t, b, r, f)
		return answer{resp, body, start}
	}
	ok := func(t *testing.T, a answer) {
		t.Helper()
		resp, body := a.resp, a.body
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ok" {
			t.Fatalf("sign-in: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	refused := func(t *testing.T, a answer) {
		t.Helper()
		resp, body := a.resp, a.body
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "another identity provider") {
			t.Fatalf("sign-in with a foreign iss: %d %s", resp.StatusCode, body)
		}
		for _, c := range resp.Cookies() {
			if strings.Contains(c.Name, "session") && c.Value != "" {
				t.Fatalf("a session cookie was set: %s", c.Name)
			}
		}
	}

	t.Run("absent", func(t *testing.T) {
		ok(t, signIn(t, "/.auth/login/contoso", "", true))
	})
	if err := e.idp.IdP().SetResponseIss(true); err != nil {
		t.Fatal(err)
	}
	t.Run("match", func(t *testing.T) {
		ok(t, signIn(t, "/.auth/login/contoso", issuer(devidp.DemoContosoID), true))
	})
	// notRedeemed: the code of an answer from another issuer is never
	// sent to a token endpoint.
	notRedeemed := func(t *testing.T, a answer) answer {
		t.Helper()
		for _, q := range e.idp.IdP().Requests() {
			if q.Endpoint == "token" && q.Grant == "authorization_code" && q.Time.After(a.start) {
				t.Fatal("the code of an answer from another issuer was redeemed")
			}
		}
		return a
	}
	t.Run("mismatch", func(t *testing.T) {
		refused(t, notRedeemed(t, signIn(t, "/.auth/login/contoso", issuer(devidp.DemoFabrikamID), false)))
		refused(t, notRedeemed(t, signIn(t, "/.auth/login/contoso", "https://evil.example/"+devidp.DemoContosoID+"/v2.0", false)))
	})
	t.Run("organizations match", func(t *testing.T) {
		ok(t, signIn(t, "/.auth/login/organizations", issuer(devidp.DemoContosoID), true))
	})
	t.Run("organizations mismatch", func(t *testing.T) {
		// A tenant's issuer on the right host, not the ID token's tenant.
		refused(t, signIn(t, "/.auth/login/organizations", issuer(devidp.DemoFabrikamID), false))
		refused(t, notRedeemed(t, signIn(t, "/.auth/login/organizations", "https://evil.example/"+devidp.DemoContosoID+"/v2.0", false)))
	})
}
