package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/gateway"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tenant"
)

// noTenants is a registry with no tenant: these tests stay on anonymous
// paths, where no sign-in happens.
type noTenants struct{}

func (noTenants) Tenant(string) (*tenant.Tenant, bool)       { return nil, false }
func (noTenants) Tenants() []*tenant.Tenant                  { return nil }
func (noTenants) Organizations() (*tenant.Tenant, bool)      { return nil, false }
func (noTenants) ForTenantID(string) (*tenant.Tenant, error) { return nil, tenant.ErrTenantNotAllowed }
func (noTenants) OrganizationsFor(string) (*tenant.Tenant, error) {
	return nil, tenant.ErrTenantNotAllowed
}

// newTestGateway serves a gateway with o (Upstream and Auth filled in) in
// front of an upstream that echoes the method, path and headers it got.
func newTestGateway(t *testing.T, o gateway.Options) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "method=%s path=%s raw=%s\n", r.Method, r.URL.Path, r.RequestURI)
		for k, v := range r.Header {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(v, ","))
		}
	}))
	t.Cleanup(up.Close)
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	k, err := seal.GenerateKey("k")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := session.New(st, kr, session.Options{PublicURL: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := signin.New(signin.Options{PublicURL: "http://localhost:8080", Tenants: noTenants{}, Sessions: sm, Store: st, Sealer: kr})
	if err != nil {
		t.Fatal(err)
	}
	o.Upstream, _ = url.Parse(up.URL)
	o.Auth = auth
	gw, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return front
}

// rawRequest sends req as written (no client cleaning) and returns the
// status and body.
func rawRequest(t *testing.T, front *httptest.Server, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAnonymousPrefixMatchesWholeSegments(t *testing.T) {
	for _, prefix := range []string{"/public", "/public/"} {
		front := newTestGateway(t, gateway.Options{AllowAnonymous: []string{prefix}})
		for path, anonymous := range map[string]bool{"/public/x": true, "/public/": true, "/publicity-admin": false, "/publicx/y": false, "/admin": false} {
			status, body := rawRequest(t, front, "GET "+path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if got := status == http.StatusOK && strings.Contains(body, "path="+path); got != anonymous {
				t.Errorf("--allow-anonymous %s: %s: %d %.80q", prefix, path, status, body)
			}
		}
	}
}

// Behind a TLS-terminating ingress the gateway sees plain http: the
// upstream is told the public URL's scheme and host, and the client's
// address from the trusted ingress's X-Forwarded-For; an untrusted peer's
// X-Forwarded-For is replaced by the peer.
func TestForwardedHeadersBehindAnIngress(t *testing.T) {
	public, _ := url.Parse("https://app.example")
	req := "GET /public/x HTTP/1.1\r\nHost: internal:8080\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n"
	trusted, err := gateway.ParseTrustedProxies([]string{"127.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	front := newTestGateway(t, gateway.Options{AllowAnonymous: []string{"/public"}, PublicURL: public, TrustedProxies: trusted})
	_, body := rawRequest(t, front, req)
	for _, want := range []string{"X-Forwarded-Proto: https\n", "X-Forwarded-Host: app.example\n", "X-Forwarded-For: 203.0.113.9, 127.0.0.1\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("trusted ingress: no %q in\n%s", want, body)
		}
	}
	front = newTestGateway(t, gateway.Options{AllowAnonymous: []string{"/public"}, PublicURL: public})
	_, body = rawRequest(t, front, req)
	if !strings.Contains(body, "X-Forwarded-For: 127.0.0.1\n") || !strings.Contains(body, "X-Forwarded-Proto: https\n") {
		t.Errorf("untrusted peer: %s", body)
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.9.9.9")
	ip := gateway.ClientIP([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if got := ip(r); got != "203.0.113.9" {
		t.Errorf("client IP through trusted hops: %q", got)
	}
	if got := gateway.ClientIP(nil)(r); got != "10.1.2.3" {
		t.Errorf("client IP without trusted proxies: %q", got)
	}
}

// An underscore spelling of an identity header (X_MS_CLIENT_PRINCIPAL_NAME,
// which CGI-style apps read as X-MS-CLIENT-PRINCIPAL-NAME) never reaches
// the upstream.
func TestUnderscoreIdentityHeaderIsStripped(t *testing.T) {
	front := newTestGateway(t, gateway.Options{AllowAnonymous: []string{"/public"}})
	_, body := rawRequest(t, front, "GET /public/x HTTP/1.1\r\nHost: a\r\nX_MS_CLIENT_PRINCIPAL_NAME: admin@victim\r\nx_ms_token_aad_access_token: forged\r\nX-App-Header: kept\r\nConnection: close\r\n\r\n")
	if strings.Contains(body, "admin@victim") || strings.Contains(body, "forged") || !strings.Contains(body, "X-App-Header: kept") {
		t.Errorf("upstream got:\n%s", body)
	}
}

// The gateway used alone (no ServeMux in front) or with CONNECT cleans the
// path itself before deciding anonymous or signed in, and the upstream
// gets the cleaned path: /public/../admin is /admin, which needs sign-in;
// what cannot be cleaned safely is 400.
func TestPathIsCleanedBeforeTheAnonymousCheck(t *testing.T) {
	front := newTestGateway(t, gateway.Options{AllowAnonymous: []string{"/public/"}})
	for _, tc := range []struct {
		method, path string
		status       int
		upstream     string // the path the upstream got, when 200
	}{
		{"GET", "/public/../admin", http.StatusUnauthorized, ""},
		{"GET", "/public/%2e%2e/admin", http.StatusUnauthorized, ""},
		{"GET", "/public/./a//b/", http.StatusOK, "path=/public/a/b/ "},
		{"GET", "/public/a/../b", http.StatusOK, "path=/public/b "},
		{"GET", "/public/%2e%2e%2fadmin", http.StatusBadRequest, ""},
		{"GET", "/public/..%5cadmin", http.StatusBadRequest, ""},
		{"GET", "/public/..;/admin", http.StatusBadRequest, ""},
		{"CONNECT", "/public/../admin", http.StatusBadRequest, ""},
		{"CONNECT", "/public/x", http.StatusBadRequest, ""},
	} {
		status, body := rawRequest(t, front, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if status != tc.status || (tc.upstream != "" && !strings.Contains(body, tc.upstream)) || (status != http.StatusOK && strings.Contains(body, "method=")) {
			t.Errorf("%s %s: %d %.100q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.upstream)
		}
	}
}

// With PassAccessToken the upstream trusts Authorization to be the
// gateway's: a client's own never reaches it, even where the gateway sets
// none (an anonymous path). tenantgate's own cookies (session, sign-in
// binding) are removed from what goes upstream; the app's stay.
func TestClientAuthorizationAndOwnCookiesNeverReachTheUpstream(t *testing.T) {
	front := newTestGateway(t, gateway.Options{AllowAnonymous: []string{"/public/"}, PassAccessToken: true})
	_, body := rawRequest(t, front, "GET /public/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer forged\r\nCookie: tg_session=SECRETSESSIONVALUE; app=1; tg_signin=BINDING\r\nCookie: other=2\r\nConnection: close\r\n\r\n")
	if strings.Contains(body, "Bearer forged") || strings.Contains(body, "SECRETSESSIONVALUE") || strings.Contains(body, "BINDING") || !strings.Contains(body, "Cookie: app=1; other=2\n") {
		t.Errorf("upstream got:\n%s", body)
	}
	// Without PassAccessToken the app's own Authorization passes.
	front = newTestGateway(t, gateway.Options{AllowAnonymous: []string{"/public/"}})
	_, body = rawRequest(t, front, "GET /public/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer app-own\r\nCookie: tg_session=SECRETSESSIONVALUE\r\nConnection: close\r\n\r\n")
	if !strings.Contains(body, "Bearer app-own") || strings.Contains(body, "SECRETSESSIONVALUE") || strings.Contains(body, "Cookie:") {
		t.Errorf("upstream got:\n%s", body)
	}
}
