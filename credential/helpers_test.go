package credential_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"software.sslmate.com/src/go-pkcs12"
)

// rsaKey returns the n-th key of devidptest's process-wide pool: RSA key
// generation is slow under the race detector.
func rsaKey(t testing.TB, n int) *rsa.PrivateKey {
	t.Helper()
	next := devidptest.Keys()
	var k *rsa.PrivateKey
	for range n + 1 {
		var err error
		if k, err = next(); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

type testCert struct {
	cert    *x509.Certificate
	certPEM []byte
	keyPEM  []byte // PKCS#8
	key     crypto.Signer
}

// newCert makes a self-signed certificate for key valid in [from, to].
func newCert(t testing.TB, key crypto.Signer, cn string, from, to time.Time) testCert {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    from, NotAfter: to,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	k8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		cert:    cert,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k8}),
		key:     key,
	}
}

func validCert(t testing.TB, n int) testCert {
	return newCert(t, rsaKey(t, n), "tenantgate test "+string(rune('a'+n)), time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour*365))
}

func (c testCert) both() []byte { return append(append([]byte{}, c.certPEM...), c.keyPEM...) }

func (c testCert) pfx(t testing.TB, password string) []byte {
	return c.pfxWith(t, pkcs12.Modern, password)
}

func (c testCert) pfxWith(t testing.TB, enc *pkcs12.Encoder, password string) []byte {
	t.Helper()
	b, err := enc.Encode(c.key, c.cert, nil, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile replaces p atomically, as a deployment tool or Kubernetes
// does, so that a poll never sees it half written.
func replaceFile(t testing.TB, p string, b []byte) {
	t.Helper()
	tmp := p + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// logBuffer collects a logger's output, for asserting that nothing secret
// is logged.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
