package devidp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// redirectURI is registered for the demo app (loopback: any port).
const redirectURI = "http://localhost:8400/callback"

func apiScope(srv *devidptest.Server, name string) string {
	return "api://" + srv.ClientID() + "/" + name
}

func secretClient(t testing.TB, srv *devidptest.Server, authority, secret string) confidential.Client {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, srv, authority, cred)
}

func certClient(t testing.TB, srv *devidptest.Server, authority string) confidential.Client {
	t.Helper()
	certs, key, err := confidential.CertFromPEM(append(srv.CertPEM(), srv.KeyPEM()...), "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, srv, authority, cred)
}

func newClient(t testing.TB, srv *devidptest.Server, authority string, cred confidential.Credential) confidential.Client {
	t.Helper()
	c, err := confidential.New(authority, srv.ClientID(), cred,
		confidential.WithHTTPClient(srv.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pkce() (verifier, challenge string) {
	r := devidptest.NewAuthRequest()
	return r.Verifier, r.Challenge
}

// authURL is MSAL's AuthCodeURL with what it leaves out added: state,
// nonce, the PKCE challenge and the response mode.
func authURL(t testing.TB, c confidential.Client, clientID string, scopes []string, challenge, nonce, mode string) string {
	t.Helper()
	u, err := c.AuthCodeURL(context.Background(), clientID, redirectURI, append([]string{"openid", "profile", "offline_access"}, scopes...))
	if err != nil {
		t.Fatal(err)
	}
	u, err = devidptest.AuthRequest{Challenge: challenge, State: "st-" + nonce, Nonce: nonce}.URL(u, mode)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signIn runs auth code + PKCE for user through MSAL and the sign-in page.
func signIn(t testing.TB, srv *devidptest.Server, c confidential.Client, user string, scopes []string) confidential.AuthResult {
	t.Helper()
	verifier, challenge := pkce()
	nonce := "n" + verifier[:8]
	params, err := srv.SignIn(nil, authURL(t, c, srv.ClientID(), scopes, challenge, nonce, ""), user)
	if err != nil {
		t.Fatal(err)
	}
	if params.Get("state") != "st-"+nonce || params.Get("code") == "" {
		t.Fatalf("authorize reply: state %q, code present %v, error %q", params.Get("state"), params.Get("code") != "", params.Get("error_description"))
	}
	res, err := c.AcquireTokenByAuthCode(context.Background(), params.Get("code"), redirectURI, scopes, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatalf("AcquireTokenByAuthCode: %v", err)
	}
	// MSAL only decodes the ID token: verify it as an app must.
	idt := verifyIDToken(t, srv, res.IDToken.TenantID, res.IDToken.RawToken)
	if idt.Nonce != nonce {
		t.Fatalf("ID token nonce %q, want %q", idt.Nonce, nonce)
	}
	return res
}

// verifyIDToken verifies raw with go-oidc against the tenant's discovery
// document: exact issuer, signature by a published key, audience.
func verifyIDToken(t testing.TB, srv *devidptest.Server, tenant, raw string) *oidc.IDToken {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), srv.HTTPClient())
	p, err := oidc.NewProvider(ctx, srv.Authority(tenant)+"/v2.0")
	if err != nil {
		t.Fatalf("go-oidc discovery of %s: %v", tenant, err)
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: srv.ClientID()}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc verification: %v", err)
	}
	return idt
}

func wantAADSTS(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want AADSTS%s", code)
	}
	if !strings.Contains(err.Error(), "AADSTS"+code+":") {
		t.Fatalf("got %v, want AADSTS%s", err, code)
	}
}

// decodeClaims reads a token's claims without verification, for asserting
// what the IdP put in it.
func decodeClaims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func indexDot(s string) int { return max(strings.IndexByte(s, '.'), 0) }
