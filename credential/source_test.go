package credential_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/credential/credentialtest"
)

// waitChange waits for ch to close, failing the test after d.
func waitChange(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("no credential change within %v: %s", d, what)
	}
}

func TestFileReplacedOnDiskIsReloaded(t *testing.T) {
	dir := t.TempDir()
	first, second := validCert(t, 0), validCert(t, 1)
	path := writeFile(t, dir, "app.pem", first.both())
	var logs logBuffer
	s := open(t, credential.Config{Certificate: &credential.CertificateFile{File: path}, PollInterval: time.Second},
		credential.Options{Name: "contoso", Logger: logs.logger()})
	ch := s.Changed()

	// A half-written file is refused and the current credential stays.
	replaceFile(t, path, second.certPEM)
	if changed, err := s.Reload(context.Background()); changed || !errors.Is(err, credential.ErrNoPrivateKey) {
		t.Fatalf("half-written file: changed %v, err %v", changed, err)
	}
	if got := s.Info().Thumbprint; got != thumbprint(first.cert) {
		t.Fatalf("the current credential was replaced by a broken one: %s", got)
	}

	replaceFile(t, path, second.both())
	waitChange(t, ch, 5*time.Second, "the PEM file was replaced")
	if got := s.Info().Thumbprint; got != thumbprint(second.cert) {
		t.Fatalf("thumbprint %s after the replacement, want %s", got, thumbprint(second.cert))
	}
	// Unchanged bytes: no change, no new channel closed.
	ch = s.Changed()
	if changed, err := s.Reload(context.Background()); changed || err != nil {
		t.Fatalf("reload of an unchanged file: changed %v, err %v", changed, err)
	}
	select {
	case <-ch:
		t.Fatal("Changed closed without a change")
	default:
	}
	if !strings.Contains(logs.String(), "credential: rotated") || !strings.Contains(logs.String(), "previous_thumbprint="+thumbprint(first.cert)) {
		t.Fatalf("the rotation was not logged with both thumbprints:\n%s", logs.String())
	}
}

func TestSecretFileReloaded(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "secret", []byte("first-secret-value"))
	s := open(t, credential.Config{Secret: &credential.Secret{File: path}}, credential.Options{})
	ch := s.Changed()
	replaceFile(t, path, []byte("second-secret-value"))
	if changed, err := s.Reload(context.Background()); !changed || err != nil {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	waitChange(t, ch, time.Second, "the secret file was replaced")
}

func TestKeyVaultNewVersionIsPolled(t *testing.T) {
	first, second := validCert(t, 0), validCert(t, 1)
	vault := credentialtest.StartVault(t)
	v1 := vault.SetPKCS12("app-cert", first.pfx(t, ""))
	s := open(t, credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "app-cert"}, PollInterval: time.Second},
		credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions()})
	if s.Info().Version != v1 {
		t.Fatalf("version %q, want %q", s.Info().Version, v1)
	}
	ch := s.Changed()
	v2 := vault.SetPEM("app-cert", second.both())
	waitChange(t, ch, 5*time.Second, "the vault has a new version")
	if info := s.Info(); info.Version != v2 || info.Thumbprint != thumbprint(second.cert) {
		t.Fatalf("after the poll: %+v, want version %s", info, v2)
	}
}

// A rejection by the IdP reloads at once, long before the next poll; a
// burst of rejections reads the vault once per backoff.
func TestRejectedReloadsAtOnce(t *testing.T) {
	first, second := validCert(t, 0), validCert(t, 1)
	vault := credentialtest.StartVault(t)
	vault.SetPKCS12("app-cert", first.pfx(t, ""))
	s := open(t, credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "app-cert"}, PollInterval: time.Hour},
		credential.Options{TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions(), RejectionBackoff: time.Hour})
	gets := vault.Gets("app-cert")

	if s.Rejected(errors.New("AADSTS50076: MFA required")) || s.Rejected(nil) {
		t.Fatal("an error that is no rejection of the credential counted as one")
	}
	ch := s.Changed()
	vault.SetPKCS12("app-cert", second.pfx(t, ""))
	rejection := fmt.Errorf("tokencache: %w", errors.New(`http call(https://login/token)(POST) error: reply status code was 401:
{"error":"invalid_client","error_description":"AADSTS700027: Client assertion failed signature validation. Trace ID: 1"}`))
	if !s.Rejected(rejection) {
		t.Fatal("AADSTS700027 is a rejection")
	}
	waitChange(t, ch, 5*time.Second, "the IdP rejected the credential")
	if got := s.Info().Thumbprint; got != thumbprint(second.cert) {
		t.Fatalf("thumbprint %s, want the new one", got)
	}
	for range 5 {
		s.Rejected(rejection)
	}
	time.Sleep(100 * time.Millisecond)
	if n := vault.Gets("app-cert") - gets; n != 1 {
		t.Fatalf("%d vault reads for 6 rejections within the backoff, want 1", n)
	}
}

func TestIsRejection(t *testing.T) {
	for msg, want := range map[string]bool{
		"AADSTS700027: Client assertion failed signature validation.": true,
		"AADSTS7000215: Invalid client secret provided.":              true,
		"AADSTS7000222: The provided client secret keys are expired.": true,
		"AADSTS700024: Client assertion is not within its valid time": true,
		"AADSTS700213: No matching federated identity record found":   true,
		"AADSTS70011: The provided value for scope is not valid.":     false,
		"AADSTS90002: Tenant not found.":                              false,
		"AADSTS7000215x":                                              false,
		"connection refused":                                          false,
	} {
		if got := credential.IsRejection(errors.New(msg)); got != want {
			t.Errorf("IsRejection(%q) = %v, want %v", msg, got, want)
		}
	}
}

// Reload failures keep the credential, are logged, and Close stops the
// poller even while the vault is down.
func TestVaultDownKeepsCredentialAndCloseStops(t *testing.T) {
	c := validCert(t, 0)
	vault := credentialtest.StartVault(t)
	vault.SetPEM("app-cert", c.both())
	var logs logBuffer
	s, err := credential.Open(context.Background(), credential.Config{KeyVault: &credential.KeyVault{Vault: vault.URL, Certificate: "app-cert"}, PollInterval: time.Second},
		credential.Options{Name: "contoso", TokenCredential: vault.TokenCredential(), KeyVault: vault.ClientOptions(), Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	vault.SetDown(true)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "reload failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "reload failed") || !strings.Contains(logs.String(), "503") {
		t.Fatalf("no reload failure logged:\n%s", logs.String())
	}
	if s.Info().Thumbprint != thumbprint(c.cert) {
		t.Fatal("the credential was dropped while the vault was down")
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

// Nothing secret reaches logs or errors: not a secret, a password, a
// private key or a federated token, whatever happens.
func TestNothingSecretIsLogged(t *testing.T) {
	dir := t.TempDir()
	c := validCert(t, 0)
	var logs logBuffer
	o := credential.Options{Name: "contoso", Logger: logs.logger(), Getenv: env(map[string]string{"PW": "pfx-password-42", "S": "client-secret-42"})}
	pfx := writeFile(t, dir, "a.pfx", c.pfx(t, "pfx-password-42"))
	secretFile := writeFile(t, dir, "s", []byte("client-secret-43"))
	token := writeFile(t, dir, "token", []byte("federated-token-42"))
	var errs []error
	for _, cfg := range []credential.Config{
		{PFX: &credential.PFXFile{File: pfx, PasswordEnv: "PW"}},
		{Secret: &credential.Secret{Env: "S"}},
		{Secret: &credential.Secret{File: secretFile}},
		{FederatedToken: &credential.FederatedToken{File: token}},
		{Certificate: &credential.CertificateFile{File: writeFile(t, dir, "c.pem", c.both())}},
	} {
		s, err := credential.Open(context.Background(), cfg, o)
		if err != nil {
			t.Fatal(err)
		}
		s.Rejected(errors.New("AADSTS700027: rejected"))
		_, _ = s.Reload(context.Background())
		s.Close()
	}
	// And failures: a wrong password, a garbled secret file.
	o.Getenv = env(map[string]string{"PW": "pfx-password-wrong"})
	_, err := credential.Open(context.Background(), credential.Config{PFX: &credential.PFXFile{File: pfx, PasswordEnv: "PW"}}, o)
	errs = append(errs, err)
	keyBody := strings.Split(string(c.keyPEM), "\n")[1]
	for _, leak := range []string{"pfx-password-42", "pfx-password-wrong", "client-secret-42", "client-secret-43", "federated-token-42", keyBody} {
		if strings.Contains(logs.String(), leak) {
			t.Fatalf("the log contains %q:\n%s", leak, logs.String())
		}
		for _, e := range errs {
			if e == nil || strings.Contains(e.Error(), leak) {
				t.Fatalf("error %v contains %q (or is nil)", e, leak)
			}
		}
	}
	if !strings.Contains(logs.String(), "credential: loaded") {
		t.Fatal("nothing was logged: the test proves nothing")
	}
}
