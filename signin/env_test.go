package signin_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/credential"
	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

var quiet = slog.New(slog.DiscardHandler)

var testKeyring = func() *seal.Keyring {
	k, err := seal.GenerateKey("k1")
	if err != nil {
		panic(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		panic(err)
	}
	return kr
}()

// replica is one instance of an app using signin: its own store client,
// token cache, tenant registry, session manager and handler, served on
// its own loopback port.
type replica struct {
	URL      string
	Store    *redisstore.Store
	Cache    *tokencache.Cache
	Tenants  *tenant.Registry
	Sessions *session.Manager
	Handler  *signin.Handler
}

// env is a dev IdP and a Redis that replicas share.
type env struct {
	t     testing.TB
	idp   *devidptest.Server
	addrs []string
	redis []*redistest.Node
	// configure, if set, changes the tenant file of replicas started after.
	configure func(*tenant.Config)
}

func newEnv(t *testing.T) *env { return newEnvB(t) }

// newEnvB is newEnv for benchmarks.
func newEnvB(t testing.TB) *env {
	srv := redistest.Standalone(t)
	return &env{t: t, idp: devidptest.Start(t), addrs: []string{srv.Addr}, redis: []*redistest.Node{srv}}
}

func newClusterEnv(t *testing.T) *env {
	c := redistest.NewCluster(t, 3)
	return &env{t: t, idp: devidptest.Start(t), addrs: c.Addrs(), redis: c.Nodes}
}

// config is the tenant file of the tests: contoso and fabrikam, and the
// multi-tenant app for contoso only.
func (e *env) config() tenant.Config {
	tc := func(id string) tenant.TenantConfig {
		return tenant.TenantConfig{
			TenantID: id, AuthorityHost: e.idp.URL, ClientID: e.idp.ClientID(),
			Credential: credential.Config{Secret: &credential.Secret{Env: "TG_TEST_SECRET"}},
			Scopes:     []string{apiScope(e.idp, "access_as_user")},
		}
	}
	cfg := tenant.Config{
		Tenants: map[string]tenant.TenantConfig{"contoso": tc(devidp.DemoContosoID), "fabrikam": tc(devidp.DemoFabrikamID)},
		Organizations: &tenant.Organizations{
			AuthorityHost: e.idp.URL, ClientID: e.idp.ClientID(),
			Credential:     credential.Config{Secret: &credential.Secret{Env: "TG_TEST_SECRET"}},
			Scopes:         []string{apiScope(e.idp, "access_as_user")},
			AllowedTenants: []string{devidp.DemoContosoID},
		},
	}
	if e.configure != nil {
		e.configure(&cfg)
	}
	return cfg
}

func apiScope(idp *devidptest.Server, name string) string {
	return "api://" + idp.ClientID() + "/" + name
}

// replica starts one replica with its own store client in mode.
func (e *env) replica(mode redisstore.Mode, adjust ...func(*signin.Options)) *replica {
	t := e.t
	t.Helper()
	st, err := redisstore.New(context.Background(), redisstore.Options{Addrs: e.addrs, L1: mode, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cache := tokencache.New(st, testKeyring, tokencache.Options{Logger: quiet})
	t.Cleanup(func() { cache.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	secret := e.idp.Secret()
	reg, err := tenant.Open(ctx, e.config(), cache, tenant.Options{HTTPClient: e.idp.HTTPClient(), Logger: quiet,
		Getenv: func(k string) string {
			if k == "TG_TEST_SECRET" {
				return secret
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://localhost:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	sm, err := session.New(st, testKeyring, session.Options{PublicURL: public, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	o := signin.Options{PublicURL: public, Tenants: reg, Sessions: sm, Store: st, Sealer: testKeyring,
		DefaultTenant: "contoso", HTTPClient: e.idp.HTTPClient(), Logger: quiet}
	for _, f := range adjust {
		f(&o)
	}
	h, err := signin.New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/.auth/", h)
	mux.Handle("/", h.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := session.FromContext(r.Context())
		json.NewEncoder(w).Encode(map[string]string{"user": s.Username, "tid": s.TenantID, "path": r.URL.Path})
	})))
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &replica{URL: public, Store: st, Cache: cache, Tenants: reg, Sessions: sm, Handler: h}
}

// browser is a user agent: cookies, no automatic redirects, trusting the IdP.
func (e *env) browser() *http.Client {
	b := e.idp.Browser()
	jar, _ := cookiejar.New(nil)
	b.Jar = jar
	return b
}

// get sends a navigation-like GET (Accept: text/html) and returns the
// response with its body read.
func get(t testing.TB, b *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, b, req)
}

func do(t testing.TB, b *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// flow is a sign-in as it happens in a browser, step by step, so that
// attack tests can cut in anywhere.
type flow struct {
	authorize string     // the IdP URL the login route sent the browser to
	form      url.Values // what the IdP posts back to the callback
}

// start follows the login route to the IdP.
func (e *env) start(t testing.TB, b *http.Client, r *replica, path string) flow {
	t.Helper()
	resp, body := get(t, b, r.URL+path)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return flow{authorize: resp.Header.Get("Location")}
}

// atIdP signs user in on the IdP's page (user "" for prompt=none).
func (e *env) atIdP(t testing.TB, b *http.Client, f flow, user string) flow {
	t.Helper()
	form, err := e.idp.SignIn(b, f.authorize, user)
	if err != nil {
		t.Fatal(err)
	}
	f.form = form
	return f
}

// callback posts the IdP's form to r's callback and follows the bounce;
// it returns the last response.
func (e *env) callback(t testing.TB, b *http.Client, r *replica, f flow) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.URL+signin.CallbackPath, strings.NewReader(f.form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := do(t, b, req)
	for resp.StatusCode == http.StatusSeeOther || (resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), "/oauth2/v2.0/authorize")) {
		loc := resp.Header.Get("Location")
		if strings.Contains(loc, "/oauth2/v2.0/authorize") {
			return resp, body
		}
		resp, body = get(t, b, r.URL+loc)
	}
	return resp, body
}

// signIn signs user in through r's login route for path, and returns
// where the sign-in sent the browser at the end.
func (e *env) signIn(t testing.TB, b *http.Client, r *replica, path, user string) string {
	t.Helper()
	resp, body := e.callback(t, b, r, e.atIdP(t, b, e.start(t, b, r, path), user))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in of %s: %d %s", user, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// me reads /.auth/me on r.
func me(t testing.TB, b *http.Client, r *replica) (int, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/.auth/me", nil)
	resp, body := do(t, b, req)
	var out []map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("/.auth/me is not a JSON array: %v: %s", err, body)
		}
	}
	return resp.StatusCode, out
}

// api sends a non-browser GET (no Accept: text/html).
func api(t testing.TB, b *http.Client, u string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Accept", "application/json")
	return do(t, b, req)
}

var _ = store.ErrNotFound

// loadSession reads b's session on r directly, as the app would.
func loadSession(t testing.TB, b *http.Client, r *replica) *session.Session {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/", nil)
	for _, c := range b.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	s, err := r.Sessions.Load(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setCookie(t testing.TB, b *http.Client, r *replica, c *http.Cookie) {
	t.Helper()
	u, _ := url.Parse(r.URL)
	b.Jar.SetCookies(u, []*http.Cookie{c})
}
