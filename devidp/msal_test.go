package devidp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// These tests drive the real MSAL Go confidential client against devidp.

func TestMSALAuthCodeWithPKCE(t *testing.T) {
	srv := devidptest.Start(t)
	c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
	res := signIn(t, srv, c, "alice@contoso.onmicrosoft.com", []string{apiScope(srv, "access_as_user")})
	if res.AccessToken == "" || res.IDToken.Name != "Alice Adams" || res.IDToken.TenantID != devidp.DemoContosoID {
		t.Fatalf("result: AT present %v, name %q, tid %q", res.AccessToken != "", res.IDToken.Name, res.IDToken.TenantID)
	}
	if want := "a11ce000-0000-4000-8000-00000000a11c." + devidp.DemoContosoID; res.Account.HomeAccountID != want {
		t.Fatalf("home account %q, want %q (from client_info)", res.Account.HomeAccountID, want)
	}
	if n := srv.IdP().Count("token", "authorization_code"); n != 1 {
		t.Fatalf("%d code redemptions, want 1", n)
	}
}

func TestMSALGuestSignInCarriesHomeAccount(t *testing.T) {
	srv := devidptest.Start(t)
	c := secretClient(t, srv, srv.Authority("fabrikam"), srv.Secret())
	res := signIn(t, srv, c, "alice@contoso.onmicrosoft.com", []string{"User.Read"})
	if res.IDToken.TenantID != devidp.DemoFabrikamID || res.IDToken.Oid != "a11ce000-0000-4000-8000-0000000fab01" {
		t.Fatalf("guest token: tid %q oid %q, want fabrikam and the guest object", res.IDToken.TenantID, res.IDToken.Oid)
	}
	if want := "a11ce000-0000-4000-8000-00000000a11c." + devidp.DemoContosoID; res.Account.HomeAccountID != want {
		t.Fatalf("home account %q, want the contoso home account %q", res.Account.HomeAccountID, want)
	}
}

func TestMSALSilentIsServedFromCache(t *testing.T) {
	srv := devidptest.Start(t)
	c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
	scopes := []string{apiScope(srv, "access_as_user")}
	first := signIn(t, srv, c, "bob@contoso.onmicrosoft.com", scopes)
	before := srv.IdP().Count("token", "")
	again, err := c.AcquireTokenSilent(context.Background(), scopes, confidential.WithSilentAccount(first.Account))
	if err != nil {
		t.Fatal(err)
	}
	if again.AccessToken != first.AccessToken {
		t.Fatal("silent call returned a different access token")
	}
	if n := srv.IdP().Count("token", ""); n != before {
		t.Fatalf("%d token requests during a cache hit, want 0", n-before)
	}
}

// MSAL Go treats an access token as expired 5 minutes before its expiry,
// by the wall clock, which devidp's clock cannot move. So tokens are issued
// for 4 minutes: MSAL considers them expired on receipt, and the next
// silent call must use the refresh token. The IdP's clock is advanced past
// the access token's expiry too, which the refresh token outlives.
func TestMSALSilentRefreshAfterExpiry(t *testing.T) {
	srv := devidptest.Start(t, devidptest.WithLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute}))
	c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
	scopes := []string{apiScope(srv, "access_as_user")}
	first := signIn(t, srv, c, "alice@contoso.onmicrosoft.com", scopes)
	srv.IdP().Advance(10 * time.Minute)

	res, err := c.AcquireTokenSilent(context.Background(), scopes, confidential.WithSilentAccount(first.Account))
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessToken == first.AccessToken {
		t.Fatal("silent call after expiry returned the expired access token")
	}
	if n := srv.IdP().Count("token", "refresh_token"); n != 1 {
		t.Fatalf("%d refreshes, want exactly 1", n)
	}
}

func TestMSALClientCredentials(t *testing.T) {
	srv := devidptest.Start(t)
	for _, tc := range []struct {
		name   string
		client func() confidential.Client
	}{
		{"secret", func() confidential.Client { return secretClient(t, srv, srv.Authority("fabrikam"), srv.Secret()) }},
		{"certificate", func() confidential.Client { return certClient(t, srv, srv.Authority("fabrikam")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client()
			scopes := []string{apiScope(srv, ".default")}
			res, err := c.AcquireTokenByCredential(context.Background(), scopes)
			if err != nil {
				t.Fatal(err)
			}
			claims := decodeClaims(t, res.AccessToken)
			if claims["tid"] != devidp.DemoFabrikamID || claims["idtyp"] != "app" || claims["aud"] != srv.ClientID() {
				t.Fatalf("app token claims: %v", claims)
			}
			if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "Tasks.ReadAll" {
				t.Fatalf("roles %v, want [Tasks.ReadAll]", claims["roles"])
			}
			// The second call is a cache hit.
			before := srv.IdP().Count("token", "client_credentials")
			if _, err := c.AcquireTokenByCredential(context.Background(), scopes); err != nil {
				t.Fatal(err)
			}
			if n := srv.IdP().Count("token", "client_credentials"); n != before {
				t.Fatalf("second call went to the IdP")
			}
		})
	}
}

func TestMSALOnBehalfOf(t *testing.T) {
	srv := devidptest.Start(t)
	c := certClient(t, srv, srv.Authority("contoso"))
	user := signIn(t, srv, c, "alice@contoso.onmicrosoft.com", []string{apiScope(srv, "access_as_user")})
	res, err := c.AcquireTokenOnBehalfOf(context.Background(), user.AccessToken, []string{"https://graph.microsoft.com/User.Read"})
	if err != nil {
		t.Fatal(err)
	}
	claims := decodeClaims(t, res.AccessToken)
	if claims["oid"] != "a11ce000-0000-4000-8000-00000000a11c" || claims["scp"] != "User.Read" || claims["aud"] != "00000003-0000-0000-c000-000000000000" {
		t.Fatalf("OBO token claims: %v", claims)
	}
	if n := srv.IdP().Count("token", "urn:ietf:params:oauth:grant-type:jwt-bearer"); n != 1 {
		t.Fatalf("%d OBO requests, want 1", n)
	}
}

func TestMSALCIAMAuthority(t *testing.T) {
	srv := devidptest.Start(t)
	c := secretClient(t, srv, srv.CIAMAuthority("woodgrove"), srv.Secret())
	res, err := c.AcquireTokenByCredential(context.Background(), []string{apiScope(srv, ".default")})
	if err != nil {
		t.Fatal(err)
	}
	want := "https://" + devidp.DemoWoodgroveID + ".ciamlogin.com/" + devidp.DemoWoodgroveID + "/v2.0"
	if iss := decodeClaims(t, res.AccessToken)["iss"]; iss != want {
		t.Fatalf("issuer %q, want %q", iss, want)
	}
	u := signInCIAM(t, srv, c)
	if u.IDToken.PreferredUsername != "wendy@woodgrove.example" {
		t.Fatalf("CIAM user %q", u.IDToken.PreferredUsername)
	}
}

// signInCIAM is signIn for a CIAM authority, whose ID token go-oidc
// verifies at the ciamlogin.com issuer.
func signInCIAM(t *testing.T, srv *devidptest.Server, c confidential.Client) confidential.AuthResult {
	t.Helper()
	verifier, challenge := pkce()
	params, err := srv.SignIn(nil, authURL(t, c, srv.ClientID(), nil, challenge, "n1", "form_post"), "wendy@woodgrove.example")
	if err != nil || params.Get("code") == "" {
		t.Fatalf("sign-in: %v %v", err, params)
	}
	res, err := c.AcquireTokenByAuthCode(context.Background(), params.Get("code"), redirectURI, []string{"User.Read"}, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// With instance discovery on (MSAL's default), MSAL asks
// login.microsoftonline.com about an unknown host; HTTPClient sends that to
// devidp too.
func TestMSALInstanceDiscovery(t *testing.T) {
	srv := devidptest.Start(t)
	cred, _ := confidential.NewCredFromSecret(srv.Secret())
	c, err := confidential.New(srv.URL+"/contoso.onmicrosoft.com", srv.ClientID(), cred, confidential.WithHTTPClient(srv.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireTokenByCredential(context.Background(), []string{apiScope(srv, ".default")}); err != nil {
		t.Fatal(err)
	}
	if n := srv.IdP().Count("instance-discovery", ""); n == 0 {
		t.Fatal("MSAL made no instance discovery request")
	}
}

// Each Entra error reaches the MSAL caller with its AADSTS code.
func TestMSALErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		code string
		run  func(t *testing.T, srv *devidptest.Server) error
	}{
		{"7000215", func(t *testing.T, srv *devidptest.Server) error {
			_, err := secretClient(t, srv, srv.Authority("contoso"), "wrong").AcquireTokenByCredential(ctx, []string{apiScope(srv, ".default")})
			return err
		}},
		{"70011", func(t *testing.T, srv *devidptest.Server) error {
			_, err := secretClient(t, srv, srv.Authority("contoso"), srv.Secret()).AcquireTokenByCredential(ctx, []string{apiScope(srv, "access_as_user")})
			return err
		}},
		{"90002", func(t *testing.T, srv *devidptest.Server) error {
			_, err := secretClient(t, srv, srv.URL+"/nosuch.onmicrosoft.com", srv.Secret()).AcquireTokenByCredential(ctx, []string{apiScope(srv, ".default")})
			return err
		}},
		{"700024", func(t *testing.T, srv *devidptest.Server) error {
			// MSAL signs its assertion by the wall clock; an hour later by
			// the IdP's clock it has expired.
			srv.IdP().Advance(time.Hour)
			_, err := certClient(t, srv, srv.Authority("contoso")).AcquireTokenByCredential(ctx, []string{apiScope(srv, ".default")})
			return err
		}},
		{"65001", func(t *testing.T, srv *devidptest.Server) error {
			c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
			user := signIn(t, srv, c, "bob@contoso.onmicrosoft.com", []string{apiScope(srv, "access_as_user")})
			_, err := c.AcquireTokenOnBehalfOf(ctx, user.AccessToken, []string{apiScope(srv, "Tasks.Admin")})
			return err
		}},
		{"700082", func(t *testing.T, srv *devidptest.Server) error {
			srv.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
			c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
			user := signIn(t, srv, c, "bob@contoso.onmicrosoft.com", []string{"User.Read"})
			if n := srv.IdP().RevokeRefreshTokens("bob@contoso.onmicrosoft.com"); n != 1 {
				t.Fatalf("revoked %d refresh tokens, want 1", n)
			}
			_, err := c.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(user.Account))
			return err
		}},
		{"50076", func(t *testing.T, srv *devidptest.Server) error {
			srv.IdP().SetLifetimes(devidp.Lifetimes{AccessToken: 4 * time.Minute})
			c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
			user := signIn(t, srv, c, "bob@contoso.onmicrosoft.com", []string{"User.Read"})
			if err := srv.IdP().QueueError(devidp.QueuedError{Endpoint: "token", Grant: "refresh_token", Code: 50076}); err != nil {
				t.Fatal(err)
			}
			_, err := c.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(user.Account))
			if err != nil && !strings.Contains(err.Error(), `"claims":`) {
				t.Fatalf("no claims challenge in %v", err)
			}
			return err
		}},
		{"70008", func(t *testing.T, srv *devidptest.Server) error {
			c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
			verifier, challenge := pkce()
			params, err := srv.SignIn(nil, authURL(t, c, srv.ClientID(), nil, challenge, "n", ""), "bob@contoso.onmicrosoft.com")
			if err != nil {
				t.Fatal(err)
			}
			srv.IdP().Advance(11 * time.Minute)
			_, err = c.AcquireTokenByAuthCode(ctx, params.Get("code"), redirectURI, []string{"User.Read"}, confidential.WithChallenge(verifier))
			return err
		}},
		{"50011", func(t *testing.T, srv *devidptest.Server) error {
			c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
			verifier, challenge := pkce()
			params, err := srv.SignIn(nil, authURL(t, c, srv.ClientID(), nil, challenge, "n", ""), "bob@contoso.onmicrosoft.com")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.AcquireTokenByAuthCode(ctx, params.Get("code"), "http://localhost:8400/other", []string{"User.Read"}, confidential.WithChallenge(verifier))
			return err
		}},
	} {
		t.Run("AADSTS"+tc.code, func(t *testing.T) {
			srv := devidptest.Start(t)
			wantAADSTS(t, tc.run(t, srv), tc.code)
		})
	}
}
