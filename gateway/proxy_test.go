package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
