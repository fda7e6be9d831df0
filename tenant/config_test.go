package tenant_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/credential/credentialtest"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tenant"
)

// selfSigned makes a certificate with its PKCS#8 key in PEM.
func selfSigned(t *testing.T, signer crypto.Signer, from, to time.Time) []byte {
	t.Helper()
	key := signer
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bad"}, NotBefore: from, NotAfter: to}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	k8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8})...)
}

// Each bad configuration stops start-up with an error that names the
// tenant and the field, and carries no secret.
func TestBadConfigurations(t *testing.T) {
	srv := devidptest.Start(t)
	dir := t.TempDir()
	cert := demoCert(srv)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := devidptest.Keys()()
	files := map[string]string{
		"good":     writeFile(t, dir, "good.pem", []byte(cert.PEM+cert.PrivateKeyPEM)),
		"certonly": writeFile(t, dir, "certonly.pem", []byte(cert.PEM)),
		"expired":  writeFile(t, dir, "expired.pem", selfSigned(t, rsaKey, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))),
		"ec":       writeFile(t, dir, "ec.pem", selfSigned(t, ec, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))),
		"pfx":      writeFile(t, dir, "app.pfx", pfxOf(t, cert, "right-pfx-password")),
	}
	closed := credentialtest.StartVault(t)
	closedURL := closed.URL
	closed.Close()
	environment := map[string]string{"PFX_PW": "wrong-pfx-password"}
	const secretValue = "wrong-pfx-password"

	tenantYAML := func(body string) string {
		return "tenants:\n  contoso:\n    tenantId: " + devidp.DemoContosoID + "\n    clientId: " + srv.ClientID() + "\n" + body
	}
	withCred := func(cred string) string { return tenantYAML("    credential:\n" + cred) }
	goodCred := "      certificate: {file: " + files["good"] + "}\n"

	for _, tc := range []struct {
		name, yaml, tenant, field, says string
	}{
		{"empty file", "", "", "tenants", "empty"},
		{"unknown field", tenantYAML("    tenantID: x\n" + "    credential:\n" + goodCred), "", "yaml", `unknown field "tenantID"`},
		{"unknown credential field", withCred("      certificate: {file: x, pasword: y}\n"), "", "yaml", `unknown field "pasword"`},
		{"bad key", strings.Replace(withCred(goodCred), "contoso:", "Contoso:", 1), "Contoso", "key", "lower-case"},
		{"tenant ID", strings.Replace(withCred(goodCred), devidp.DemoContosoID, "contoso.onmicrosoft.com", 1), "contoso", "tenantId", "not a tenant ID"},
		{"kind", withCred(goodCred) + "    kind: b2c\n", "contoso", "kind", `"b2c" is neither`},
		{"client ID", strings.Replace(withCred(goodCred), srv.ClientID(), "my-app", 1), "contoso", "clientId", "not a client"},
		{"authority host with path", withCred(goodCred) + "    authorityHost: https://login.example/tfp\n", "contoso", "authorityHost", "without a path"},
		{"authority host http", withCred(goodCred) + "    authorityHost: http://127.0.0.1:8443\n", "contoso", "authorityHost", "not an authority host"},
		{"duplicate tenant ID", withCred(goodCred) + "  fabrikam:\n    tenantId: " + devidp.DemoContosoID + "\n    clientId: " + srv.ClientID() + "\n", "fabrikam", "tenantId", `also the tenant ID of "contoso"`},
		{"allow-list entry", "organizations:\n  clientId: " + srv.ClientID() + "\n  allowedTenants: [" + devidp.DemoFabrikamID + ", fabrikam]\n  credential:\n" + goodCred, "organizations", "allowedTenants[1]", "not a tenant ID"},
		{"empty allow-list", "organizations:\n  clientId: " + srv.ClientID() + "\n  credential:\n" + goodCred, "organizations", "allowedTenants", "empty"},
		{"no credential", tenantYAML(""), "contoso", "credential.kind", "no credential"},
		{"two credentials", withCred(goodCred + "      secret: {env: X}\n"), "contoso", "credential.kind", "more than one"},
		{"missing file", withCred("      certificate: {file: " + dir + "/missing.pem}\n"), "contoso", "credential.certificate.file", "no such file"},
		{"no private key", withCred("      certificate: {file: " + files["certonly"] + "}\n"), "contoso", "credential.certificate.file", "no private key"},
		{"expired certificate", withCred("      certificate: {file: " + files["expired"] + "}\n"), "contoso", "credential.certificate.file", "expired on"},
		{"non-RSA key", withCred("      certificate: {file: " + files["ec"] + "}\n"), "contoso", "credential.certificate.file", "not RSA"},
		{"wrong password", withCred("      pfx: {file: " + files["pfx"] + ", passwordEnv: PFX_PW}\n"), "contoso", "credential.pfx.passwordEnv", "wrong password"},
		{"unreachable vault", withCred("      keyVault: {vault: '" + closedURL + "', certificate: app}\n"), "contoso", "credential.keyVault.vault", "unreachable"},
		{"unknown tenant at the IdP", strings.Replace(withCred(goodCred), devidp.DemoContosoID, "0badc0de-0000-4000-8000-000000000000", 1) + "    authorityHost: " + srv.URL + "\n", "contoso", "tenantId", "AADSTS90002"},
		{"unreachable authority", withCred(goodCred) + "    authorityHost: https://127.0.0.1:1\n", "contoso", "authorityHost", "unreachable"},
		{"unknown CIAM tenant", strings.Replace(withCred(goodCred), devidp.DemoContosoID, "0badc0de-0000-4000-8000-000000000000", 1) + "    kind: ciam\n", "contoso", "tenantId", "AADSTS90002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openYAML(t, tc.yaml, srv, tenant.Options{Getenv: env(environment),
				Credential: credential.Options{TokenCredential: closed.TokenCredential(), KeyVault: closed.ClientOptions()}})
			var ce *tenant.ConfigError
			if !errors.As(err, &ce) || ce.Tenant != tc.tenant || ce.Field != tc.field {
				t.Fatalf("got %v; want a *tenant.ConfigError for tenant %q, field %q", err, tc.tenant, tc.field)
			}
			prefix := fmt.Sprintf("tenant: %s: %s: ", tc.tenant, tc.field)
			if tc.tenant == "" {
				prefix = "tenant: configuration: " + tc.field + ": "
			}
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %q: want it to start %q and say %q", err, prefix, tc.says)
			}
			if strings.Contains(err.Error(), secretValue) || strings.Contains(err.Error(), "right-pfx-password") {
				t.Fatalf("error %q carries a password", err)
			}
		})
	}
}

func openYAML(t *testing.T, y string, srv *devidptest.Server, o tenant.Options) error {
	t.Helper()
	cfg, err := tenant.Parse([]byte(y))
	if err != nil {
		return err
	}
	o.HTTPClient = srv.HTTPClient()
	o.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := tenant.Open(ctx, cfg, newCache(t), o)
	if err == nil {
		r.Close()
		return errors.New("Open succeeded")
	}
	return err
}

// Sovereign clouds, CIAM and dev IdPs get the authority MSAL needs, and
// instance discovery only where MSAL knows the host.
func TestAuthorities(t *testing.T) {
	const tid = "c0a7f4a1-1111-4c11-8c11-000000000001"
	for _, tc := range []struct {
		kind      tenant.Kind
		host      string
		authority string
		discovery bool
	}{
		{tenant.Workforce, "", "https://login.microsoftonline.com/" + tid, true},
		{"", "login.microsoftonline.us", "https://login.microsoftonline.us/" + tid, true},
		{tenant.Workforce, "login.chinacloudapi.cn", "https://login.chinacloudapi.cn/" + tid, true},
		{tenant.Workforce, "https://Login.ChinaCloudAPI.cn/", "https://login.chinacloudapi.cn/" + tid, true},
		{tenant.Workforce, "https://127.0.0.1:8443", "https://127.0.0.1:8443/" + tid, false},
		{tenant.Workforce, "login.partner.example", "https://login.partner.example/" + tid, false},
		{tenant.CIAM, "", "https://" + tid + ".ciamlogin.com/" + tid, false},
		{tenant.CIAM, "woodgrove.ciamlogin.com", "https://woodgrove.ciamlogin.com/" + tid, false},
		{tenant.CIAM, "https://127.0.0.1:8443", "https://127.0.0.1:8443/" + tid, false},
	} {
		authority, discovery, err := tenant.Authority(tc.kind, tc.host, tid)
		if err != nil || authority != tc.authority || discovery != tc.discovery {
			t.Errorf("%s %q: %q discovery %v (%v), want %q %v", tc.kind, tc.host, authority, discovery, err, tc.authority, tc.discovery)
		}
		if got := tenant.MetadataURL(authority); got != authority+"/v2.0/.well-known/openid-configuration" {
			t.Errorf("metadata URL %q", got)
		}
	}
}
