package tenant_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tenant"
)

// One multi-tenant app serves the tenants on its allow-list, and only
// those; a configured tenant is served by its own registration.
func TestOrganizationsAllowList(t *testing.T) {
	srv := devidptest.Start(t)
	reg := openRegistry(t, tenant.Config{
		Tenants: map[string]tenant.TenantConfig{"contoso": {TenantID: devidp.DemoContosoID, ClientID: srv.ClientID(),
			Credential: credential.Config{Secret: &credential.Secret{Env: "S"}}}},
		Organizations: &tenant.Organizations{ClientID: srv.ClientID(), AuthorityHost: srv.URL,
			Credential:     credential.Config{Secret: &credential.Secret{Env: "S"}},
			AllowedTenants: []string{strings.ToUpper(devidp.DemoFabrikamID)}},
	}, newCache(t), tenant.Options{HTTPClient: srv.HTTPClient(), Getenv: env(map[string]string{"S": srv.Secret()})})

	fab, err := reg.ForTenantID(devidp.DemoFabrikamID)
	if err != nil {
		t.Fatal(err)
	}
	if fab.Key != tenant.OrganizationsKey || fab.Authority != srv.URL+"/"+devidp.DemoFabrikamID {
		t.Fatalf("fabrikam through the organizations app: key %q authority %q", fab.Key, fab.Authority)
	}
	res, err := fab.Client().AcquireTokenByCredential(context.Background(), []string{"api://" + srv.ClientID() + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	if tid := claims(t, res.AccessToken)["tid"]; tid != devidp.DemoFabrikamID {
		t.Fatalf("token for tenant %v", tid)
	}
	if again, _ := reg.ForTenantID(strings.ToUpper(devidp.DemoFabrikamID)); again != fab {
		t.Fatal("a second client was made for the same allowed tenant")
	}
	if u, err := signIn(t, srv, fab, "fiona@fabrikam.onmicrosoft.com", []string{"User.Read"}); err != nil || u.IDToken.TenantID != devidp.DemoFabrikamID {
		t.Fatalf("sign-in through the organizations app: %v", err)
	}
	if c, err := reg.ForTenantID(devidp.DemoContosoID); err != nil || c.Key != "contoso" {
		t.Fatalf("contoso: %v, %v", c, err)
	}
	if org, ok := reg.Organizations(); !ok || org.Authority != srv.URL+"/organizations" {
		t.Fatalf("organizations authority: %v", org)
	}
	for _, tid := range []string{devidp.DemoWoodgroveID, "0badc0de-0000-4000-8000-000000000000", "", "organizations", "../" + devidp.DemoFabrikamID} {
		_, err := reg.ForTenantID(tid)
		if !errors.Is(err, tenant.ErrTenantNotAllowed) {
			t.Fatalf("tenant %q: %v, want ErrTenantNotAllowed", tid, err)
		}
	}
}

// A secret from TENANTGATE_TENANT_{KEY}_CLIENT_SECRET replaces the
// configured credential (or stands in for a missing one); a PFX password
// from TENANTGATE_TENANT_{KEY}_PFX_PASSWORD opens a PFX that names none.
func TestEnvironmentOverrides(t *testing.T) {
	srv := devidptest.Start(t)
	cert := demoCert(srv)
	pfx := writeFile(t, t.TempDir(), "app.pfx", pfxOf(t, cert, "pfx-password"))
	var logs strings.Builder
	reg := openRegistry(t, tenant.Config{Tenants: map[string]tenant.TenantConfig{
		"contoso-eu": {TenantID: devidp.DemoContosoID, ClientID: srv.ClientID()},
		"fabrikam":   {TenantID: devidp.DemoFabrikamID, ClientID: srv.ClientID(), Credential: credential.Config{PFX: &credential.PFXFile{File: pfx}}},
	}}, newCache(t), tenant.Options{HTTPClient: srv.HTTPClient(), Logger: slog.New(slog.NewTextHandler(&logs, nil)), Getenv: env(map[string]string{
		"TENANTGATE_TENANT_CONTOSO_EU_CLIENT_SECRET": srv.Secret(),
		"TENANTGATE_TENANT_FABRIKAM_PFX_PASSWORD":    "pfx-password",
	})})
	for key, kind := range map[string]string{"contoso-eu": "secret", "fabrikam": "pfx"} {
		tn, _ := reg.Tenant(key)
		if tn.Credential().Kind != kind {
			t.Fatalf("%s: credential kind %q, want %q", key, tn.Credential().Kind, kind)
		}
		if _, err := tn.Client().AcquireTokenByCredential(context.Background(), []string{"api://" + srv.ClientID() + "/.default"}); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	if !strings.Contains(logs.String(), "TENANTGATE_TENANT_CONTOSO_EU_CLIENT_SECRET") {
		t.Fatalf("the override was not logged by name:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), srv.Secret()) || strings.Contains(logs.String(), "pfx-password") {
		t.Fatalf("a secret reached the log:\n%s", logs.String())
	}
	if got := tenant.EnvPrefix("contoso-eu"); got != "TENANTGATE_TENANT_CONTOSO_EU_" {
		t.Fatalf("EnvPrefix %q", got)
	}
}
