package tenant_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/credential/credentialtest"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tenant"
)

// Every credential kind obtains tokens through the real MSAL Go from
// devidp over TLS, by client credentials and by redeeming a user's
// authorization code, for a workforce tenant at the default authority
// (login.microsoftonline.com, with instance discovery) and for the CIAM
// tenant at https://{tid}.ciamlogin.com/{tid}.
func TestEveryCredentialKindGetsTokens(t *testing.T) {
	srv := devidptest.Start(t)
	dir := t.TempDir()
	cert := demoCert(srv)
	vault := credentialtest.StartVault(t)
	vault.SetPEM("demo-pem", []byte(cert.PEM+cert.PrivateKeyPEM))
	vault.SetPKCS12("demo-pfx", pfxOf(t, cert, ""))
	tokenFile := map[string]string{"contoso": dir + "/contoso.token", "woodgrove": dir + "/woodgrove.token"}
	tokenEndpoint := map[string]string{
		"contoso":   "https://login.microsoftonline.com/" + devidp.DemoContosoID + "/oauth2/v2.0/token",
		"woodgrove": "https://" + devidp.DemoWoodgroveID + ".ciamlogin.com/" + devidp.DemoWoodgroveID + "/oauth2/v2.0/token",
	}
	freshAssertion := func(key string) {
		replaceFile(t, tokenFile[key], assertion(t, cert, srv.ClientID(), tokenEndpoint[key]))
	}
	freshAssertion("contoso")
	freshAssertion("woodgrove")
	environment := map[string]string{"DEMO_PFX_PASSWORD": "pfx-password", "DEMO_SECRET": srv.Secret()}

	for _, tc := range []struct {
		name   string
		cred   func(key string) credential.Config
		azpacr string
	}{
		{"certificate", func(string) credential.Config {
			return credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "demo.pem", []byte(cert.PEM+cert.PrivateKeyPEM))}}
		}, "2"},
		{"pfx", func(string) credential.Config {
			return credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "demo.pfx", pfxOf(t, cert, "pfx-password")), PasswordEnv: "DEMO_PFX_PASSWORD"}}
		}, "2"},
		{"keyVault pem", func(string) credential.Config {
			return credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "demo-pem"}}
		}, "2"},
		{"keyVault pkcs12", func(string) credential.Config {
			return credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "demo-pfx"}}
		}, "2"},
		{"secret env", func(string) credential.Config {
			return credential.Config{Secret: &credential.Secret{Env: "DEMO_SECRET"}}
		}, "1"},
		{"secret file", func(string) credential.Config {
			return credential.Config{Secret: &credential.Secret{File: writeFile(t, dir, "secret", []byte(srv.Secret()+"\n"))}}
		}, "1"},
		{"federated token", func(key string) credential.Config {
			return credential.Config{FederatedToken: &credential.FederatedToken{File: tokenFile[key]}}
		}, "2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tenant.Config{Tenants: map[string]tenant.TenantConfig{
				"contoso":   {TenantID: devidp.DemoContosoID, ClientID: srv.ClientID(), Credential: tc.cred("contoso")},
				"woodgrove": {TenantID: devidp.DemoWoodgroveID, Kind: tenant.CIAM, ClientID: srv.ClientID(), Credential: tc.cred("woodgrove")},
			}}
			reg := openRegistry(t, cfg, newCache(t), tenant.Options{
				HTTPClient: srv.HTTPClient(), Getenv: env(environment),
				Credential: credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions()},
			})
			for key, want := range map[string]struct{ tid, iss, user string }{
				"contoso":   {devidp.DemoContosoID, "https://login.microsoftonline.com/" + devidp.DemoContosoID + "/v2.0", "alice@contoso.onmicrosoft.com"},
				"woodgrove": {devidp.DemoWoodgroveID, "https://" + devidp.DemoWoodgroveID + ".ciamlogin.com/" + devidp.DemoWoodgroveID + "/v2.0", "wendy@woodgrove.example"},
			} {
				tn, ok := reg.Tenant(key)
				if !ok {
					t.Fatalf("no tenant %s", key)
				}
				res, err := tn.Client().AcquireTokenByCredential(context.Background(), []string{"api://" + srv.ClientID() + "/.default"})
				if err != nil {
					t.Fatalf("%s: client credentials: %v", key, err)
				}
				c := claims(t, res.AccessToken)
				if c["tid"] != want.tid || c["iss"] != want.iss || c["azpacr"] != tc.azpacr {
					t.Fatalf("%s: app token tid %v iss %v azpacr %v, want %s %s %s", key, c["tid"], c["iss"], c["azpacr"], want.tid, want.iss, tc.azpacr)
				}
				if tc.name == "federated token" {
					// The file still holds the assertion just used: Entra
					// refuses a replay, so the success below after the
					// platform rewrites the file shows it is read afresh.
					_, err := tn.Client().AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
					if err == nil || !strings.Contains(err.Error(), "AADSTS700027") {
						t.Fatalf("%s: a replayed federated token: %v", key, err)
					}
					freshAssertion(key)
				}
				u, err := signIn(t, srv, tn, want.user, []string{"User.Read"})
				if err != nil {
					t.Fatalf("%s: code redemption: %v", key, err)
				}
				if u.IDToken.PreferredUsername != want.user || u.IDToken.TenantID != want.tid {
					t.Fatalf("%s: signed in %q in %q", key, u.IDToken.PreferredUsername, u.IDToken.TenantID)
				}
				if tc.name == "federated token" {
					freshAssertion(key)
				}
			}
		})
	}
	if n := srv.IdP().Count("instance-discovery", ""); n == 0 {
		t.Fatal("MSAL never ran instance discovery for login.microsoftonline.com")
	}
}
