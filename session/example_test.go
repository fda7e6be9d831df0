package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
)

func Example() {
	// In production: redisstore.New(ctx, redisstore.Options{URL: ...}) and
	// seal.KeysFromEnv("TENANTGATE_SEAL_KEYS").
	st := memstore.New(memstore.Options{})
	defer st.Close()
	keys, _ := seal.ParseKeys("2026-02:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")
	sessions, err := session.New(st, keys, session.Options{PublicURL: "https://app.contoso.example", Replica: "web-1"})
	if err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	// The sign-in callback, once the ID token is verified: a new session.
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		_, err := sessions.Create(r.Context(), w, r, session.Identity{
			TenantKey: "contoso", TenantID: "11111111-1111-1111-1111-111111111111",
			HomeAccountID: "aaaa.11111111-1111-1111-1111-111111111111", DisplayName: "Alice",
		})
		if err != nil { // the store is down: retry later, nobody is signed in
			http.Error(w, "retry", http.StatusServiceUnavailable)
		}
	})
	// Any page: the middleware has loaded the session, if there is one.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s, ok := session.FromContext(r.Context())
		if !ok {
			http.Redirect(w, r, "/.auth/login/contoso", http.StatusFound)
			return
		}
		if err := sessions.SetValues(r.Context(), s, map[string]string{"theme": "dark"}); err != nil {
			http.Error(w, "retry", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "hello %s", s.DisplayName)
	})
	h := sessions.Middleware(mux)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "https://app.contoso.example/callback", nil))
	cookie := w.Result().Cookies()[0]
	fmt.Println(cookie.Name, cookie.Secure, cookie.HttpOnly)

	r := httptest.NewRequest("GET", "https://app.contoso.example/", nil)
	r.AddCookie(cookie)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Body.String())

	// Operations: list the tenant's sessions and revoke them.
	page, _ := sessions.List(context.Background(), session.Query{TenantID: "11111111-1111-1111-1111-111111111111"})
	fmt.Println(len(page.Sessions), page.Sessions[0].DisplayName)
	n, _ := sessions.RevokeTenant(context.Background(), "11111111-1111-1111-1111-111111111111")
	_, err = sessions.Load(context.Background(), r)
	fmt.Println(n, errors.Is(err, session.ErrNoSession))
	// Output:
	// __Host-tg_session true true
	// hello Alice
	// 1 Alice
	// 1 true
}

// Operations page through a tenant's sessions with the cursor List returns.
func ExampleManager_List() {
	st := memstore.New(memstore.Options{})
	defer st.Close()
	keys, _ := seal.ParseKeys("2026-02:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")
	sessions, _ := session.New(st, keys, session.Options{})
	for _, user := range []string{"a", "b", "c"} {
		r := httptest.NewRequest("GET", "https://app.contoso.example/callback", nil)
		_, _ = sessions.Create(context.Background(), httptest.NewRecorder(), r, session.Identity{
			TenantKey: "contoso", TenantID: "contoso-id", HomeAccountID: user + ".contoso-id", Username: user,
		})
	}
	q := session.Query{TenantID: "contoso-id", Limit: 2}
	for {
		page, err := sessions.List(context.Background(), q)
		if err != nil {
			fmt.Println(err) // the store is down: show the error, retry later
			return
		}
		fmt.Println(len(page.Sessions), "sessions")
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	// Output:
	// 2 sessions
	// 1 sessions
}

// greetingKey tells this caller's derived value apart from others'.
type greetingKey struct{}

// Derived keeps what a caller computes from a session with the session's
// decoded record: computed once per stored version, shared by the
// session's requests, gone with the record.
func ExampleSession_Derived() {
	st := memstore.New(memstore.Options{})
	defer st.Close()
	keys, _ := seal.ParseKeys("2026-02:q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")
	sessions, _ := session.New(st, keys, session.Options{PublicURL: "https://app.contoso.example"})

	w := httptest.NewRecorder()
	if _, err := sessions.Create(context.Background(), w, httptest.NewRequest(http.MethodGet, "/", nil), session.Identity{
		TenantKey: "contoso", TenantID: "11111111-1111-1111-1111-111111111111",
		HomeAccountID: "aaaa.11111111-1111-1111-1111-111111111111", DisplayName: "Alice",
	}); err != nil {
		fmt.Println(err)
		return
	}
	computed := 0
	greeting := func(s *session.Session) any { computed++; return "Hello, " + s.DisplayName }
	for range 3 { // three requests with the same cookie
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range w.Result().Cookies() {
			r.AddCookie(c)
		}
		s, err := sessions.Load(context.Background(), r)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(s.Derived(greetingKey{}, greeting))
	}
	fmt.Println("computed", computed, "time")
	// Output:
	// Hello, Alice
	// Hello, Alice
	// Hello, Alice
	// computed 1 time
}
