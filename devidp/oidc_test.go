package devidp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// go-oidc insists that the discovery document's issuer is exactly the URL it
// was given, so this proves every tenant's issuer is https://HOST/{tid}/v2.0.
func TestOIDCDiscoversEveryTenant(t *testing.T) {
	srv := devidptest.Start(t)
	ctx := oidc.ClientContext(context.Background(), srv.HTTPClient())
	for _, tn := range srv.IdP().Directory().Tenants {
		p, err := oidc.NewProvider(ctx, srv.Authority(tn.Name)+"/v2.0")
		if err != nil {
			t.Fatalf("%s: %v", tn.Name, err)
		}
		if p.Endpoint().TokenURL != srv.Authority(tn.Name)+"/oauth2/v2.0/token" {
			t.Fatalf("%s: token endpoint %q", tn.Name, p.Endpoint().TokenURL)
		}
	}
}

func TestDiscoveryForCommonHasTenantIDPlaceholder(t *testing.T) {
	srv := devidptest.Start(t)
	for _, alias := range []string{"common", "organizations"} {
		resp, err := srv.HTTPClient().Get(srv.URL + "/" + alias + "/v2.0/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ Issuer string }
		_ = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || doc.Issuer != srv.URL+"/{tenantid}/v2.0" {
			t.Fatalf("%s: status %d issuer %q", alias, resp.StatusCode, doc.Issuer)
		}
	}
}

// After a key rotation, new ID tokens carry the new key ID and tokens
// signed with the old key still verify: the old key stays published.
func TestOIDCVerifiesAcrossKeyRotation(t *testing.T) {
	srv := devidptest.Start(t)
	c := secretClient(t, srv, srv.Authority("contoso"), srv.Secret())
	before := signIn(t, srv, c, "alice@contoso.onmicrosoft.com", []string{"User.Read"})
	ctx := oidc.ClientContext(context.Background(), srv.HTTPClient())
	p, err := oidc.NewProvider(ctx, srv.Authority("contoso")+"/v2.0")
	if err != nil {
		t.Fatal(err)
	}
	verifier := p.Verifier(&oidc.Config{ClientID: srv.ClientID()})
	if _, err := verifier.Verify(ctx, before.IDToken.RawToken); err != nil {
		t.Fatal(err)
	}
	if err := srv.IdP().RotateKeys("contoso"); err != nil {
		t.Fatal(err)
	}
	after := signIn(t, srv, c, "bob@contoso.onmicrosoft.com", []string{"User.Read"})
	if kid(t, before.IDToken.RawToken) == kid(t, after.IDToken.RawToken) {
		t.Fatal("the new ID token is signed with the old key")
	}
	// The verifier made before the rotation fetches the new key.
	for _, raw := range []string{before.IDToken.RawToken, after.IDToken.RawToken} {
		if _, err := verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
}

func kid(t *testing.T, token string) string {
	t.Helper()
	var h struct{ Kid string }
	b, err := base64URL(token[:indexDot(token)])
	if err != nil || json.Unmarshal(b, &h) != nil || h.Kid == "" {
		t.Fatalf("no kid in the token header")
	}
	return h.Kid
}

// With BrowserURL, discovery sends browsers to the IdP's pages there (plain
// HTTP on loopback, in the gateway's demo mode) while MSAL keeps the token
// endpoint and keys on HTTPS.
func TestBrowserURLMovesOnlyThePages(t *testing.T) {
	idp, err := devidp.New(devidp.Options{NewKey: devidptest.Keys(), BrowserURL: "http://127.0.0.1:8400/"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(idp)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/" + devidp.DemoContosoID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	pages := "http://127.0.0.1:8400/" + devidp.DemoContosoID + "/oauth2/v2.0/"
	if d["authorization_endpoint"] != pages+"authorize" || d["end_session_endpoint"] != pages+"logout" {
		t.Errorf("pages: %v, %v", d["authorization_endpoint"], d["end_session_endpoint"])
	}
	if tok, _ := d["token_endpoint"].(string); !strings.HasPrefix(tok, srv.URL+"/") {
		t.Errorf("token endpoint %v is not on the HTTPS server", tok)
	}
	if iss, _ := d["issuer"].(string); !strings.HasPrefix(iss, srv.URL+"/") {
		t.Errorf("issuer %v is not on the HTTPS server", iss)
	}
}
