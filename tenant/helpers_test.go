package tenant_test

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
	"software.sslmate.com/src/go-pkcs12"
)

// redirectURI is registered for the demo app (loopback: any port).
const redirectURI = "http://localhost:8400/callback"

func newCache(t testing.TB) *tokencache.Cache {
	t.Helper()
	kv := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = kv.Close() })
	k, err := seal.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	c := tokencache.New(kv, kr, tokencache.Options{})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func openRegistry(t testing.TB, cfg tenant.Config, cache *tokencache.Cache, o tenant.Options) *tenant.Registry {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := tenant.Open(ctx, cfg, cache, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func replaceFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
}

// demoCert is the demo app's registered certificate with its key.
func demoCert(srv *devidptest.Server) devidp.Certificate {
	return srv.IdP().Directory().Apps[0].Certificates[0]
}

// newAppCertificate makes a certificate for the demo app from a key of the
// pool that no IdP uses (the demo directory takes the first four).
func newAppCertificate(t testing.TB, n int) devidp.Certificate {
	t.Helper()
	next := devidptest.Keys()
	for range 4 + n {
		if _, err := next(); err != nil {
			t.Fatal(err)
		}
	}
	key, err := next()
	if err != nil {
		t.Fatal(err)
	}
	c, err := devidp.NewAppCertificate(key, "tenantgate-demo-rotated", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pfxOf(t testing.TB, c devidp.Certificate, password string) []byte {
	t.Helper()
	certs, key, err := confidential.CertFromPEM([]byte(c.PEM+c.PrivateKeyPEM), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := pkcs12.Modern.Encode(key, certs[0], nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func thumbprint(t testing.TB, c devidp.Certificate) string {
	t.Helper()
	certs, _, err := confidential.CertFromPEM([]byte(c.PEM+c.PrivateKeyPEM), "")
	if err != nil {
		t.Fatal(err)
	}
	return sha1Hex(certs[0])
}

// assertion mints what a workload identity platform would write to the
// federated token file. devidp has no federated identity credentials, so
// it is a client assertion signed with the app's registered certificate:
// what matters here is that tenantgate reads the file at each request.
func assertion(t testing.TB, c devidp.Certificate, clientID, tokenEndpoint string) []byte {
	t.Helper()
	certs, key, err := confidential.CertFromPEM([]byte(c.PEM+c.PrivateKeyPEM), "")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(certs[0].Raw)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t#S256", base64.StdEncoding.EncodeToString(sum[:])))
	if err != nil {
		t.Fatal(err)
	}
	var jti [16]byte
	_, _ = rand.Read(jti[:])
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{tokenEndpoint},
		ID: base64.RawURLEncoding.EncodeToString(jti[:]), IssuedAt: jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(tok)
}

// signIn runs auth code + PKCE for user through the tenant's client and
// devidp's sign-in page, and redeems the code.
func signIn(t testing.TB, srv *devidptest.Server, tn *tenant.Tenant, user string, scopes []string) (confidential.AuthResult, error) {
	t.Helper()
	ctx := context.Background()
	req := devidptest.NewAuthRequest()
	u, err := tn.Client().AuthCodeURL(ctx, redirectURI, append([]string{"openid", "profile", "offline_access"}, scopes...))
	if err != nil {
		t.Fatal(err)
	}
	if u, err = req.URL(u, ""); err != nil {
		t.Fatal(err)
	}
	params, err := srv.SignIn(nil, u, user)
	if err != nil || params.Get("code") == "" {
		t.Fatalf("sign-in as %s: %v %v", user, err, params)
	}
	return tn.Client().AcquireTokenByAuthCode(ctx, params.Get("code"), redirectURI, scopes, tokencache.WithChallenge(req.Verifier))
}

func claims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func sha1Hex(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
