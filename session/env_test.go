package session_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testKey seals for every manager of the test binary, so that "replicas"
// open each other's records; child processes get it through the
// environment.
var testKey, testKeyring = func() (seal.Key, *seal.Keyring) {
	k, err := seal.GenerateKey("test")
	if err != nil {
		panic(err)
	}
	kr, err := seal.NewKeyring(k)
	if err != nil {
		panic(err)
	}
	return k, kr
}()

var alice = session.Identity{
	TenantKey: "contoso", TenantID: "11111111-1111-1111-1111-111111111111",
	HomeAccountID: "aaaa.11111111-1111-1111-1111-111111111111", ObjectID: "aaaa",
	Username: "alice@contoso.example", DisplayName: "Alice",
}

var bob = session.Identity{
	TenantKey: "contoso", TenantID: alice.TenantID,
	HomeAccountID: "bbbb." + alice.TenantID, ObjectID: "bbbb",
	Username: "bob@contoso.example", DisplayName: "Bob",
}

var carol = session.Identity{
	TenantKey: "fabrikam", TenantID: "22222222-2222-2222-2222-222222222222",
	HomeAccountID: "cccc.22222222-2222-2222-2222-222222222222", Username: "carol@fabrikam.example",
}

func openRedis(t testing.TB, o redisstore.Options) *redisstore.Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	s, err := redisstore.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openMem(t testing.TB, now func() time.Time) *memstore.Store {
	s := memstore.New(memstore.Options{Now: now, SweepInterval: -1})
	t.Cleanup(func() { s.Close() })
	return s
}

func newManager(t testing.TB, st session.Store, o session.Options) *session.Manager {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	m, err := session.New(st, testKeyring, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// clock is a settable clock shared by a manager and, for memstore, its store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// request is a GET carrying cookie (none if nil).
func request(cookie *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/p", nil)
	r.Header.Set("User-Agent", "session-test")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	return r
}

// signIn creates a session for id on m for a request carrying prev (may
// be nil) and returns the cookie set and the session.
func signIn(t testing.TB, m *session.Manager, id session.Identity, prev *http.Cookie) (*http.Cookie, *session.Session) {
	t.Helper()
	w := httptest.NewRecorder()
	s, err := m.Create(context.Background(), w, request(prev), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == m.CookieName() {
			return c, s
		}
	}
	t.Fatal("Create set no session cookie")
	return nil, nil
}

// serve sends one request through m's middleware and reports the status
// and the session the handler saw.
func serve(m *session.Manager, cookie *http.Cookie) (int, *session.Session, http.Header) {
	var seen *session.Session
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = session.FromContext(r.Context())
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request(cookie))
	return w.Code, seen, w.Header()
}

// commands is how many commands the servers ran, from INFO commandstats,
// except INFO itself (which this counts with) and PING (a client's
// keep-alive, not a request's cost).
func commands(t testing.TB, nodes ...*redistest.Node) (n int) {
	t.Helper()
	for _, node := range nodes {
		info, _ := node.Do(t, "INFO", "commandstats").(string)
		for line := range strings.Lines(info) {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
			if !ok || name == "cmdstat_info" || name == "cmdstat_ping" {
				continue
			}
			v, _, _ := strings.Cut(rest, ",")
			c, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("commandstats line %q: %v", line, err)
			}
			n += c
		}
	}
	return n
}

// calls is how many times the servers ran one command.
func calls(t testing.TB, cmd string, nodes ...*redistest.Node) (n int) {
	t.Helper()
	for _, node := range nodes {
		stat := node.Info(t, "commandstats", "cmdstat_"+cmd)
		v, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
		if c, err := strconv.Atoi(v); err == nil {
			n += c
		}
	}
	return n
}

func waitFor(t testing.TB, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// logBuffer is a logger that tests can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
