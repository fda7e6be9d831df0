package ops

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
)

// The organizations app has a row per allowed tenant, all keyed
// "organizations": a listing by the key reads every one, a revocation
// must name one by its tenant ID.
func TestOrganizationsRowsByTenantID(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { st.Close() })
	k, _ := seal.GenerateKey("t")
	keys, _ := seal.NewKeyring(k)
	sm, err := session.New(st, keys, session.Options{PublicURL: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	rows := []Tenant{{Key: "contoso", TenantID: "tid-c"}, {Key: "organizations", TenantID: "tid-f"}, {Key: "organizations", TenantID: "tid-w"}}
	h, err := New(Options{Sessions: sm, Tenants: func() []Tenant { return rows }, Token: "0123456789abcdef-token", Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer 0123456789abcdef-token")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if code, body := do(http.MethodGet, "/api/sessions?tenant=organizations", ""); code != http.StatusOK {
		t.Errorf("listing the app's rows: %d %s", code, body)
	}
	if code, body := do(http.MethodPost, "/api/revoke", `{"tenant":"organizations","all":true}`); code != http.StatusBadRequest || !strings.Contains(body, "tenant ID") {
		t.Errorf("revoking by the app's key: %d %s; want 400 asking for the tenant ID", code, body)
	}
	if code, body := do(http.MethodPost, "/api/revoke", `{"tenant":"TID-F","all":true}`); code != http.StatusOK || !strings.Contains(body, `"revoked":0`) {
		t.Errorf("revoking one of the app's tenants by ID: %d %s", code, body)
	}
	if code, body := do(http.MethodGet, "/", ""); code != http.StatusOK || !strings.Contains(body, `data-tenant="tid-w"`) || !strings.Contains(body, `href="/?tenant=tid-f"`) {
		t.Errorf("the page's tenant rows by ID: %d %.400s", code, body)
	}
}
