package devidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// signingKey is one of a tenant's token signing keys with the self-signed
// certificate Entra publishes beside it (x5c, x5t).
type signingKey struct {
	kid    string
	key    *rsa.PrivateKey
	cert   *x509.Certificate
	signer jose.Signer
}

// GenerateKey makes an RSA 2048 key, the size Entra uses. It is the default
// for Options.NewKey.
func GenerateKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
}

// selfSigned makes a long-lived self-signed certificate for key, the form in
// which Entra publishes signing keys and apps register client certificates.
func selfSigned(key crypto.Signer, cn string, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func newSigningKey(key *rsa.PrivateKey, tenantID string, now time.Time) (*signingKey, error) {
	cert, err := selfSigned(key, "devidp signing key for "+tenantID, now)
	if err != nil {
		return nil, fmt.Errorf("devidp: signing certificate: %w", err)
	}
	sum := sha1.Sum(cert.Raw)
	// Entra uses the certificate's SHA-1 thumbprint as both kid and x5t.
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		return nil, fmt.Errorf("devidp: signer: %w", err)
	}
	return &signingKey{kid: kid, key: key, cert: cert, signer: signer}, nil
}

func (k *signingKey) sign(payload []byte) (string, error) {
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func (k *signingKey) jwk(issuer string) map[string]any {
	sum := sha1.Sum(k.cert.Raw)
	pub := &k.key.PublicKey
	return map[string]any{
		"kty":    "RSA",
		"use":    "sig",
		"kid":    k.kid,
		"x5t":    base64.RawURLEncoding.EncodeToString(sum[:]),
		"n":      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"x5c":    []string{base64.StdEncoding.EncodeToString(k.cert.Raw)},
		"issuer": issuer,
	}
}

func parseCertificatePEM(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(b.Bytes)
}

// NewAppCertificate makes a client certificate for an app registration from
// key: the certificate PEM to register and the PKCS#8 private key PEM to sign
// client assertions with (confidential.CertFromPEM reads both).
func NewAppCertificate(key *rsa.PrivateKey, name string, now time.Time) (Certificate, error) {
	cert, err := selfSigned(key, name, now)
	if err != nil {
		return Certificate{}, fmt.Errorf("devidp: app certificate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Certificate{}, fmt.Errorf("devidp: app key: %w", err)
	}
	return Certificate{
		PEM:           string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}, nil
}
