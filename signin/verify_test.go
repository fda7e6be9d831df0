package signin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// idToken signs user in to tenant at the dev IdP by hand (authorize,
// then the token endpoint) and returns the raw ID token and its nonce.
func idToken(t *testing.T, idp *devidptest.Server, tenant, user string) (raw, nonce string) {
	t.Helper()
	const redirect = "http://localhost/callback"
	ar := devidptest.NewAuthRequest()
	q := url.Values{"client_id": {idp.ClientID()}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile"}}
	u, err := ar.URL(idp.Authority(tenant)+"/oauth2/v2.0/authorize?"+q.Encode(), "")
	if err != nil {
		t.Fatal(err)
	}
	form, err := idp.SignIn(nil, u, user)
	if err != nil || form.Get("code") == "" {
		t.Fatalf("sign-in at the IdP: %v %v", err, form)
	}
	resp, err := idp.HTTPClient().PostForm(idp.Authority(tenant)+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {form.Get("code")}, "redirect_uri": {redirect},
		"client_id": {idp.ClientID()}, "client_secret": {idp.Secret()}, "code_verifier": {ar.Verifier}, "scope": {"openid profile"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.IDToken == "" || resp.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	return tok.IDToken, ar.Nonce
}

// An ID token is accepted only from the tenant that was asked: fabrikam's
// token, validly signed by fabrikam, is refused as contoso's (its issuer
// and keys are fabrikam's), and a wrong nonce is refused even from the
// right tenant.
func TestVerifyRefusesAnotherTenantsIDToken(t *testing.T) {
	idp := devidptest.Start(t)
	v := newVerifiers(idp.HTTPClient(), time.Now)
	ctx := context.Background()
	raw, nonce := idToken(t, idp, "fabrikam", "fiona@fabrikam.onmicrosoft.com")
	if _, _, err := v.verify(ctx, idp.Authority("fabrikam"), idp.ClientID(), raw, nonce); err != nil {
		t.Fatalf("fabrikam's own token as fabrikam's: %v", err)
	}
	_, _, err := v.verify(ctx, idp.Authority("contoso"), idp.ClientID(), raw, nonce)
	if !errors.Is(err, errBadIDToken) || !(strings.Contains(err.Error(), "issuer") || strings.Contains(err.Error(), "signature")) {
		t.Fatalf("fabrikam's token as contoso's: %v, want a refusal by issuer or keys", err)
	}
	if _, _, err := v.verify(ctx, idp.Authority("fabrikam"), idp.ClientID(), raw, "another-nonce"); !errors.Is(err, errBadIDToken) {
		t.Fatalf("wrong nonce: %v", err)
	}
	if _, _, err := v.verify(ctx, idp.Authority("fabrikam"), "00000000-0000-0000-0000-000000000000", raw, nonce); !errors.Is(err, errBadIDToken) {
		t.Fatalf("another audience: %v", err)
	}
	// The token re-signed by nobody: its signature part swapped for
	// contoso's own token's.
	other, _ := idToken(t, idp, "contoso", "alice@contoso.onmicrosoft.com")
	forged := raw[:strings.LastIndexByte(raw, '.')] + other[strings.LastIndexByte(other, '.'):]
	if _, _, err := v.verify(ctx, idp.Authority("fabrikam"), idp.ClientID(), forged, nonce); !errors.Is(err, errBadIDToken) {
		t.Fatalf("a token with another's signature: %v", err)
	}
}
