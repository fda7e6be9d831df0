package signin_test

import (
	"net/http"
	"testing"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
)

// orgClientID is the second app of TestOrganizationsSignInToATenantConfiguredWithAnotherApp.
const orgClientID = "0a7c0de0-2222-4a22-8a22-00000000000b"

// A user of contoso signs in through the multi-tenant app while contoso is
// also configured on its own with another app: the ID token's audience is
// the multi-tenant app, and so are the tokens in the cache. The session
// belongs to the organizations app (TenantKey "organizations", its
// client for contoso), so sign-in succeeds and the session's token is
// found on every request.
func TestOrganizationsSignInToATenantConfiguredWithAnotherApp(t *testing.T) {
	dir, err := devidp.Demo(devidptest.Keys())
	if err != nil {
		t.Fatal(err)
	}
	org := dir.Apps[0]
	org.Name, org.ClientID, org.IdentifierURI = "multi-tenant", orgClientID, ""
	org.Tenants = []string{"contoso", "fabrikam", "woodgrove"}
	dir.Apps = append(dir.Apps, org)
	srv := redistest.Standalone(t)
	e := &env{t: t, idp: devidptest.Start(t, devidptest.WithDirectory(dir)), addrs: []string{srv.Addr}, redis: []*redistest.Node{srv}}
	e.configure = func(c *tenant.Config) {
		c.Organizations = &tenant.Organizations{
			AuthorityHost: e.idp.URL, ClientID: orgClientID,
			Credential:     credential.Config{Secret: &credential.Secret{Env: "TG_TEST_SECRET"}},
			Scopes:         []string{"api://" + orgClientID + "/access_as_user"},
			AllowedTenants: []string{devidp.DemoContosoID},
		}
	}
	r := e.replica(redisstore.ModeAuto)
	b := e.browser()
	if loc := e.signIn(t, b, r, "/.auth/login/organizations?post_login_redirect_uri=/ok", alice); loc != "/ok" {
		t.Fatalf("contoso through the organizations app: %q", loc)
	}
	s := loadSession(t, b, r)
	if s.TenantKey != tenant.OrganizationsKey || s.TenantID != devidp.DemoContosoID {
		t.Fatalf("session: key %q, tid %q", s.TenantKey, s.TenantID)
	}
	for range 2 {
		if resp, body := api(t, b, r.URL+"/x"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after sign-in through the organizations app: %d %s", resp.StatusCode, body)
		}
	}
	// Signed in on its own, contoso's users keep contoso's app.
	own := e.browser()
	e.signIn(t, own, r, "/.auth/login/contoso", alice)
	if s := loadSession(t, own, r); s.TenantKey != "contoso" {
		t.Fatalf("contoso's own sign-in: key %q", s.TenantKey)
	}
	if resp, body := api(t, own, r.URL+"/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("contoso's own session: %d %s", resp.StatusCode, body)
	}
}
