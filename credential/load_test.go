package credential_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/credential/credentialtest"
	"software.sslmate.com/src/go-pkcs12"
)

func open(t *testing.T, cfg credential.Config, o credential.Options) *credential.Source {
	t.Helper()
	s, err := credential.Open(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOpenEveryKind(t *testing.T) {
	dir := t.TempDir()
	c := validCert(t, 0)
	thumb := thumbprint(c.cert)
	vault := credentialtest.StartVault(t)
	vault.SetPEM("pem-cert", c.both())
	vault.SetPKCS12("pfx-cert", c.pfx(t, ""))
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey(t, 0))})
	vaultOpts := credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions()}

	for _, tc := range []struct {
		name      string
		cfg       credential.Config
		o         credential.Options
		kind      string
		certified bool
	}{
		{"pem with key", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "both.pem", c.both())}}, credential.Options{}, "certificate", true},
		{"pem and key file", credential.Config{Certificate: &credential.CertificateFile{
			File: writeFile(t, dir, "cert.pem", c.certPEM), KeyFile: writeFile(t, dir, "key.pem", c.keyPEM)}}, credential.Options{}, "certificate", true},
		{"pem and PKCS#1 key", credential.Config{Certificate: &credential.CertificateFile{
			File: writeFile(t, dir, "cert1.pem", c.certPEM), KeyFile: writeFile(t, dir, "key1.pem", pkcs1)}}, credential.Options{}, "certificate", true},
		{"pfx without password", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "nopw.pfx", c.pfx(t, ""))}}, credential.Options{}, "pfx", true},
		{"pfx password from env", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "env.pfx", c.pfx(t, "pfx-pw-1")), PasswordEnv: "PW"}},
			credential.Options{Getenv: env(map[string]string{"PW": "pfx-pw-1"})}, "pfx", true},
		{"pfx password from file", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "file.pfx", c.pfx(t, "pfx-pw-2")),
			PasswordFile: writeFile(t, dir, "pw.txt", []byte("pfx-pw-2\n"))}}, credential.Options{}, "pfx", true},
		{"pfx legacy 3DES", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "legacy.pfx", c.pfxWith(t, pkcs12.LegacyDES, "pfx-pw-3")), PasswordEnv: "PW"}},
			credential.Options{Getenv: env(map[string]string{"PW": "pfx-pw-3"})}, "pfx", true},
		{"pfx legacy RC2", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "rc2.pfx", c.pfxWith(t, pkcs12.LegacyRC2, "pfx-pw-4")), PasswordEnv: "PW"}},
			credential.Options{Getenv: env(map[string]string{"PW": "pfx-pw-4"})}, "pfx", true},
		{"pfx modern 2026", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "m26.pfx", c.pfxWith(t, pkcs12.Modern2026, "pfx-pw-5")), PasswordEnv: "PW"}},
			credential.Options{Getenv: env(map[string]string{"PW": "pfx-pw-5"})}, "pfx", true},
		{"key vault pem", credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "pem-cert"}}, vaultOpts, "keyVault", true},
		{"key vault pkcs12", credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL + "/", Certificate: "pfx-cert"}}, vaultOpts, "keyVault", true},
		{"secret from env", credential.Config{Secret: &credential.Secret{Env: "S"}}, credential.Options{Getenv: env(map[string]string{"S": "s3cret"})}, "secret", false},
		{"secret from file", credential.Config{Secret: &credential.Secret{File: writeFile(t, dir, "secret", []byte("s3cret\n"))}}, credential.Options{}, "secret", false},
		{"federated token file", credential.Config{FederatedToken: &credential.FederatedToken{File: writeFile(t, dir, "token", []byte("eyJ.x.y"))}}, credential.Options{}, "federatedToken", false},
		{"federated token from AZURE_FEDERATED_TOKEN_FILE", credential.Config{FederatedToken: &credential.FederatedToken{}},
			credential.Options{Getenv: env(map[string]string{"AZURE_FEDERATED_TOKEN_FILE": writeFile(t, dir, "token2", []byte("eyJ.x.y"))})}, "federatedToken", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, tc.cfg, tc.o)
			info := s.Info()
			if info.Kind != tc.kind {
				t.Fatalf("kind %q, want %q", info.Kind, tc.kind)
			}
			if tc.certified && (info.Thumbprint != thumb || !info.NotAfter.Equal(c.cert.NotAfter)) {
				t.Fatalf("thumbprint %s not after %v, want %s %v", info.Thumbprint, info.NotAfter, thumb, c.cert.NotAfter)
			}
			if tc.kind == "keyVault" && info.Version == "" {
				t.Fatal("no Key Vault version")
			}
		})
	}
	// The vault was asked with the challenge first, as the real one requires.
	if r := vault.Requests(); len(r) < 2 || r[0] != "GET /secrets/pem-cert/" {
		t.Fatalf("vault requests %v", r)
	}
}

// Each bad credential fails at Open with the field at fault and a reason a
// person can act on, and never with a secret in the message.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := validCert(t, 0)
	other := validCert(t, 1)
	expired := newCert(t, rsaKey(t, 0), "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	future := newCert(t, rsaKey(t, 0), "future", time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecCert := newCert(t, ec, "ec", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ecSEC1, _ := x509.MarshalECPrivateKey(ec)
	ecSEC1PEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecSEC1})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}})
	vault := credentialtest.StartVault(t)
	vault.SetSecret("plain-secret", "", "not-a-cert-%%%")
	vault.SetPEM("cert-only", good.certPEM)
	vaultOpts := credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions()}
	closed := credentialtest.StartVault(t)
	closedURL := closed.URL
	closedOpts := credential.Options{TokenCredential: closed.TokenCredential(), KeyVault: closed.ClientOptions()}
	closed.Close()
	secrets := []string{"pfx-right-pw", "pfx-wrong-pw", "not-a-cert-%%%"}

	for _, tc := range []struct {
		name  string
		cfg   credential.Config
		o     credential.Options
		field string
		is    error
		says  string
	}{
		{"no kind", credential.Config{}, credential.Options{}, "kind", nil, "set one of"},
		{"two kinds", credential.Config{Secret: &credential.Secret{Env: "X"}, PFX: &credential.PFXFile{File: "x"}}, credential.Options{}, "kind", nil, "pfx, secret"},
		{"tiny poll interval", credential.Config{Secret: &credential.Secret{Env: "X"}, PollInterval: time.Millisecond}, credential.Options{}, "pollInterval", nil, "at least 1s"},
		{"missing file", credential.Config{Certificate: &credential.CertificateFile{File: dir + "/nope.pem"}}, credential.Options{}, "certificate.file", nil, "no such file"},
		{"no certificate path", credential.Config{Certificate: &credential.CertificateFile{}}, credential.Options{}, "certificate.file", nil, "missing"},
		{"no private key", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "certonly.pem", good.certPEM)}}, credential.Options{}, "certificate.file", credential.ErrNoPrivateKey, "no private key"},
		{"key in key file missing", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "c2.pem", good.certPEM), KeyFile: writeFile(t, dir, "empty.key", nil)}}, credential.Options{}, "certificate.keyFile", credential.ErrNoPrivateKey, "no private key"},
		{"expired", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "expired.pem", expired.both())}}, credential.Options{}, "certificate.file", credential.ErrExpired, "expired on"},
		{"not yet valid", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "future.pem", future.both())}}, credential.Options{}, "certificate.file", credential.ErrNotYetValid, "valid from"},
		{"ec key pkcs8", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "ec.pem", ecCert.both())}}, credential.Options{}, "certificate.file", credential.ErrNotRSA, "ECDSA"},
		{"ec key sec1", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "ec1.pem", append(ecCert.certPEM, ecSEC1PEM...))}}, credential.Options{}, "certificate.file", credential.ErrNotRSA, "EC PRIVATE KEY"},
		{"key of another certificate", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "mismatch.pem", append(good.certPEM, other.keyPEM...))}}, credential.Options{}, "certificate.file", credential.ErrKeyMismatch, "matches none"},
		{"encrypted pem", credential.Config{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "enc.pem", append(good.certPEM, encrypted...))}}, credential.Options{}, "certificate.file", credential.ErrEncryptedPEM, "PFX"},
		{"pfx wrong password", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "a.pfx", good.pfx(t, "pfx-right-pw")), PasswordEnv: "PW"}},
			credential.Options{Getenv: env(map[string]string{"PW": "pfx-wrong-pw"})}, "pfx.passwordEnv", credential.ErrWrongPassword, "wrong password"},
		{"pfx wrong password file", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "b.pfx", good.pfx(t, "pfx-right-pw")), PasswordFile: writeFile(t, dir, "wrongpw", []byte("pfx-wrong-pw"))}},
			credential.Options{}, "pfx.passwordFile", credential.ErrWrongPassword, "wrong password"},
		{"pfx needs a password", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "c.pfx", good.pfx(t, "pfx-right-pw"))}}, credential.Options{}, "pfx.passwordEnv", credential.ErrWrongPassword, "set passwordEnv or passwordFile"},
		{"pfx password env unset", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "d.pfx", good.pfx(t, "")), PasswordEnv: "NOPE"}}, credential.Options{Getenv: env(nil)}, "pfx.passwordEnv", nil, "NOPE is not set"},
		{"pfx expired", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "e.pfx", expired.pfx(t, ""))}}, credential.Options{}, "pfx.file", credential.ErrExpired, "expired"},
		{"pfx ec", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "ec.pfx", ecCert.pfx(t, ""))}}, credential.Options{}, "pfx.file", credential.ErrNotRSA, "RSA"},
		{"pfx garbage", credential.Config{PFX: &credential.PFXFile{File: writeFile(t, dir, "g.pfx", []byte("garbage"))}}, credential.Options{}, "pfx.file", nil, "PKCS#12"},
		{"secret env unset", credential.Config{Secret: &credential.Secret{Env: "TENANTGATE_NOPE"}}, credential.Options{Getenv: env(nil)}, "secret.env", nil, "TENANTGATE_NOPE is not set"},
		{"secret env and file", credential.Config{Secret: &credential.Secret{Env: "A", File: "b"}}, credential.Options{}, "secret", nil, "exactly one"},
		{"secret file empty", credential.Config{Secret: &credential.Secret{File: writeFile(t, dir, "emptysecret", []byte("\n"))}}, credential.Options{}, "secret.file", nil, "empty"},
		{"federated no file", credential.Config{FederatedToken: &credential.FederatedToken{}}, credential.Options{Getenv: env(nil)}, "federatedToken.file", nil, "AZURE_FEDERATED_TOKEN_FILE"},
		{"federated missing file", credential.Config{FederatedToken: &credential.FederatedToken{File: dir + "/none"}}, credential.Options{}, "federatedToken.file", nil, "no such file"},
		{"vault url", credential.Config{KeyVault: &credential.KeyVault{Vault: "http://kv.example", Certificate: "c"}}, vaultOpts, "keyVault.vault", nil, "not a vault URL"},
		{"vault name", credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "a_b"}}, vaultOpts, "keyVault.certificate", nil, "not a Key Vault certificate name"},
		{"vault unknown certificate", credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "nope"}}, vaultOpts, "keyVault.certificate", nil, "no certificate (secret) named \"nope\""},
		{"vault unreachable", credential.Config{KeyVault: &credential.KeyVault{Vault: closedURL, Certificate: "c"}}, closedOpts, "keyVault.vault", nil, "unreachable"},
		{"vault secret not a certificate", credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "plain-secret"}}, vaultOpts, "keyVault.certificate", nil, "neither PEM nor base64"},
		{"vault certificate without key", credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "cert-only"}}, vaultOpts, "keyVault.certificate", credential.ErrNoPrivateKey, "exportable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := credential.Open(ctx, tc.cfg, tc.o)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			var ce *credential.Error
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("error %q: want a *credential.Error for field %q", err, tc.field)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.HasPrefix(err.Error(), "credential: "+tc.field+": ") {
				t.Fatalf("error %q: want it to start with the field and say %q", err, tc.says)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error %q contains a secret", err)
				}
			}
		})
	}
}
