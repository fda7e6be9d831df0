package devidptest

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
)

// Server is a devidp IdP served on an httptest TLS server.
type Server struct {
	// URL is the server's base URL, https://127.0.0.1:PORT.
	URL string

	idp *devidp.IdP
	srv *httptest.Server
	ca  *devidp.CA
}

// Option adjusts the devidp.Options a Server is built with.
type Option func(*devidp.Options)

// WithDirectory serves d instead of the demo directory.
func WithDirectory(d devidp.Directory) Option {
	return func(o *devidp.Options) { o.Directory = &d }
}

// WithLifetimes sets the lifetimes of tokens and codes.
func WithLifetimes(l devidp.Lifetimes) Option {
	return func(o *devidp.Options) { o.Lifetimes = l }
}

// Start serves a new IdP for the duration of the test, with the HTTP test
// controls on and keys from the process-wide pool (see Keys).
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		t.Fatalf("devidptest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer is Start for code that has no testing.TB; Close stops it.
func NewServer(opts ...Option) (*Server, error) {
	o := devidp.Options{NewKey: Keys(), Controls: true}
	for _, opt := range opts {
		opt(&o)
	}
	idp, err := devidp.New(o)
	if err != nil {
		return nil, err
	}
	ca, err := devidp.NewCA()
	if err != nil {
		return nil, err
	}
	cert, err := ca.ServerCertificate("127.0.0.1", "::1", "localhost", "*.ciamlogin.com", "login.microsoftonline.com")
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(idp)
	srv.TLS = newTLSConfig(cert)
	srv.StartTLS()
	return &Server{URL: srv.URL, idp: idp, srv: srv, ca: ca}, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// IdP returns the IdP, for its test controls (Advance, RotateKeys, Count, ...).
func (s *Server) IdP() *devidp.IdP { return s.idp }

// CertPool returns a pool that trusts the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.ca.CertPool() }

// CACertPEM is the CA certificate in PEM, for clients outside Go
// (NODE_EXTRA_CA_CERTS).
func (s *Server) CACertPEM() []byte { return s.ca.PEM }

// tenant resolves name, GUID or domain, failing loudly: a typo in a test
// must not become an "unknown tenant" test.
func (s *Server) tenant(name string) devidp.Tenant {
	t, ok := s.idp.Tenant(name)
	if !ok {
		panic(fmt.Sprintf("devidptest: no tenant %q in the directory", name))
	}
	return t
}

// Authority returns the authority of tenant (a name such as "contoso", a
// GUID or a domain): https://127.0.0.1:PORT/{tenantID}. Any OIDC client
// can use it; MSAL Go needs WithInstanceDiscovery(false) or HTTPClient().
func (s *Server) Authority(tenant string) string {
	return s.URL + "/" + s.tenant(tenant).ID
}

// CIAMAuthority returns MSAL's authority form for a CIAM tenant,
// https://{tenantID}.ciamlogin.com/{tenantID}. Only HTTPClient() reaches it.
func (s *Server) CIAMAuthority(tenant string) string {
	id := s.tenant(tenant).ID
	return "https://" + id + ".ciamlogin.com/" + id
}

// HTTPClient returns a client that trusts the server and dials
// *.ciamlogin.com and login.microsoftonline.com to it, so that CIAM
// authorities and MSAL's instance discovery work offline. Test-only: the
// devidp command never redirects those names.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.transport()}
}

// Browser returns a client like a browser's: it keeps cookies (the IdP's
// session, for prompt=none) and does not follow redirects, so that a test
// can read where the IdP sends it.
func (s *Server) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Transport:     s.transport(),
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *Server) transport() *http.Transport {
	addr := s.srv.Listener.Addr().String()
	var d net.Dialer
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = newClientTLSConfig(s.CertPool())
	tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(hostport)
		if err == nil && (strings.HasSuffix(strings.ToLower(host), ".ciamlogin.com") || strings.EqualFold(host, "login.microsoftonline.com")) {
			hostport = addr
		}
		return d.DialContext(ctx, network, hostport)
	}
	return tr
}

// demoApp is the directory's first app: the demo app unless WithDirectory
// says otherwise.
func (s *Server) demoApp() devidp.App {
	d := s.idp.Directory()
	if len(d.Apps) == 0 {
		panic("devidptest: the directory has no app")
	}
	return d.Apps[0]
}

// ClientID is the demo app's client ID.
func (s *Server) ClientID() string { return s.demoApp().ClientID }

// Secret is the demo app's first client secret.
func (s *Server) Secret() string {
	a := s.demoApp()
	if len(a.Secrets) == 0 {
		panic("devidptest: the app has no secret")
	}
	return a.Secrets[0]
}

// CertPEM and KeyPEM are the demo app's client certificate and its private
// key, for confidential.CertFromPEM.
func (s *Server) CertPEM() []byte { return []byte(s.cert().PEM) }

// KeyPEM: see CertPEM.
func (s *Server) KeyPEM() []byte { return []byte(s.cert().PrivateKeyPEM) }

func (s *Server) cert() devidp.Certificate {
	a := s.demoApp()
	if len(a.Certificates) == 0 {
		panic("devidptest: the app has no certificate")
	}
	return a.Certificates[0]
}
