package devidp_test

import (
	"context"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

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
	_ = context.Background()
}
