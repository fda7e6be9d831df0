package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSServer is a node that speaks only TLS, with certificates from a CA made
// for this test, and only the ACL user Username may sign in (the default user
// is off), as on Azure Cache for Redis with an access key or ACL user.
type TLSServer struct {
	*Node
	// Username and Password are the ACL user's, the same as Node's.
	Username, Password string
	// CA trusts the server's certificate; CAPEM is the same CA as PEM.
	CA    *x509.CertPool
	CAPEM []byte
	// ServerName is a name in the certificate ("localhost"); the certificate
	// also holds the IP 127.0.0.1.
	ServerName string
}

// TLS starts a TLS-only redis-server (`port 0`, `tls-port`, no client
// certificates) with user "app" and a random password; WithACL replaces the
// user's rules.
func TLS(t testing.TB, opts ...Option) *TLSServer {
	t.Helper()
	o := collect(opts)
	n := newNode(t, "tls", "redis.conf")
	caPEM, pool := writeCerts(t, n.Dir)
	s := &TLSServer{Node: n, CA: pool, CAPEM: caPEM, ServerName: "localhost"}
	n.clientTLS = s.ClientTLS()
	if o.acl == nil {
		o.acl = defaultACL
	}
	n.addACL(o.acl)
	s.Username, s.Password = n.Username, n.Password
	n.lines = append(n.lines,
		"tls-cert-file "+quote(filepath.Join(n.Dir, "server.crt")),
		"tls-key-file "+quote(filepath.Join(n.Dir, "server.key")),
		"tls-ca-cert-file "+quote(filepath.Join(n.Dir, "ca.crt")),
		"tls-auth-clients no",
	)
	n.lines = append(n.lines, o.config...)
	n.start(t)
	return s
}

// ClientTLS is a client configuration that trusts the test CA and expects
// ServerName. Each call returns a new value the caller may change.
func (s *TLSServer) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.CA, ServerName: s.ServerName, MinVersion: tls.VersionTLS12}
}

// URL is "rediss://user:password@127.0.0.1:port".
func (s *TLSServer) URL() string { return s.Node.URL() }

// writeCerts makes a CA and a server certificate for 127.0.0.1 and localhost
// in dir (ca.crt, server.crt, server.key) and returns the CA.
func writeCerts(t testing.TB, dir string) (caPEM []byte, pool *x509.CertPool) {
	t.Helper()
	fail := func(err error) {
		if err != nil {
			t.Fatalf("redistest: make test certificates: %v", err)
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	fail(err)
	ca, err := x509.ParseCertificate(caDER)
	fail(err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fail(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	fail(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	fail(err)

	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	fail(os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o600))
	fail(os.WriteFile(filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	fail(os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return caPEM, pool
}
