package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// relyingParty is the smallest app that signs in with the dev IdP by
// form_post: /login sends the browser to the authorize endpoint with a
// state cookie; the callback checks the state, and sets a session cookie
// named after the user the IdP's code was issued for (the code's
// redemption is not what this test is about), then sends the browser to /.
func relyingParty(t *testing.T, idp *devidptest.Server) (*httptest.Server, *sync.Map) {
	var codes sync.Map
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		ar := devidptest.NewAuthRequest()
		q := url.Values{"client_id": {idp.ClientID()}, "response_type": {"code"}, "scope": {"openid profile"},
			"redirect_uri": {srv.URL + "/callback"}}
		u, err := ar.URL(idp.Authority("contoso")+"/oauth2/v2.0/authorize?"+q.Encode(), "form_post")
		if err != nil {
			t.Error(err)
		}
		http.SetCookie(w, &http.Cookie{Name: "state", Value: ar.State, Path: "/"})
		http.Redirect(w, r, u, http.StatusFound)
	})
	mux.HandleFunc("POST /callback", func(w http.ResponseWriter, r *http.Request) {
		st, err := r.Cookie("state")
		if err != nil || st.Value != r.PostFormValue("state") || r.PostFormValue("code") == "" {
			http.Error(w, "bad state or no code", http.StatusBadRequest)
			return
		}
		codes.Store(r.PostFormValue("code"), true)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: st.Value, Path: "/"})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &codes
}

// SignIn drives the dev IdP's real pages (sign-in form, form_post) and
// returns one fresh session per sign-in, with every cookie the app set.
func TestSignInThroughDevIdP(t *testing.T) {
	idp := devidptest.Start(t)
	rp, codes := relyingParty(t, idp)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, idp.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SignIn(context.Background(), SignInConfig{Gateway: rp.URL, LoginPath: "/login", ReturnPath: "/",
		Users: []string{"alice@contoso.onmicrosoft.com", "bob@contoso.onmicrosoft.com"}, N: 6, Parallel: 3, IdPCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, c := range got {
		if !strings.Contains(c, "session=") || !strings.Contains(c, "state=") {
			t.Errorf("cookie header %q", c)
		}
		distinct[c] = true
	}
	n := 0
	codes.Range(func(any, any) bool { n++; return true })
	if len(got) != 6 || len(distinct) != 6 || n != 6 {
		t.Errorf("%d sessions, %d distinct, %d codes; want 6 each", len(got), len(distinct), n)
	}
	if _, err := SignIn(context.Background(), SignInConfig{Gateway: rp.URL, LoginPath: "/login", ReturnPath: "/",
		Users: []string{"nobody@contoso.onmicrosoft.com"}, N: 1, IdPCA: ca}); err == nil {
		t.Error("a user not in the directory signed in")
	}
}
