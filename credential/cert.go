package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"software.sslmate.com/src/go-pkcs12"
)

// Info describes the credential in use, for logs and operations. It holds
// nothing secret.
type Info struct {
	// Kind is the Config kind: "certificate", "pfx", "keyVault", "secret"
	// or "federatedToken".
	Kind string
	// Thumbprint is the certificate's SHA-1 thumbprint in hex, as the
	// Azure portal and Key Vault show it; empty for other kinds.
	Thumbprint string
	Subject    string
	NotAfter   time.Time
	// Version is the Key Vault secret version; empty for other kinds.
	Version string
	// Loaded is when this credential was loaded.
	Loaded time.Time
}

// parsePEM reads CERTIFICATE and private key blocks. Errors never quote
// the data.
func parsePEM(data []byte) (certs []*x509.Certificate, key crypto.PrivateKey, err error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if _, enc := b.Headers["DEK-Info"]; enc || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, nil, ErrEncryptedPEM
		}
		var k crypto.PrivateKey
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("a CERTIFICATE block does not parse: %w", err)
			}
			certs = append(certs, c)
			continue
		case "PRIVATE KEY":
			if k, err = x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
				return nil, nil, errors.New("the PRIVATE KEY block does not parse as PKCS#8")
			}
		case "RSA PRIVATE KEY":
			if k, err = x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
				return nil, nil, errors.New("the RSA PRIVATE KEY block does not parse as PKCS#1")
			}
		case "EC PRIVATE KEY":
			return nil, nil, fmt.Errorf("%w (found an EC PRIVATE KEY block)", ErrNotRSA)
		default:
			continue
		}
		if key != nil {
			return nil, nil, errors.New("more than one private key")
		}
		key = k
	}
	return certs, key, nil
}

// parsePFX reads a PKCS#12 file: a leaf, its chain and its key.
func parsePFX(data []byte, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, nil, ErrWrongPassword
	case err != nil && strings.Contains(err.Error(), "private key missing"):
		return nil, nil, ErrNoPrivateKey
	case err != nil:
		return nil, nil, fmt.Errorf("not a PKCS#12 (PFX) file that can be read: %w", err)
	}
	return append([]*x509.Certificate{leaf}, chain...), key, nil
}

// certCredential checks certs and key as Entra and MSAL Go will, and makes
// the MSAL credential: the leaf is the certificate whose public key
// matches the key, and it must be valid now.
func certCredential(kind string, certs []*x509.Certificate, key crypto.PrivateKey, now time.Time) (confidential.Credential, Info, error) {
	if len(certs) == 0 {
		return confidential.Credential{}, Info{}, errors.New("no CERTIFICATE found")
	}
	if key == nil {
		return confidential.Credential{}, Info{}, ErrNoPrivateKey
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return confidential.Credential{}, Info{}, fmt.Errorf("%w (found %s)", ErrNotRSA, keyType(key))
	}
	var leaf *x509.Certificate
	for _, c := range certs {
		if pub, ok := c.PublicKey.(*rsa.PublicKey); ok && pub.Equal(&rk.PublicKey) {
			leaf = c
			break
		}
	}
	if leaf == nil {
		return confidential.Credential{}, Info{}, ErrKeyMismatch
	}
	sum := sha1.Sum(leaf.Raw)
	info := Info{
		Kind: kind, Thumbprint: strings.ToUpper(hex.EncodeToString(sum[:])),
		Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter, Loaded: now,
	}
	switch {
	case now.After(leaf.NotAfter):
		return confidential.Credential{}, info, fmt.Errorf("%w: %s (thumbprint %s) expired on %s",
			ErrExpired, info.Subject, info.Thumbprint, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return confidential.Credential{}, info, fmt.Errorf("%w: %s (thumbprint %s) is valid from %s",
			ErrNotYetValid, info.Subject, info.Thumbprint, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	cred, err := confidential.NewCredFromCert(certs, rk)
	if err != nil {
		return confidential.Credential{}, info, fmt.Errorf("MSAL refused the certificate: %w", err)
	}
	return cred, info, nil
}

func keyType(k crypto.PrivateKey) string {
	switch k.(type) {
	case *ecdsa.PrivateKey:
		return "an ECDSA key"
	case ed25519.PrivateKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T", k)
}
