package credential

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Content types Key Vault gives the secret behind a certificate, by the
// certificate policy's secret content type.
const (
	contentPKCS12 = "application/x-pkcs12"
	contentPEM    = "application/x-pem-file"
)

// vaultLoader reads a Key Vault certificate with its private key from the
// secret of the same name: the certificates API serves only the public
// part. A new certificate version shows as a new secret version.
type vaultLoader struct {
	client *azsecrets.Client
	name   string
	now    func() time.Time
}

func newVaultLoader(c *KeyVault, o Options) (*vaultLoader, error) {
	cred := o.TokenCredential
	if cred == nil {
		var err error
		if cred, err = o.defaultAzureCredential(); err != nil {
			return nil, fieldErr("keyVault.vault", fmt.Errorf("no Azure credential to read the vault with: %w", err))
		}
	}
	client, err := azsecrets.NewClient(strings.TrimRight(c.Vault, "/"), cred, o.KeyVault)
	if err != nil {
		return nil, fieldErr("keyVault.vault", err)
	}
	return &vaultLoader{client: client, name: c.Certificate, now: o.Now}, nil
}

func (v *vaultLoader) load(ctx context.Context, current string) (*loaded, error) {
	resp, err := v.client.GetSecret(ctx, v.name, "", nil)
	if err != nil {
		return nil, v.explain(err)
	}
	s := resp.Secret
	if s.ID == nil || s.Value == nil {
		return nil, fieldErr("keyVault.certificate", errors.New("the vault answered without the secret's value or ID"))
	}
	version := s.ID.Version()
	if version != "" && version == current {
		return nil, nil
	}
	var ct string
	if s.ContentType != nil {
		ct = *s.ContentType
	}
	certs, key, err := parseVaultValue(ct, *s.Value)
	if err == nil {
		var l loaded
		if l.cred, l.info, err = certCredential("keyVault", certs, key, v.now()); err == nil {
			l.info.Version, l.fp = version, version
			return &l, nil
		}
	}
	return nil, fieldErr("keyVault.certificate", fmt.Errorf("version %s: %w", version, err))
}

// parseVaultValue reads a certificate's secret: base64 PKCS#12 with no
// password, or PEM, by its content type (or its look, when a secret was
// set by hand without one).
func parseVaultValue(contentType, value string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	if contentType == contentPEM || (contentType != contentPKCS12 && strings.HasPrefix(strings.TrimSpace(value), "-----BEGIN")) {
		return parsePEM([]byte(value))
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return nil, nil, fmt.Errorf("the secret (content type %q) is neither PEM nor base64 PKCS#12: is it a certificate's secret?", contentType)
	}
	return parsePFX(der, "")
}

// explain turns an azsecrets error into what to do about it, naming the
// field. Key Vault's error bodies carry no secret values.
func (v *vaultLoader) explain(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusNotFound:
			return fieldErr("keyVault.certificate", fmt.Errorf("the vault has no certificate (secret) named %q (%s)", v.name, re.ErrorCode))
		case http.StatusUnauthorized, http.StatusForbidden:
			return fieldErr("keyVault.vault", fmt.Errorf("access denied (%d %s): give the app's identity get on secrets (role Key Vault Secrets User)", re.StatusCode, re.ErrorCode))
		}
		return fieldErr("keyVault.vault", fmt.Errorf("the vault answered %d %s", re.StatusCode, re.ErrorCode))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fieldErr("keyVault.vault", fmt.Errorf("unreachable: %w", err))
	}
	return fieldErr("keyVault.vault", fmt.Errorf("unreachable or refused: %w", err))
}
