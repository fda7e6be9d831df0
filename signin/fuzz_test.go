package signin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/tenant"
)

// noTenants is a registry with nothing configured: the callback must refuse
// whatever it is sent before it would need a tenant.
type noTenants struct{}

func (noTenants) Tenant(string) (*tenant.Tenant, bool)       { return nil, false }
func (noTenants) Tenants() []*tenant.Tenant                  { return nil }
func (noTenants) Organizations() (*tenant.Tenant, bool)      { return nil, false }
func (noTenants) ForTenantID(string) (*tenant.Tenant, error) { return nil, tenant.ErrTenantNotAllowed }
func (noTenants) OrganizationsFor(string) (*tenant.Tenant, error) {
	return nil, tenant.ErrTenantNotAllowed
}

// FuzzCallback sends the callback whatever a browser or an attacker can:
// any form body by POST, any query by GET, any cookie. It must never panic,
// never set a session cookie, and answer with a status a browser can show.
// A pending sign-in planted under a known state makes the fuzzer reach the
// stored record's decoding and the binding check too.
func FuzzCallback(f *testing.F) {
	st := memstore.New(memstore.Options{SweepInterval: -1})
	defer st.Close()
	k, _ := seal.GenerateKey("k1")
	keys, _ := seal.NewKeyring(k)
	sm, err := session.New(st, keys, session.Options{PublicURL: "http://localhost:8080"})
	if err != nil {
		f.Fatal(err)
	}
	h, err := New(Options{PublicURL: "http://localhost:8080", Tenants: noTenants{}, Sessions: sm, Store: st, Sealer: keys})
	if err != nil {
		f.Fatal(err)
	}
	// A planted state whose pending record is garbage, sealed properly.
	if sealed, err := keys.Seal([]byte(`{"tenant":`), h.pendingKey("planted")); err == nil {
		_, _ = st.CompareAndSet(f.Context(), h.pendingKey("planted"), 0, sealed, pendingTTL)
	}
	for _, s := range []string{"code=abc&state=planted", "error=access_denied&error_description=x&state=s", "state=" + strings.Repeat("a", 300), "resume=x", "%zz=1", "code=&state="} {
		f.Add("POST", s, "tg_signin=abc")
		f.Add("GET", s, "")
	}
	f.Fuzz(func(t *testing.T, method, form, cookie string) {
		var r *http.Request
		switch method {
		case "POST":
			r = httptest.NewRequest(http.MethodPost, CallbackPath, strings.NewReader(form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			r = httptest.NewRequest(http.MethodGet, CallbackPath, nil)
			r.URL.RawQuery = form // as the server would parse it, malformed or not
		}
		if cookie != "" && !strings.ContainsAny(cookie, "\r\n") {
			r.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		for _, c := range w.Result().Cookies() {
			if c.Name == sm.CookieName() && c.Value != "" {
				t.Fatalf("a session cookie was set for %s %q", method, form)
			}
		}
		if w.Code < 300 || w.Code >= 600 {
			t.Fatalf("%s %q answered %d", method, form, w.Code)
		}
	})
}
