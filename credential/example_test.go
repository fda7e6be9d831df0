package credential_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/tenantgate/tenantgate/credential"
)

// A certificate from Azure Key Vault, read with the default Azure
// credential chain (managed identity in Container Apps), polled every
// minute for a new version.
func ExampleOpen() {
	src, err := credential.Open(context.Background(), credential.Config{
		KeyVault: &credential.KeyVault{
			Vault:       "https://contoso-kv.vault.azure.net/",
			Certificate: "tenantgate-contoso",
		},
		PollInterval: time.Minute,
	}, credential.Options{Name: "contoso"})
	if err != nil {
		log.Fatal(err) // e.g. credential: keyVault.certificate: the vault has no certificate (secret) named ...
	}
	defer src.Close()
	info := src.Info()
	fmt.Println(info.Thumbprint, info.NotAfter, info.Version)
}

// A client secret from the environment. Errors name the field at fault.
func ExampleOpen_secret() {
	getenv := func(name string) string { return map[string]string{"CONTOSO_SECRET": "s3cret"}[name] }
	src, err := credential.Open(context.Background(), credential.Config{
		Secret: &credential.Secret{Env: "CONTOSO_SECRET"},
	}, credential.Options{Getenv: getenv})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	fmt.Println(src.Info().Kind)

	_, err = credential.Open(context.Background(), credential.Config{
		Secret: &credential.Secret{Env: "FABRIKAM_SECRET"},
	}, credential.Options{Getenv: getenv})
	var ce *credential.Error
	fmt.Println(errors.As(err, &ce), ce.Field)
	fmt.Println(err)
	// Output:
	// secret
	// true secret.env
	// credential: secret.env: the environment variable FABRIKAM_SECRET is not set
}

// Follow rotations: take the channel, then the credential, so that no
// change is missed. tokencache.Client.SetCredential is what package tenant
// calls here.
func ExampleSource_Changed() {
	var src *credential.Source // from credential.Open
	ctx := context.Background()
	setCredential := func(any) {}
	for {
		changed := src.Changed()
		setCredential(src.Credential())
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// After a token request fails, let the Source decide whether the IdP
// refused the credential itself; if so it reloads at once, and a retry
// after Changed uses the rotated credential.
func ExampleSource_Rejected() {
	var src *credential.Source // from credential.Open
	changed := src.Changed()   // before the request, so that no change is missed
	err := errors.New("AADSTS700027: Client assertion failed signature validation.")
	if src.Rejected(err) {
		select {
		case <-changed:
			// retry the request once
		case <-time.After(10 * time.Second):
		}
	}
}
