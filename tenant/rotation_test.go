package tenant_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/credential/credentialtest"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tenant"
)

// waitThumbprint waits until tn's client uses the certificate thumb.
func waitThumbprint(t *testing.T, tn *tenant.Tenant, thumb string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for tn.Credential().Thumbprint != thumb {
		if time.Now().After(deadline) {
			t.Fatalf("the client still uses %s, want %s", tn.Credential().Thumbprint, thumb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rotation plays an administrator's certificate rotation: the new
// certificate is registered beside the old, published (swap), and once
// the client uses it the old one is removed. Tokens acquired before stay
// in the cache; new requests succeed with the new certificate.
func rotation(t *testing.T, srv *devidptest.Server, tn *tenant.Tenant, swap func(devidp.Certificate)) {
	t.Helper()
	ctx := context.Background()
	idp := srv.IdP()
	first, second := demoCert(srv), newAppCertificate(t, 0)
	app := []string{"api://" + srv.ClientID() + "/.default"}
	before, err := tn.Client().AcquireTokenByCredential(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.SetAppCertificates(srv.ClientID(), []devidp.Certificate{first, second}); err != nil {
		t.Fatal(err)
	}
	swap(second)
	waitThumbprint(t, tn, thumbprint(t, second))
	if err := idp.SetAppCertificates(srv.ClientID(), []devidp.Certificate{second}); err != nil {
		t.Fatal(err)
	}

	requests := idp.Count("token", "")
	after, err := tn.Client().AcquireTokenByCredential(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if after.AccessToken != before.AccessToken || idp.Count("token", "") != requests {
		t.Fatal("the app token acquired before the rotation was lost from the cache")
	}
	if _, err := tn.Client().AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"}); err != nil {
		t.Fatalf("a new token after the rotation: %v", err)
	}
	if idp.Count("token", "client_credentials") != requests+1 {
		t.Fatal("the new token did not come from the IdP")
	}
	if _, err := signIn(t, srv, tn, "bob@contoso.onmicrosoft.com", []string{"User.Read"}); err != nil {
		t.Fatalf("a code redemption after the rotation: %v", err)
	}
}

func TestKeyVaultRotationByPolling(t *testing.T) {
	srv := devidptest.Start(t)
	vault := credentialtest.StartVault(t)
	c := demoCert(srv)
	vault.SetPKCS12("contoso-app", pfxOf(t, c, ""))
	reg := openRegistry(t, tenant.Config{Tenants: map[string]tenant.TenantConfig{"contoso": {
		TenantID: devidp.DemoContosoID, ClientID: srv.ClientID(),
		Credential: credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "contoso-app"}, PollInterval: time.Second},
	}}}, newCache(t), tenant.Options{HTTPClient: srv.HTTPClient(),
		Credential: credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions()}})
	tn, _ := reg.Tenant("contoso")
	rotation(t, srv, tn, func(next devidp.Certificate) {
		vault.SetPEM("contoso-app", []byte(next.PEM+next.PrivateKeyPEM))
	})
}

func TestPEMFileRotationByPolling(t *testing.T) {
	srv := devidptest.Start(t)
	c := demoCert(srv)
	path := writeFile(t, t.TempDir(), "contoso.pem", []byte(c.PEM+c.PrivateKeyPEM))
	reg := openRegistry(t, tenant.Config{Tenants: map[string]tenant.TenantConfig{"contoso": {
		TenantID: devidp.DemoContosoID, ClientID: srv.ClientID(),
		Credential: credential.Config{Certificate: &credential.CertificateFile{File: path}, PollInterval: time.Second},
	}}}, newCache(t), tenant.Options{HTTPClient: srv.HTTPClient()})
	tn, _ := reg.Tenant("contoso")
	rotation(t, srv, tn, func(next devidp.Certificate) {
		replaceFile(t, path, []byte(next.PEM+next.PrivateKeyPEM))
	})
}

// The old certificate is removed at the IdP before the next poll: the
// first request fails with AADSTS700027, Rejected reloads from the vault at
// once, and the retry succeeds.
func TestRejectionReloadsFromKeyVaultAtOnce(t *testing.T) {
	srv := devidptest.Start(t)
	vault := credentialtest.StartVault(t)
	first, second := demoCert(srv), newAppCertificate(t, 0)
	vault.SetPKCS12("contoso-app", pfxOf(t, first, ""))
	reg := openRegistry(t, tenant.Config{Tenants: map[string]tenant.TenantConfig{"contoso": {
		TenantID: devidp.DemoContosoID, ClientID: srv.ClientID(),
		Credential: credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "contoso-app"}, PollInterval: time.Hour},
	}}}, newCache(t), tenant.Options{HTTPClient: srv.HTTPClient(),
		Credential: credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions()}})
	tn, _ := reg.Tenant("contoso")
	ctx := context.Background()
	app := []string{"api://" + srv.ClientID() + "/.default"}
	before, err := tn.Client().AcquireTokenByCredential(ctx, app)
	if err != nil {
		t.Fatal(err)
	}

	vault.SetPKCS12("contoso-app", pfxOf(t, second, ""))
	if err := srv.IdP().SetAppCertificates(srv.ClientID(), []devidp.Certificate{second}); err != nil {
		t.Fatal(err)
	}
	graph := []string{"https://graph.microsoft.com/.default"}
	_, err = tn.Client().AcquireTokenByCredential(ctx, graph)
	if err == nil {
		t.Fatal("the removed certificate was accepted")
	}
	if !tn.Rejected(err) {
		t.Fatalf("AADSTS700027 not taken as a rejection: %v", err)
	}
	waitThumbprint(t, tn, thumbprint(t, second))
	if _, err := tn.Client().AcquireTokenByCredential(ctx, graph); err != nil {
		t.Fatalf("the retry after the reload: %v", err)
	}
	again, err := tn.Client().AcquireTokenByCredential(ctx, app)
	if err != nil || again.AccessToken != before.AccessToken {
		t.Fatalf("the token from before the rotation was lost: %v", err)
	}
}
