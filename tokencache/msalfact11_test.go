package tokencache_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Fact 11: MSAL Go adds openid, profile and offline_access to every
// request itself, refuses an empty scope list, and fails the call for any
// requested scope the reply's scope leaves out ("declined scopes are
// present"). Entra never echoes offline_access, and a refresh may echo
// none of the OIDC scopes. tokencache passes MSAL only resource scopes,
// so a sign-in-only app (OIDC scopes or none) signs in, and a tenant
// whose scopes mix both refreshes.
func TestMSALFact11OIDCScopesAreDeclined(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := devidptest.Start(t)
	api := factScope(srv, "access_as_user")
	capt := newFactTransport(srv.HTTPClient().Transport)
	// As Entra may: a refresh echoes the resource's scopes only.
	capt.rewrite = func(form url.Values, body []byte) []byte {
		if form.Get("grant_type") != "refresh_token" {
			return body
		}
		return echoOnlyResourceScopes(t, body)
	}
	c := factMSAL(t, srv, "contoso", factSecret(t, srv), confidential.WithHTTPClient(capt.client()))
	kv := factMemKV(t)
	cache, _ := factCache(t, kv, tokencache.Options{})
	cl, err := cache.NewClient(tokencache.ClientConfig{
		Authority: srv.Authority("contoso"), ClientID: srv.ClientID(), Credential: factSecret(t, srv),
		HTTPClient: capt.client(),
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("sign-in", func(t *testing.T) {
		for _, tc := range []struct {
			scopes  []string
			measure string // what MSAL itself answers
		}{
			{nil, "empty authority.AuthParams.Scopes"},
			{[]string{"offline_access"}, "declined scopes are present: offline_access"},
			{[]string{"openid", "profile", "offline_access", "email"}, "declined scopes are present: offline_access"},
		} {
			_, err := factSignInWith(srv, nil, "contoso", factAlice, tc.scopes, msalRedeem(c, tc.scopes))
			if err == nil || !strings.Contains(err.Error(), tc.measure) {
				t.Fatalf("MSAL redeeming a code for %q: %v; measured %q (fact 11 changed)", tc.scopes, err, tc.measure)
			}
			res, err := factSignInWith(srv, nil, "contoso", factAlice, tc.scopes, tcRedeem(cl, tc.scopes))
			if err != nil || res.IDToken.RawToken == "" || res.Account.HomeAccountID == "" {
				t.Fatalf("tokencache redeeming a code for %q: %v", tc.scopes, err)
			}
			// No access token for no resource, and no request for one.
			before := factTokenRequests(srv, "")
			if _, err := cl.AcquireTokenSilent(ctx, res.Account.HomeAccountID, tc.scopes); !errors.Is(err, tokencache.ErrNoResourceScope) {
				t.Fatalf("AcquireTokenSilent for %q: %v, want ErrNoResourceScope", tc.scopes, err)
			}
			if n := factTokenRequests(srv, "") - before; n != 0 {
				t.Fatalf("AcquireTokenSilent for %q reached the IdP %d times", tc.scopes, n)
			}
			// The sign-in's refresh token gets a resource's token.
			if tok, err := cl.AcquireTokenSilent(ctx, res.Account.HomeAccountID, []string{api}); err != nil || tok.AccessToken == "" {
				t.Fatalf("a resource's token after signing in for %q: %v", tc.scopes, err)
			}
		}
	})

	t.Run("refresh", func(t *testing.T) {
		mixed := []string{"openid", api, "profile"}
		srv.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute}) // due at once
		defer srv.IdP().SetLifetimes(devidp.Lifetimes{})
		res := factSignIn(t, srv, c, "contoso", factAlice, mixed)
		if _, err := c.AcquireTokenSilent(ctx, mixed, factSilentFor(res.Account.HomeAccountID)); err == nil || !strings.Contains(err.Error(), "declined scopes are present: openid,profile") {
			t.Fatalf("MSAL refreshing for %q with the OIDC scopes not echoed: %v; measured: declined (fact 11 changed)", mixed, err)
		}
		// bob: alice's partition holds a fresh token for the API already.
		home := factSignInTC(t, srv, cl, "contoso", factBob, mixed).Account.HomeAccountID
		before := factTokenRequests(srv, factGrantRefresh)
		tok, err := cl.AcquireTokenSilent(ctx, home, mixed)
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("tokencache refreshing for %q with the OIDC scopes not echoed: %v", mixed, err)
		}
		if n := factTokenRequests(srv, factGrantRefresh) - before; n != 1 {
			t.Fatalf("%d refreshes, want 1", n)
		}
	})
}

// echoOnlyResourceScopes removes OpenID Connect's scopes from a token
// reply's scope.
func echoOnlyResourceScopes(t testing.TB, body []byte) []byte {
	var resp map[string]any
	if err := json.Unmarshal(body, &resp); err != nil {
		return body
	}
	s, _ := resp["scope"].(string)
	var kept []string
	for _, f := range strings.Fields(s) {
		if !tokencache.IsOIDCScope(f) {
			kept = append(kept, f)
		}
	}
	resp["scope"] = strings.Join(kept, " ")
	out, err := json.Marshal(resp)
	if err != nil {
		t.Errorf("token reply: %v", err)
		return body
	}
	return out
}
