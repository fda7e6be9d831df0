package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// backend opens the same store twice, as two replicas would.
type backend struct {
	name string
	open func(t *testing.T) (a, b session.Store)
}

var backends = []backend{
	{"memstore", func(t *testing.T) (session.Store, session.Store) {
		s := openMem(t, nil)
		return s, s
	}},
	{"redis-standalone", func(t *testing.T) (session.Store, session.Store) {
		srv := redistest.Standalone(t)
		o := redisstore.Options{Addrs: []string{srv.Addr}}
		return openRedis(t, o), openRedis(t, o)
	}},
	{"redis-cluster", func(t *testing.T) (session.Store, session.Store) {
		c := redistest.NewCluster(t, 3)
		o := redisstore.Options{Addrs: c.Addrs()}
		return openRedis(t, o), openRedis(t, o)
	}},
}

// A session created on one replica is the same session on another.
func TestCreatedOnAReadOnB(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			sa, sb := be.open(t)
			a := newManager(t, sa, session.Options{Replica: "a"})
			b := newManager(t, sb, session.Options{Replica: "b"})
			cookie, created := signIn(t, a, alice, nil)
			code, got, _ := serve(b, cookie)
			if code != http.StatusOK || got == nil {
				t.Fatalf("B answers %d with session %v; want 200 with alice's", code, got)
			}
			if got.Identity != alice || got.Handle != created.Handle || got.Replica != "a" {
				t.Fatalf("B sees %+v; want alice's session %s created by a", got.Info, created.Short())
			}
			if !got.Created.Equal(created.Created) || !got.AbsoluteExpires.Equal(created.AbsoluteExpires) {
				t.Fatalf("B's times %v/%v differ from A's %v/%v", got.Created, got.AbsoluteExpires, created.Created, created.AbsoluteExpires)
			}
			if got.UserAgent != "session-test" || got.ClientIP == "" {
				t.Fatalf("client not recorded: %+v", got.Info)
			}
		})
	}
}

func TestCookieAttributes(t *testing.T) {
	st := openMem(t, nil)
	for _, tc := range []struct {
		url, name string
		secure    bool
	}{
		{"", "__Host-tg_session", true},
		{"https://app.contoso.example", "__Host-tg_session", true},
		{"http://localhost:8080", "tg_session", false},
		{"http://127.0.0.1:8080", "tg_session", false},
	} {
		m := newManager(t, st, session.Options{PublicURL: tc.url})
		c, _ := signIn(t, m, alice, nil)
		if c.Name != tc.name || c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("%q: cookie %s", tc.url, c)
		}
		if len(c.Value) != 43 {
			t.Errorf("cookie value has %d characters, want 43 (256 bits in base64url)", len(c.Value))
		}
	}
	for _, bad := range []string{"http://app.contoso.example", "ftp://x", "::"} {
		if _, err := session.New(st, testKeyring, session.Options{PublicURL: bad}); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
	if _, err := session.New(st, testKeyring, session.Options{IdleTimeout: 9 * 3600e9}); err == nil {
		t.Error("an idle timeout past the absolute one accepted")
	}
}

// Redis holds the ID's hash only: no stored key or value contains the
// cookie value, and the record shows operators' metadata in clear but not
// the app's values.
func TestStoreHoldsNoCookie(t *testing.T) {
	srv := redistest.Standalone(t)
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	m := newManager(t, st, session.Options{})
	cookie, s := signIn(t, m, alice, nil)
	if err := m.SetValues(context.Background(), s, map[string]string{"cart": "secret-cart-42"}); err != nil {
		t.Fatal(err)
	}
	keys, _ := srv.Do(t, "KEYS", "*").([]any)
	if len(keys) != 3 {
		t.Fatalf("keys %v; want the record and two indexes", keys)
	}
	for _, k := range keys {
		k := k.(string)
		var dump string
		if strings.HasPrefix(k, "tg1:s:t:") || strings.HasPrefix(k, "tg1:s:u:") {
			dump = strings.Join(anyStrings(srv.Do(t, "ZRANGE", k, "0", "-1")), " ")
		} else {
			if k != "tg1:s:"+s.Handle {
				t.Fatalf("record key %q; want tg1:s:%s", k, s.Handle)
			}
			dump, _ = srv.Do(t, "GET", k).(string)
			if !strings.Contains(dump, `"display_name":"Alice"`) || strings.Contains(dump, "secret-cart-42") {
				t.Fatalf("record %s: want metadata readable and values sealed", dump)
			}
		}
		if strings.Contains(k+dump, cookie.Value) {
			t.Fatalf("%s holds the cookie value", k)
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// Signing in again, switching tenant or signing out never keeps an ID: a
// cookie planted before sign-in is worthless after it.
func TestCreateReplacesTheRequestsSession(t *testing.T) {
	ctx := context.Background()
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{})
	old, oldS := signIn(t, m, alice, nil)
	fresh, s := signIn(t, m, carol, old) // a tenant switch, carrying the old cookie
	if fresh.Value == old.Value || s.Handle == oldS.Handle {
		t.Fatal("Create reused the request's session ID")
	}
	if _, err := m.Load(ctx, request(old)); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("old cookie after Create: %v; want ErrNoSession", err)
	}
	if _, _, err := st.Get(ctx, "tg1:s:"+oldS.Handle); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("old record still stored: %v", err)
	}
	page, err := m.List(ctx, session.Query{TenantID: alice.TenantID})
	if err != nil || len(page.Sessions) != 0 {
		t.Fatalf("alice's tenant lists %v, %v after the switch; want none", page.Sessions, err)
	}
	if got, err := m.Load(ctx, request(fresh)); err != nil || got.Identity != carol {
		t.Fatalf("new cookie: %v, %v", got, err)
	}

	w := httptest.NewRecorder()
	if err := m.Destroy(ctx, w, request(fresh)); err != nil {
		t.Fatal(err)
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 || c[0].Value != "" {
		t.Fatalf("Destroy set %v; want the cookie cleared", c)
	}
	if _, err := m.Load(ctx, request(fresh)); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("after Destroy: %v; want ErrNoSession", err)
	}
}

// Whatever the cookie holds, a bad one is no session: never an error,
// never a panic, never someone's session.
func TestBadCookiesAreNoSession(t *testing.T) {
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{})
	good, _ := signIn(t, m, alice, nil)
	flip := []byte(good.Value)
	flip[10] ^= 1
	for _, v := range []string{"", "x", good.Value + "A", good.Value[:42], good.Value + "=", string(flip),
		strings.Repeat("A", 43), strings.Repeat("\xff", 43), strings.ToUpper(good.Value), "../../etc", strings.Repeat("a", 5000)} {
		c := &http.Cookie{Name: m.CookieName(), Value: v}
		r := request(nil)
		r.Header.Set("Cookie", c.Name+"="+v) // raw, as an attacker sends it
		s, err := m.Load(context.Background(), r)
		if !errors.Is(err, session.ErrNoSession) || s != nil {
			t.Errorf("cookie %q: %v, %v; want ErrNoSession", v, s, err)
		}
	}
	if code, s, _ := serve(m, &http.Cookie{Name: m.CookieName(), Value: string(flip)}); code != 200 || s != nil {
		t.Fatalf("middleware with a tampered cookie: %d, %v; want 200 without a session", code, s)
	}
	if m.Stats().BadCookies == 0 {
		t.Fatal("bad cookies not counted")
	}
}

// The session cookie is found among the app's cookies, in any Cookie
// line, quoted or not, and the first one of its name that holds an ID
// wins, as r.Cookie would find it.
func TestCookieAmongOthers(t *testing.T) {
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{})
	good, want := signIn(t, m, alice, nil)
	n, v := m.CookieName(), good.Value
	for _, lines := range [][]string{
		{"a=1; " + n + "=" + v + "; b=2"},
		{"a=1", "b=2;" + n + "=" + v},
		{n + `="` + v + `"`},
		{"  " + n + "=" + v + "  ;"},
		{n + "=garbage; " + n + "=" + v},
		{"x" + n + "=junk; " + n + "=" + v},
		{"a=1; " + n + " =" + v}, // names are trimmed, as net/http does
	} {
		r := request(nil)
		r.Header["Cookie"] = lines
		s, err := m.Load(context.Background(), r)
		if err != nil || s.Handle != want.Handle {
			t.Errorf("Cookie %q: %v, %v; want the session", lines, s, err)
		}
	}
	for _, lines := range [][]string{{"a=1; b=2"}, {n + "x=" + v}, {"x" + n + "=" + v}, {n}, {";;;"}} {
		r := request(nil)
		r.Header["Cookie"] = lines
		if s, err := m.Load(context.Background(), r); !errors.Is(err, session.ErrNoSession) {
			t.Errorf("Cookie %q: %v, %v; want ErrNoSession", lines, s, err)
		}
	}
}

// Derived computes once per stored version of a session: requests that
// read the same record share the value, and a change to the session
// computes again.
func TestDerivedFollowsTheRecord(t *testing.T) {
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{})
	c, _ := signIn(t, m, alice, nil)
	type key struct{}
	calls := 0
	derive := func(s *session.Session) any { calls++; v, _ := s.Value("k"); return "v=" + v }
	load := func() *session.Session {
		s, err := m.Load(context.Background(), request(c))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for range 3 {
		if got := load().Derived(key{}, derive); got != "v=" {
			t.Fatalf("Derived = %v", got)
		}
	}
	if calls != 1 {
		t.Fatalf("3 loads of one record computed %d times; want 1", calls)
	}
	s := load()
	if got := s.Derived(key{}, derive); got != "v=" {
		t.Fatalf("before SetValues: %v", got)
	}
	if err := m.SetValues(context.Background(), s, map[string]string{"k": "2"}); err != nil {
		t.Fatal(err)
	}
	if got := s.Derived(key{}, derive); got != "v=2" {
		t.Fatalf("the same session after its SetValues: Derived = %v; want v=2, not what the old record had", got)
	}
	calls--
	if got := load().Derived(key{}, derive); got != "v=2" || calls != 2 {
		t.Fatalf("after SetValues: Derived = %v after %d computations; want v=2 after 2", got, calls)
	}
	type other struct{}
	if got := load().Derived(other{}, func(*session.Session) any { return 7 }); got != 7 {
		t.Fatalf("another key: %v", got)
	}
}

// A record that is corrupt, edited, foreign (copied under another
// session's key) or oversized is absent, logged with its key and counted.
func TestBadRecordsAreAbsent(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Standalone(t)
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	logs := new(logBuffer)
	m := newManager(t, st, session.Options{Logger: logs.logger(), MaxRecordBytes: 4096})
	big := newManager(t, st, session.Options{})
	_, donor := signIn(t, m, bob, nil)
	donorKey := "tg1:s:" + donor.Handle
	donorData, _, err := st.Get(ctx, donorKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		plant func(key string, cookie *http.Cookie)
	}{
		{"corrupt", func(key string, _ *http.Cookie) {
			srv.Do(t, "SET", key, "00000000000000ffnot json")
		}},
		{"edited metadata", func(key string, _ *http.Cookie) {
			v, _ := srv.Do(t, "GET", key).(string)
			srv.Do(t, "SET", key, strings.Replace(v, `"display_name":"Alice"`, `"display_name":"Mallory"`, 1))
		}},
		{"foreign", func(key string, _ *http.Cookie) {
			srv.Do(t, "SET", key, "00000000000000ff"+string(donorData))
		}},
		{"oversized", func(_ string, cookie *http.Cookie) {
			bs, err := big.Load(ctx, request(cookie))
			if err != nil {
				t.Fatal(err)
			}
			if err := big.SetValues(ctx, bs, map[string]string{"blob": strings.Repeat("x", 8000)}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cookie, s := signIn(t, m, alice, nil)
			key := "tg1:s:" + s.Handle
			tc.plant(key, cookie)
			rejected := m.Stats().Rejected
			waitFor(t, 5e9, "the planted record is read", func() bool {
				_, err := m.Load(ctx, request(cookie))
				if err != nil && !errors.Is(err, session.ErrNoSession) {
					t.Fatalf("Load: %v; want ErrNoSession", err)
				}
				return err != nil
			})
			if m.Stats().Rejected == rejected {
				t.Fatal("not counted")
			}
			if !strings.Contains(logs.String(), key) || strings.Contains(logs.String(), cookie.Value) {
				t.Fatalf("log %q: want the key, never the cookie", logs.String())
			}
		})
	}
}

// The decoded records stay within Options.DecodedRecords, and Stats
// reports them with an estimate of their bytes (what serve sizes the
// garbage collector's slack by).
func TestDecodedStaysWithinItsBound(t *testing.T) {
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{DecodedRecords: 32})
	var first *http.Cookie
	for i := range 100 {
		c, _ := signIn(t, m, alice, nil)
		if i == 0 {
			first = c
		}
		if _, err := m.Load(context.Background(), request(c)); err != nil {
			t.Fatal(err)
		}
	}
	st1 := m.Stats()
	if st1.DecodedRecords == 0 || st1.DecodedRecords > 32 || st1.DecodedBytes <= int64(st1.DecodedRecords)*256 {
		t.Fatalf("after 100 sessions: %d decoded records, %d bytes; want 1..32 records of more than 256 bytes each", st1.DecodedRecords, st1.DecodedBytes)
	}
	if _, err := m.Load(context.Background(), request(first)); err != nil {
		t.Fatalf("a session evicted from the decoded records is read again: %v", err)
	}
	const budget = 64 << 10
	small := newManager(t, st, session.Options{DecodedBytes: budget})
	for range 200 {
		c, _ := signIn(t, small, alice, nil)
		if _, err := small.Load(context.Background(), request(c)); err != nil {
			t.Fatal(err)
		}
	}
	if st := small.Stats(); st.DecodedBytes > budget || st.DecodedRecords == 0 || st.DecodedRecords >= 200 {
		t.Fatalf("with DecodedBytes %d: %d records, %d bytes; want within the budget", budget, st.DecodedRecords, st.DecodedBytes)
	}
}

// Listing a tenant's sessions for operators keeps none of the records it
// decodes, so the sessions serving requests keep theirs, with what was
// derived from them.
func TestListKeepsTheServingSessionsDecoded(t *testing.T) {
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{DecodedRecords: 32})
	hot, _ := signIn(t, m, alice, nil)
	for range 400 { // so many that, kept, they would evict the hot one for sure
		signIn(t, m, alice, nil)
	}
	type key struct{}
	calls := 0
	derive := func(*session.Session) any { calls++; return calls }
	use := func() {
		s, err := m.Load(context.Background(), request(hot))
		if err != nil {
			t.Fatal(err)
		}
		s.Derived(key{}, derive)
	}
	use()
	for q := (session.Query{TenantID: alice.TenantID, Limit: 1000}); ; {
		p, err := m.List(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if q.Cursor = p.Next; q.Cursor == "" {
			break
		}
	}
	use()
	if calls != 1 {
		t.Fatalf("after listing 401 sessions: derived %d times; want once (the hot session kept its record)", calls)
	}
}
